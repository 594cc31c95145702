"""Assignment of records to areas: points, borders, swapped coordinates, code/name/fuzzy fallbacks."""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from observatory.ingest.assign import LayerAreas, assign, code_keys
from observatory.text import fold

# A 2 x 2 grid of 0.1-degree squares near Mexico City; ids 1..4, codes zero-padded DANE-style.
X0, Y0, STEP = -99.2, 19.3, 0.1


def grid_layer(layer_id: int = 1, primary: bool = True, codes=None, names=None, id0: int = 1) -> LayerAreas:
    cells = [(i, j) for j in range(2) for i in range(2)]
    geoms = [box(X0 + i * STEP, Y0 + j * STEP, X0 + (i + 1) * STEP, Y0 + (j + 1) * STEP) for i, j in cells]
    codes = codes or ["05001", "05002", "05003", "05004"]
    names = names or ["Álvaro Obregón", "Cuauhtémoc", "Benito Juárez", "Centro"]
    areas = gpd.GeoDataFrame({"id": np.arange(id0, id0 + 4), "code": codes, "name": names,
                              "name_key": [fold(n) for n in names], "district": None},
                             geometry=geoms, crs="EPSG:4326")
    return LayerAreas(layer_id, f"layer{layer_id}", "neighbourhood", primary, areas)


def centre(k: int) -> tuple[float, float]:
    """lon, lat of the centre of grid cell k (0..3)."""
    i, j = k % 2, k // 2
    return X0 + (i + 0.5) * STEP, Y0 + (j + 0.5) * STEP


def frame(rows: list[dict]) -> pd.DataFrame:
    base = {"lon": np.nan, "lat": np.nan, "declared_area_code": None, "declared_area_name": None}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_points_land_in_their_cell_and_outside_is_flagged():
    layer = grid_layer()
    rows = [dict(zip(("lon", "lat"), centre(k), strict=True)) for k in range(4)]
    rows.append({"lon": -98.0, "lat": 19.35})  # east of the grid: outside
    result = assign(frame(rows), [layer])
    p = result.primary
    assert p["neighbourhood_id"].tolist()[:4] == [1, 2, 3, 4]
    assert p["assignment"].tolist()[:4] == ["point"] * 4
    assert pd.isna(p["neighbourhood_id"].iloc[4])
    assert p["assignment"].iloc[4] is None
    assert p["outside"].tolist() == [False] * 4 + [True]
    assert str(p["neighbourhood_id"].dtype) == "Int64"
    assert result.stats["outside"] == 1 and result.stats["point"] == 4


def test_border_and_corner_points_get_exactly_one_area():
    layer = grid_layer()
    mid_x, mid_y = X0 + STEP, Y0 + STEP
    rows = [
        {"lon": mid_x, "lat": Y0 + 0.05},  # edge shared by cells 1 and 2
        {"lon": mid_x, "lat": mid_y},  # corner shared by all four
        {"lon": X0, "lat": Y0 + 0.05},  # outer edge of cell 1 only
    ]
    p = assign(frame(rows), [layer]).primary
    assert p["neighbourhood_id"].tolist() == [1, 1, 1]  # smallest id wins, deterministically
    assert not p["outside"].any()
    # the same call twice gives the same answer, whatever the row order
    again = assign(frame(rows[::-1]), [layer]).primary
    assert again["neighbourhood_id"].tolist() == [1, 1, 1]


def test_swapped_coordinates_are_fixed_and_flagged():
    layer = grid_layer()
    lon, lat = centre(3)
    rows = [{"lon": lat, "lat": lon}, {"lon": lon, "lat": lat}, {"lon": 19.0, "lat": 40.0}]
    p = assign(frame(rows), [layer]).primary
    assert p["swapped"].tolist() == [True, False, False]
    assert p["neighbourhood_id"].tolist()[:2] == [4, 4]
    assert p.loc[0, "lon"] == pytest.approx(lon) and p.loc[0, "lat"] == pytest.approx(lat)
    assert p["outside"].tolist() == [False, False, True]  # nowhere either way: outside, not swapped


def test_missing_coordinates_fall_back_to_code_name_and_fuzzy_name():
    layer = grid_layer()
    rows = [
        {"declared_area_code": "5003"},  # DANE code without its leading zero
        {"declared_area_code": " 05002 "},
        {"declared_area_code": "5004.0"},  # read as a float by a spreadsheet
        {"declared_area_name": "ALVARO OBREGON"},  # accents and case ignored
        {"declared_area_name": "Benito Juarex"},  # typo: close match
        {"declared_area_name": "Nowhere Land"},
        {"lon": 0.0, "lat": 0.0, "declared_area_name": "centro"},  # null island is not a coordinate
        {"lon": "abc", "lat": None, "declared_area_code": "99999", "declared_area_name": "cuauhtemoc"},
    ]
    p = assign(frame(rows), [layer]).primary
    assert p["neighbourhood_id"].astype(object).where(p["neighbourhood_id"].notna(), None).tolist() == [
        3, 2, 4, 1, 3, None, 4, 2]
    assert p["assignment"].tolist() == ["code", "code", "code", "name", "fuzzy_name", None, "name", "name"]
    assert not p["outside"].any()
    assert p["declared_area_agrees"].isna().all()  # nothing to compare without a point


def test_fuzzy_match_refuses_ambiguous_names():
    names = ["San Rafael Norte", "San Rafael Sur", "Roma", "Roma Norte"]
    layer = grid_layer(names=names)
    rows = [{"declared_area_name": "San Rafael"}, {"declared_area_name": "Roma Nrte"}]
    p = assign(frame(rows), [layer]).primary
    assert pd.isna(p["neighbourhood_id"].iloc[0])  # two equally close candidates: left unassigned
    assert p["neighbourhood_id"].iloc[1] == 4
    assert p["assignment"].iloc[1] == "fuzzy_name"


def test_duplicate_names_are_not_matched_by_name():
    layer = grid_layer(names=["Centro", "Centro", "Roma", "Condesa"])
    p = assign(frame([{"declared_area_name": "centro"}, {"declared_area_name": "roma"}]), [layer]).primary
    assert pd.isna(p["neighbourhood_id"].iloc[0])
    assert p["neighbourhood_id"].iloc[1] == 3


def test_point_wins_over_declared_area_and_agreement_uses_any_layer():
    colonias = grid_layer(1, primary=True)
    # a secondary "quadrant" layer with other codes and ids: the records declare quadrants, not colonias
    quadrants = grid_layer(2, primary=False, codes=["C-1.1.1", "C-1.1.2", "C-1.1.3", "C-1.1.4"],
                           names=["Q1", "Q2", "Q3", "Q4"], id0=11)
    rows = [
        {**dict(zip(("lon", "lat"), centre(0), strict=True)), "declared_area_code": "C-1.1.1"},  # agrees
        {**dict(zip(("lon", "lat"), centre(1), strict=True)), "declared_area_code": "c-1.1.1"},  # disagrees
        {**dict(zip(("lon", "lat"), centre(2), strict=True)), "declared_area_code": "05003"},  # agrees (colonia)
        {**dict(zip(("lon", "lat"), centre(3), strict=True)), "declared_area_code": "(NO ESPECIFICADO)"},
        # outside every area: assigned BY its declared code, so not compared with it (issue 11, item 5)
        {"lon": -98.0, "lat": 19.35, "declared_area_code": "C-1.1.2"},
        {"declared_area_code": "C-1.1.4"},  # no point: quadrant by code, no colonia
    ]
    result = assign(frame(rows), [colonias, quadrants])
    p = result.primary
    agrees = p["declared_area_agrees"].astype(object).where(p["declared_area_agrees"].notna(), None).tolist()
    assert agrees == [True, False, True, None, None, None]
    assert p["neighbourhood_id"].astype(object).where(p["neighbourhood_id"].notna(), None).tolist() == [
        1, 2, 3, 4, None, None]
    assert p["assignment"].tolist()[:4] == ["point"] * 4
    q = result.secondary[2]
    assert str(q.dtype) == "Int64"
    assert q.tolist() == [11, 12, 13, 14, 12, 14]
    assert result.disagreement_rate == pytest.approx(1 / 3)
    # rows declaring an area that could not be compared: "(NO ESPECIFICADO)" names none, the outside point,
    # the row without a point
    assert result.stats["declared_uncompared"] == 3
    assert result.unmatched["code"] == {"(NO ESPECIFICADO)": 1}


def test_missing_columns_and_empty_frames():
    layer = grid_layer()
    p = assign(pd.DataFrame({"lon": [centre(0)[0]], "lat": [centre(0)[1]]}), [layer]).primary
    assert p["neighbourhood_id"].tolist() == [1]
    empty = assign(frame([]), [layer])
    assert len(empty.primary) == 0 and empty.disagreement_rate is None
    no_layers = assign(frame([{"lon": 1.0, "lat": 2.0}]), [])
    assert pd.isna(no_layers.primary["neighbourhood_id"].iloc[0])


def test_index_is_preserved():
    layer = grid_layer()
    f = frame([dict(zip(("lon", "lat"), centre(k), strict=True)) for k in range(4)])
    f.index = [10, 20, 30, 40]
    result = assign(f, [layer])
    assert result.primary.index.tolist() == [10, 20, 30, 40]
    assert result.primary.loc[30, "neighbourhood_id"] == 3


def test_code_keys():
    assert code_keys(" 05001 ") == ("05001", "5001")
    assert code_keys("5001.0") == ("5001", "5001")
    assert code_keys("C-1.1.1") == ("c-1.1.1", None)
    assert code_keys("E05001643") == ("e05001643", None)


def test_assignment_is_vectorised():
    # 40 x 40 = 1,600 cells and 400,000 points: per-row Python would take far longer than this bound
    n = 40
    geoms = [box(i, j, i + 1, j + 1) for j in range(n) for i in range(n)]
    areas = gpd.GeoDataFrame({"id": np.arange(1, n * n + 1), "code": [str(k) for k in range(n * n)],
                              "name": [f"a{k}" for k in range(n * n)], "name_key": [f"a{k}" for k in range(n * n)],
                              "district": None}, geometry=geoms, crs="EPSG:4326")
    rng = np.random.default_rng(7)
    x, y = rng.uniform(0.001, n - 0.001, 400_000), rng.uniform(0.001, n - 0.001, 400_000)
    f = pd.DataFrame({"lon": x, "lat": y, "declared_area_code": None, "declared_area_name": None})
    start = time.perf_counter()
    p = assign(f, [LayerAreas(1, "g", "neighbourhood", True, areas)]).primary
    elapsed = time.perf_counter() - start
    expected = np.floor(y).astype(int) * n + np.floor(x).astype(int) + 1
    assert (p["neighbourhood_id"].to_numpy(dtype="int64") == expected).all()
    assert elapsed < 20
