"""Grid hot spots: cells, counts, planted cluster, hexagons, real NYC thefts."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from observatory.geo.grid import grid_counts, grid_hotspots, make_grid
from tests.conftest import realdata

UTM14 = "EPSG:32614"
ORIGIN = np.array([480_000.0, 2_140_000.0])


@pytest.fixture(scope="module")
def planted() -> gpd.GeoDataFrame:
    """3,000 uniform points over 10 x 10 km plus 400 in a 600 m cluster at (7.5 km, 7.5 km), lon/lat."""
    rng = np.random.default_rng(7)
    background = rng.uniform(0, 10_000, size=(3_000, 2))
    cluster = rng.normal(7_500, 150, size=(400, 2))
    xy = np.vstack([background, cluster]) + ORIGIN
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM14).to_crs("EPSG:4326")


@pytest.fixture(scope="module")
def study_area() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(geometry=[box(*ORIGIN, *(ORIGIN + 10_000))], crs=UTM14)


def test_square_grid_counts_equal_a_histogram(planted, study_area):
    grid = grid_counts(planted, 500, area=study_area)
    assert grid.crs.to_epsg() == 32614
    assert len(grid) >= 400  # 20 x 20 cells (plus edge cells touching the square)
    assert grid["count"].sum() + grid.attrs["points_outside"] == len(planted)
    # each cell's count equals a direct histogram over the same edges
    pts = planted.to_crs(UTM14)
    x0, y0, _, _ = grid.total_bounds
    cx = np.floor((pts.geometry.x - x0) / 500).astype(int)
    cy = np.floor((pts.geometry.y - y0) / 500).astype(int)
    direct = pd.Series(1, index=pd.MultiIndex.from_arrays([cx, cy])).groupby(level=[0, 1]).sum()
    centres = grid.geometry.centroid
    keys = list(zip(((centres.x - x0) // 500).astype(int), ((centres.y - y0) // 500).astype(int), strict=True))
    expected = [int(direct.get(key, 0)) for key in keys]
    assert list(grid["count"]) == expected
    # cells are 500 m squares
    np.testing.assert_allclose(grid.area, 250_000, rtol=1e-9)


@pytest.mark.parametrize("shape", ["square", "hex"])
def test_planted_cluster_is_hot(planted, study_area, shape):
    result = grid_hotspots(planted, cell_size=500, shape=shape, area=study_area)
    assert result.crs.to_epsg() == 4326
    metric = result.to_crs(UTM14)
    centre = gpd.points_from_xy([ORIGIN[0] + 7_500], [ORIGIN[1] + 7_500], crs=UTM14)[0]
    at_cluster = metric.geometry.contains(centre)
    assert (result.loc[at_cluster, "hotspot_class"] == "hot 99%").all() and at_cluster.any()
    far = metric.geometry.distance(centre) > 3_000
    hot_far = result.loc[far, "hotspot_class"] == "hot 99%"
    assert hot_far.mean() < 0.02  # background cells are (almost) never 99% hot
    assert result["count"].sum() == 3_400 - result.attrs["points_outside"]


def test_hex_cells_and_neighbours():
    grid = make_grid(gpd.GeoDataFrame(geometry=[box(0, 0, 5_000, 5_000)], crs=UTM14), 1_000, shape="hex")
    # a hexagon with 1 km between centres has area (√3/2)·1 km²
    np.testing.assert_allclose(grid.area, np.sqrt(3) / 2 * 1e6, rtol=1e-9)
    with pytest.raises(ValueError, match="shape"):
        make_grid(grid, 100, shape="triangle")


def test_nyc_grid_hotspots():
    rows = pd.read_csv(realdata("us_code", "nyc_vehicle_thefts_2014_2017.csv"))
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(rows["longitude"], rows["latitude"]), crs="EPSG:4326")
    result = grid_hotspots(pts, cell_size=500)
    assert result["count"].sum() == 35_746 and result.attrs["points_outside"] == 0
    hot = result["hotspot_class"] == "hot 99%"
    not_hot = ~result["hotspot_class"].astype(str).str.startswith("hot")
    assert hot.sum() > 100
    assert result.loc[hot, "count"].mean() > 3 * result.loc[not_hot, "count"].mean()
