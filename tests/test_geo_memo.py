"""Layer fingerprints and the per-process memo of weights and GeoJSON (observatory.geo.memo), and the
dashboard's use of them on Mexico City's 847 police quadrants (real data): the weights are libpysal's
queen neighbours of the published file, built once, and kept across incident imports."""

from __future__ import annotations

import threading
import time

import geopandas as gpd
import numpy as np
import pytest
from conftest import EXAMPLES, realdata
from shapely.geometry import box

from observatory.geo import memo as memo_module
from observatory.geo.memo import LayerMemo, layer_fingerprint


@pytest.fixture
def squares() -> gpd.GeoDataFrame:
    """A row of four unit squares with ids."""
    return gpd.GeoDataFrame({"id": [10, 11, 12, 13]}, geometry=[box(i, 0, i + 1, 1) for i in range(4)],
                            crs="EPSG:32614")


def test_fingerprint_is_stable_and_sees_every_change(squares):
    key = layer_fingerprint(squares, "id")
    assert key == layer_fingerprint(squares.copy(deep=True), "id")  # same content, another object
    assert len(key) == 40
    moved = squares.copy()
    moved.loc[2, "geometry"] = box(2, 0, 3, 1.000001)  # one vertex, a tenth of a millimetre
    changes = [
        moved,
        squares.assign(id=[10, 11, 12, 14]),  # an id
        squares.iloc[[1, 0, 2, 3]],  # the row order
        squares.set_crs("EPSG:32615", allow_override=True),  # the CRS
        squares.iloc[:3],  # a row less
    ]
    assert len({key, *(layer_fingerprint(frame, "id") for frame in changes)}) == 1 + len(changes)
    assert layer_fingerprint(squares) != key  # ids are part of the key only when named


def test_memo_builds_once_for_concurrent_callers():
    memo = LayerMemo()
    calls: list[int] = []
    start = threading.Barrier(6)

    def build() -> str:
        calls.append(1)
        time.sleep(0.2)  # long enough for every other thread to arrive while it runs
        return "weights"

    results: list[str] = []

    def ask() -> None:
        start.wait()
        results.append(memo.get("k", build))

    threads = [threading.Thread(target=ask) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["weights"] * 6 and len(calls) == 1 and memo.builds == 1


def test_failed_build_stores_nothing_and_size_is_bounded():
    memo = LayerMemo(maxsize=2)

    def fail() -> None:
        raise RuntimeError("no geometry")

    with pytest.raises(RuntimeError):
        memo.get("bad", fail)
    assert "bad" not in memo and memo.get("bad", lambda: 1) == 1  # the next caller builds it
    memo.get("a", lambda: 2)
    memo.get("bad", lambda: 99)  # touched: now the most recent
    memo.get("b", lambda: 3)
    assert "a" not in memo and "bad" in memo and len(memo) == 2


def test_fingerprint_is_hashed_once_per_frame_object(squares, monkeypatch):
    memo = LayerMemo()
    hashed: list[int] = []
    real = memo_module.layer_fingerprint
    monkeypatch.setattr(memo_module, "layer_fingerprint", lambda gdf, col=None: hashed.append(1) or real(gdf, col))
    first = memo.fingerprint(squares, "id")
    assert memo.fingerprint(squares, "id") == first and len(hashed) == 1
    assert memo.fingerprint(squares.copy(), "id") == first and len(hashed) == 2  # a new object is hashed


@pytest.mark.realdata
def test_dashboard_weights_match_libpysal_and_survive_incident_imports(sqlite_url, tmp_path):
    from libpysal.weights import Queen

    from observatory.db.session import get_engine
    from observatory.geo.memo import layer_memo
    from observatory.ingest.boundaries import import_boundaries
    from observatory.ingest.incidents import ingest_incidents
    from observatory.web import data

    quadrants = realdata("cdmx", "cuadrantes.geojson")
    engine = get_engine(sqlite_url)
    import_boundaries(quadrants, layer="cuadrantes", id_field="cuadrante", name_field="cuadrante",
                      district_field="alcaldia", engine=engine)
    data.configure(sqlite_url)
    layer_memo.clear()
    builds = layer_memo.builds
    try:
        data.warm_areas(background=False)  # what the app would run at start: weights and GeoJSON
        assert layer_memo.builds == builds + 2
        sw = data._weights()
        geojson, ref = data.areas_geojson(), data.areas_geojson_ref()
        assert layer_memo.builds == builds + 2  # served from the memo
        assert len(geojson["features"]) == 847

        # The same neighbours as libpysal's Queen on the published file (the database round trip and
        # the memo change nothing): compared as pairs of quadrant codes, as the row orders differ.
        published = gpd.read_file(quadrants)
        reference = Queen.from_dataframe(published, use_index=False)
        codes = published["cuadrante"].astype(str).to_numpy()
        expected = {(codes[i], codes[j]) for i, js in reference.neighbors.items() for j in js}
        ours = data.areas()["code"].astype(str).to_numpy()
        got = {(ours[i], ours[j]) for i, js in sw.w.neighbors.items() for j in js}
        assert got == expected and len(got) == 5144
        assert sw.islands == [] and sw.n == 847

        # An incident import changes the data version but not the polygons: nothing is rebuilt and the
        # browser keeps its cached GeoJSON (same URL).
        before = data.version()
        ingest_incidents(EXAMPLES / "generic_incidents.csv", source_kind="police", profile="generic_incidents",
                         engine=engine)
        assert data.version() != before
        assert data._weights() is sw and data.areas_geojson() is geojson and data.areas_geojson_ref() == ref
        assert layer_memo.builds == builds + 2

        # New boundaries (one quadrant fewer) do rebuild, under a new URL.
        smaller = tmp_path / "cuadrantes_846.geojson"
        published.iloc[1:].to_file(smaller, driver="GeoJSON")
        import_boundaries(smaller, layer="cuadrantes", id_field="cuadrante", name_field="cuadrante",
                          district_field="alcaldia", engine=engine)
        rebuilt = data._weights()
        assert rebuilt is not sw and rebuilt.n == 846 and data.areas_geojson_ref() != ref
        assert np.array_equal(np.sort(data.areas()["code"].astype(str)), np.sort(codes[1:]))
    finally:
        data.configure(None)
        layer_memo.clear()
