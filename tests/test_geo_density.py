"""Kernel density: mass, peak height against the Gaussian formula, bandwidth rule, real NYC points."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from observatory.geo.density import bandwidth_rule, density_cells, kernel_density
from tests.conftest import realdata

UTM14 = "EPSG:32614"  # Mexico City


@pytest.fixture(scope="module")
def blob() -> gpd.GeoDataFrame:
    """10,000 points, normal with sigma 500 m around a point of Mexico City, given in lon/lat."""
    rng = np.random.default_rng(42)
    xy = rng.normal(0, 500, size=(10_000, 2)) + np.array([486_000, 2_147_000])
    return gpd.GeoDataFrame(geometry=gpd.points_from_xy(xy[:, 0], xy[:, 1]), crs=UTM14).to_crs("EPSG:4326")


def test_density_integrates_to_points_and_peaks_as_theory(blob):
    h = 200.0
    result = kernel_density(blob, cell_size=25, bandwidth=h)
    assert result.crs.to_epsg() == 32614 and result.rule == "user"
    cell_km2 = (result.cell_size / 1000) ** 2
    assert result.density.sum() * cell_km2 == pytest.approx(10_000, rel=1e-3)
    # normal(sigma) smoothed by a Gaussian kernel h is normal(sqrt(sigma² + h²)): peak n / (2π(σ²+h²)) per m²
    peak = 10_000 / (2 * np.pi * (500**2 + h**2)) * 1e6
    assert result.density.max() == pytest.approx(peak, rel=0.05)
    # the peak is at the centre: transform maps (row, col) back to metres
    row, col = np.unravel_index(result.density.argmax(), result.shape)
    x0, cell, _, y_max, _, _ = result.transform
    centre = (x0 + (col + 0.5) * cell, y_max - (row + 0.5) * cell)
    assert np.hypot(centre[0] - 486_000, centre[1] - 2_147_000) < 100


def test_bandwidth_rule(blob):
    xy = np.column_stack([blob.to_crs(UTM14).geometry.x, blob.to_crs(UTM14).geometry.y])
    # Scott's rule in 2-D: sigma * n^(-1/6) = 500 * 10,000^(-1/6) ≈ 107.7 m
    assert bandwidth_rule(xy) == pytest.approx(500 * 10_000 ** (-1 / 6), rel=0.03)
    assert bandwidth_rule(xy, "silverman") == bandwidth_rule(xy)
    result = kernel_density(blob, cell_size=50)
    assert result.rule == "scott" and result.bandwidth == pytest.approx(bandwidth_rule(xy))
    with pytest.raises(ValueError, match="rule"):
        bandwidth_rule(xy, "terrell")


def test_density_cells_geodataframe(blob):
    result = kernel_density(blob, cell_size=100, bandwidth=200)
    cells = density_cells(result, min_density=0)
    assert cells.crs.to_epsg() == 4326
    assert len(cells) == result.density.size  # min_density=0 keeps every cell
    light = density_cells(result)
    assert light["density"].min() >= 0.05 * result.density.max()
    assert light["density"].max() == pytest.approx(result.density.max())
    # cell polygons are 100 m squares (checked back in metres)
    areas = light.to_crs(UTM14).area
    np.testing.assert_allclose(areas, 100 * 100, rtol=1e-3)


def test_bad_input():
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy([0.0], [0.0]), crs="EPSG:4326")
    with pytest.raises(ValueError, match="bandwidth"):
        kernel_density(pts)  # a single point: no rule applies
    with pytest.raises(ValueError, match="max_cells"):
        kernel_density(pts, bandwidth=100, cell_size=1, extent=(0, 0, 1e6, 1e6))


def test_nyc_vehicle_thefts_density():
    rows = pd.read_csv(realdata("us_code", "nyc_vehicle_thefts_2014_2017.csv"))
    pts = gpd.GeoDataFrame(geometry=gpd.points_from_xy(rows["longitude"], rows["latitude"]), crs="EPSG:4326")
    result = kernel_density(pts, cell_size=100, bandwidth=400)
    assert result.n_points == 35_746
    assert result.crs.to_epsg() == 32618  # UTM 18N for New York
    assert result.density.sum() * 0.01 == pytest.approx(35_746, rel=1e-3)
    # the densest cell holds many more thefts than the city average over the grid's data extent
    assert result.density.max() > 10 * result.density[result.density > 0].mean()
