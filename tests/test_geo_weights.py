"""Automatic metric CRS and spatial weights (queen, rook, knn, distance band, islands)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from libpysal import examples
from shapely.geometry import Point, box

from observatory.geo.projection import metric_crs, to_metric
from observatory.geo.weights import build_weights, neighbour_counts, neighbour_dict


@pytest.fixture(scope="module")
def blocks() -> gpd.GeoDataFrame:
    """A 3x3 block of 1 km squares near Mexico City's Zócalo, plus one detached square 5 km away."""
    squares = [box(x, y, x + 1000, y + 1000) for y in (0, 1000, 2000) for x in (0, 1000, 2000)]
    squares.append(box(8000, 0, 9000, 1000))
    planar = gpd.GeoDataFrame({"v": np.arange(10)}, geometry=squares, crs="EPSG:32614")
    planar = planar.set_geometry(planar.translate(486_000, 2_147_000))
    return planar.to_crs("EPSG:4326").set_index(np.array([f"A{i}" for i in range(10)]))


def test_metric_crs_choices(blocks):
    assert metric_crs(blocks).to_epsg() == 32614  # lon/lat in CDMX -> UTM 14N
    chicago = gpd.read_file(examples.get_path("Chicago77.shp")).set_crs("EPSG:3435")
    utm = metric_crs(chicago)
    assert utm.to_epsg() == 32616  # US feet -> UTM 16N metres
    projected = blocks.to_crs("EPSG:32614")
    assert metric_crs(projected) == projected.crs  # already metric: kept
    assert metric_crs(gpd.GeoDataFrame(geometry=[Point(0, 0)])) is None  # no CRS: planar as is
    # a metre is a metre: the blocks are 1 km wide again after the round trip
    widths = to_metric(blocks).geometry.bounds.eval("maxx - minx")
    np.testing.assert_allclose(widths, 1000, rtol=1e-3)


def test_queen_rook_and_islands(blocks):
    queen = build_weights(blocks, "queen")
    rook = build_weights(blocks, "rook")
    # centre square: 8 queen neighbours, 4 rook neighbours; corner: 3 and 2
    assert queen.w.cardinalities[4] == 8 and rook.w.cardinalities[4] == 4
    assert queen.w.cardinalities[0] == 3 and rook.w.cardinalities[0] == 2
    # the detached square is an island: reported by label and attached to its nearest area (A5 or A2)
    assert queen.islands == ["A9"] and rook.islands == ["A9"]
    assert set(queen.w.neighbors[9]) <= {2, 5, 8} and len(queen.w.neighbors[9]) == 1
    assert (neighbour_counts(queen) > 0).all()
    unattached = build_weights(blocks, "queen", attach=False)
    assert unattached.w.cardinalities[9] == 0 and unattached.islands == ["A9"]


def test_knn_distance_band_in_metres_and_transform(blocks):
    knn = build_weights(blocks, "knn", k=2)
    assert set(neighbour_counts(knn)) == {2}
    band = build_weights(blocks, "distance", distance=1100)  # rook-like: centroids 1 km apart
    assert band.w.cardinalities[4] == 4
    assert band.islands == ["A9"]  # 6 km from the others
    diag = build_weights(blocks, "distance", distance=1500)  # diagonals are 1414 m apart
    assert diag.w.cardinalities[4] == 8
    r = build_weights(blocks, "queen", transform="R")
    dense, _ = r.w.full()
    np.testing.assert_allclose(dense.sum(axis=1), 1.0)
    b = build_weights(blocks, "queen", transform="B")
    assert set(np.unique(b.w.full()[0])) == {0.0, 1.0}


def test_bad_options_are_named(blocks):
    with pytest.raises(ValueError, match="kind"):
        build_weights(blocks, "bishop")
    with pytest.raises(ValueError, match="distance"):
        build_weights(blocks, "distance")
    with pytest.raises(ValueError, match="transform"):
        build_weights(blocks, "queen", transform="V")
    with pytest.raises(ValueError, match="k must"):
        build_weights(blocks, "knn", k=10)


def test_prebuilt_weights_are_not_mutated(blocks):
    from observatory.geo.hotspots import gi_star
    from observatory.geo.moran import local_moran

    shared = build_weights(blocks, "queen", transform="B")
    before = {k: list(v) for k, v in shared.w.weights.items()}
    local_moran(blocks, "v", weights=shared, permutations=9, seed=1)  # row-standardises its copy
    assert shared.w.transform == "B"
    assert {k: list(v) for k, v in shared.w.weights.items()} == before
    a = gi_star(blocks, "v", weights=shared)
    b = gi_star(blocks, "v")
    np.testing.assert_allclose(a["gi_z"], b["gi_z"])


def test_neighbour_dict_by_code():
    # three squares in a row, and one far away (an island, attached to its nearest)
    gdf = gpd.GeoDataFrame({"code": ["A", "B", "C", "Z"]},
                           geometry=[box(0, 0, 1, 1), box(1, 0, 2, 1), box(2, 0, 3, 1), box(10, 0, 11, 1)])
    sw = build_weights(gdf, "rook")
    by_code = neighbour_dict(sw, gdf["code"])
    assert {k: sorted(v) for k, v in by_code.items()} == {"A": ["B"], "B": ["A", "C"], "C": ["B", "Z"], "Z": ["C"]}
    assert set(neighbour_dict(sw)) == {"0", "1", "2", "3"}
