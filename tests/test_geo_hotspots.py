"""Getis-Ord Gi*: textbook formula, esda golden numbers, permutations, FDR bins, real Chicago data."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from libpysal import examples
from shapely.geometry import Point

from observatory.geo.hotspots import HOTSPOT_CLASSES, confidence_classes, gi_star
from observatory.geo.weights import build_weights
from tests.conftest import realdata


@pytest.fixture(scope="module")
def columbus() -> gpd.GeoDataFrame:
    return gpd.read_file(examples.get_path("columbus.shp"))


def textbook_gi_star(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """G*_i = (sum_j w_ij x_j - X̄ sum_j w_ij) / (S sqrt((n sum_j w_ij² - (sum_j w_ij)²) / (n - 1)))."""
    n = len(x)
    xbar = x.mean()
    s = np.sqrt((x**2).sum() / n - xbar**2)
    wsum = w.sum(axis=1)
    num = w @ x - xbar * wsum
    den = s * np.sqrt((n * (w**2).sum(axis=1) - wsum**2) / (n - 1))
    return num / den


def test_gi_star_equals_textbook_formula_on_columbus(columbus):
    result = gi_star(columbus, "CRIME", alpha=0.10)  # queen, binary, self included, analytic; Esri's 3 bins
    sw = build_weights(columbus, "queen", transform="B")
    dense, _ = sw.w.full()
    w = dense + np.eye(len(columbus))  # Gi*: the area itself with weight 1
    expected = textbook_gi_star(columbus["CRIME"].to_numpy(float), w)
    np.testing.assert_allclose(result["gi_z"].to_numpy(), expected, atol=1e-6)
    # two-sided analytic p and Esri bins follow from z
    from scipy.stats import norm

    np.testing.assert_allclose(result["gi_p"], 2 * norm.sf(np.abs(expected)), atol=1e-9)
    z = expected
    assert (result.loc[z > 2.5758, "hotspot_class"] == "hot 99%").all()
    assert (result.loc[(z > 1.96) & (z < 2.5758), "hotspot_class"] == "hot 95%").all()
    assert (result.loc[(z < -1.6449) & (z > -1.96), "hotspot_class"] == "cold 90%").all()
    assert (result.loc[np.abs(z) < 1.6449, "hotspot_class"] == "not significant").all()
    assert set(result["hotspot_class"].cat.categories) == set(HOTSPOT_CLASSES)
    assert result.index.equals(columbus.index)


def test_gi_star_matches_esda_golden_numbers():
    pts = [(10, 10), (20, 10), (40, 10), (15, 20), (30, 20), (30, 30)]
    gdf = gpd.GeoDataFrame({"y": [2, 3, 3.2, 5, 8, 7]}, geometry=[Point(p) for p in pts])
    star = gi_star(gdf, "y", weights="distance", distance=15)
    np.testing.assert_allclose(
        star["gi_z"], [-1.39727626, -0.28917762, 0.65064964, -0.28917762, 1.23452088, 2.02424331], atol=1e-7
    )
    plain = gi_star(gdf, "y", weights="distance", distance=15, star=False)
    assert plain["gi_z"].iloc[0] == pytest.approx(-1.0136729, abs=1e-7)


def test_permutations_reproducible_with_seed(columbus):
    a = gi_star(columbus, "CRIME", permutations=199, seed=7)
    b = gi_star(columbus, "CRIME", permutations=199, seed=7)
    c = gi_star(columbus, "CRIME", permutations=199, seed=8)
    pd.testing.assert_frame_equal(a, b)
    assert not np.array_equal(a["gi_p"], c["gi_p"])
    # permutation p-values are two-sided: doubled folded pseudo p, at least 2/(perm+1)
    assert a["gi_p"].min() >= 2 / 200 - 1e-6
    assert a["gi_p"].max() <= 1
    # analytic and permutation inference agree on the strongest hot spots
    analytic = gi_star(columbus, "CRIME")
    strong = analytic["gi_z"] > 3
    assert strong.any()
    assert a.loc[strong, "hotspot_class"].astype(str).str.startswith("hot").all()


def test_fdr_only_moves_areas_to_weaker_bins(columbus):
    plain = gi_star(columbus, "CRIME")
    corrected = gi_star(columbus, "CRIME", fdr=True)
    pd.testing.assert_series_equal(plain["gi_z"], corrected["gi_z"])
    rank = {c: abs(3 - i) for i, c in enumerate(HOTSPOT_CLASSES)}  # 3 = 99%, 0 = not significant
    before = plain["hotspot_class"].astype(str).map(rank)
    after = corrected["hotspot_class"].astype(str).map(rank)
    assert (after <= before).all()
    assert (after < before).any()
    # direction never flips
    moved = corrected["hotspot_class"] != "not significant"
    assert (np.sign(corrected.loc[moved, "gi_z"]) == np.sign(plain.loc[moved, "gi_z"])).all()


def test_confidence_classes_bins_and_missing():
    z = np.array([3.0, 2.0, 1.7, 0.5, -1.7, -2.0, -3.0, np.nan])
    from scipy.stats import norm

    p = 2 * norm.sf(np.abs(z))
    assert list(confidence_classes(z, p)) == [*HOTSPOT_CLASSES, "not significant"]


def test_gi_star_rejects_missing_values(columbus):
    bad = columbus.copy()
    bad.loc[3, "CRIME"] = np.nan
    with pytest.raises(ValueError, match="CRIME"):
        gi_star(bad, "CRIME")
    with pytest.raises(KeyError, match="NOPE"):
        gi_star(columbus, "NOPE")


def test_constant_variable_is_not_significant(columbus):
    flat = columbus.assign(zero=0)
    result = gi_star(flat, "zero")
    assert (result["hotspot_class"] == "not significant").all()


def chicago_homicide_areas() -> gpd.GeoDataFrame:
    """Chicago's 77 community areas (EPSG:3435) with their 2015 homicide counts, indexed by upper-case name."""
    path = realdata("us_code", "homicides_9_cities_2015.csv")
    areas = gpd.read_file(examples.get_path("Chicago77.shp")).set_crs("EPSG:3435")
    rows = pd.read_csv(path)
    rows = rows[rows["city_name"] == "Chicago"]
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(rows["longitude"], rows["latitude"]), crs="EPSG:4326")
    joined = gpd.sjoin(points.to_crs(areas.crs), areas[["geometry"]], predicate="within")
    areas["homicides"] = joined.groupby("index_right").size().reindex(areas.index, fill_value=0)
    areas["name"] = areas["COMMUNITY"].str.upper().str.strip()
    return areas.set_index("name")


@pytest.fixture(scope="module")
def chicago_homicides() -> gpd.GeoDataFrame:
    return chicago_homicide_areas()


def test_chicago_west_and_south_side_are_hot(chicago_homicides):
    areas = chicago_homicides
    assert areas["homicides"].sum() == 499
    assert areas.loc["AUSTIN", "homicides"] == 50
    result = gi_star(areas, "homicides")
    for name in ("AUSTIN", "ENGLEWOOD", "WEST ENGLEWOOD", "NORTH LAWNDALE"):
        assert str(result.loc[name, "hotspot_class"]).startswith("hot"), (name, result.loc[name].to_dict())
    # the lakefront North Side is not hot
    for name in ("LINCOLN PARK", "LAKE VIEW"):
        assert not str(result.loc[name, "hotspot_class"]).startswith("hot")
    # knn and distance-band weights in metres work on a CRS in US feet
    knn = gi_star(areas, "homicides", weights="knn", k=6)
    assert str(knn.loc["AUSTIN", "hotspot_class"]).startswith("hot")
    band = gi_star(areas, "homicides", weights="distance", distance=5000)
    assert band["gi_z"].notna().all()


@pytest.mark.parametrize("star", [True, False])
def test_prebuilt_binary_weights_give_esdas_statistic_and_the_textbook_z(columbus, star):
    """Prebuilt binary weights with analytic p-values (the dashboard's case) are computed from
    weights terms kept per weights object: the same G as esda's own G_Local, the same z, p and
    classes as the kind-name path, on a first and a repeated call."""
    from esda.getisord import G_Local

    sw = build_weights(columbus, "queen", transform="B")
    y = columbus["CRIME"].to_numpy(float)
    reference = gi_star(columbus, "CRIME", star=star)  # weights built inside: esda's own path
    for _ in range(2):
        got = gi_star(columbus, "CRIME", weights=sw, star=star)
        pd.testing.assert_frame_equal(got, reference, check_exact=False, rtol=1e-12, atol=1e-12)
    dense, _ = sw.w.full()
    w = dense + (np.eye(len(y)) if star else 0)
    expected_g = (w @ y) / (y.sum() - (0 if star else y))
    np.testing.assert_allclose(got["gi"], expected_g, rtol=1e-12)
    esda_g = G_Local(y, sw.w, transform="B", permutations=0, star=star).Gs
    np.testing.assert_allclose(got["gi"], esda_g, rtol=1e-12)
    if star:
        np.testing.assert_allclose(got["gi_z"], textbook_gi_star(y, w), atol=1e-9)
