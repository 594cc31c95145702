"""Server-side KDE layers: values against a hand Gaussian kernel sum, raster corners, contour bands."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from pyproj import Transformer
from shapely.geometry import Point

from observatory.geo.density import density_contours, density_raster, kernel_density
from tests.conftest import realdata

UTM14 = "EPSG:32614"
X0, Y0, CELL, H = 486_000.0, 2_147_000.0, 20.0, 150.0


def centre(col: int, row_from_south: int) -> tuple[float, float]:
    return X0 + (col + 0.5) * CELL, Y0 + (row_from_south + 0.5) * CELL


@pytest.fixture(scope="module")
def few_points():
    # points on cell centres, so the binned KDE is the exact kernel sum (up to the 4 h truncation)
    cells = [(30, 30), (34, 31), (38, 36), (31, 45), (60, 50), (60, 50)]
    xy = np.array([centre(c, r) for c, r in cells])
    pts = gpd.GeoSeries([Point(p) for p in xy], crs=UTM14).to_crs("EPSG:4326")
    extent = (X0, Y0, X0 + 100 * CELL, Y0 + 80 * CELL)
    return xy, kernel_density(pts, cell_size=CELL, bandwidth=H, extent=extent)


def hand_kde(x: float, y: float, xy: np.ndarray, h: float) -> float:
    """Gaussian kernel sum in incidents per km²: sum_i exp(-d_i² / 2h²) / (2 pi h²) x 10^6 m² / km²."""
    d2 = (xy[:, 0] - x) ** 2 + (xy[:, 1] - y) ** 2
    return float(np.sum(np.exp(-d2 / (2 * h * h)) / (2 * np.pi * h * h)) * 1e6)


def test_kde_equals_the_gaussian_kernel_sum_at_cells(few_points):
    xy, result = few_points
    # reprojection to lon/lat and back moves the points by micrometres only
    assert result.shape == (80, 100)
    peak = result.density.max()
    for col, row_south in [(30, 30), (33, 32), (45, 40), (60, 50), (62, 47), (5, 5)]:
        row = result.shape[0] - 1 - row_south  # row 0 is the northern edge
        expected = hand_kde(*centre(col, row_south), xy, H)
        # the sampled, truncated kernel differs from the continuous one only far out in the tails
        assert result.density[row, col] == pytest.approx(expected, rel=1e-4, abs=1e-6 * peak)
    assert result.bandwidth == H and result.rule == "user"


def test_raster_corners_in_lon_lat(few_points):
    _, result = few_points
    layer = density_raster(result)
    assert layer["unit"] == "incidents per km²" and layer["bandwidth_m"] == H and layer["cell_size_m"] == CELL
    back = Transformer.from_crs("EPSG:4326", UTM14, always_xy=True)
    corners = np.array([back.transform(lon, lat) for lon, lat in layer["corners"]])
    expected = [(X0, Y0 + 80 * CELL), (X0 + 100 * CELL, Y0 + 80 * CELL), (X0 + 100 * CELL, Y0), (X0, Y0)]
    np.testing.assert_allclose(corners, expected, atol=1e-3)
    west, south, east, north = layer["bounds"]
    assert -99.2 < west < east < -99.0 and 19.3 < south < north < 19.5
    assert layer["max"] == pytest.approx(result.density.max())


def test_contours_hold_the_stated_share_of_incidents(few_points):
    _, result = few_points
    bands = density_contours(result, to_crs=None)
    assert bands["share"].tolist() == [0.25, 0.5, 0.75, 0.9]
    cell_km2 = (CELL / 1000) ** 2
    total = result.density.sum() * cell_km2
    d = result.density.ravel()
    order = np.sort(d)[::-1]
    for _, band in bands.iterrows():
        # by hand: the densest cells down to this band's threshold hold at least its share, one cell less not
        inside = d >= band["density_low"]
        assert d[inside].sum() * cell_km2 / total >= band["share"] - 1e-12
        k = int(inside.sum())
        assert order[: k - 1].sum() * cell_km2 / total < band["share"]
        # the polygon's area is its cells' area (bands do not overlap)
        top = d <= band["density_high"] if band["share"] == 0.25 else d < band["density_high"]
        in_band = (d >= band["density_low"]) & top
        assert band.geometry.area == pytest.approx(in_band.sum() * CELL * CELL, rel=1e-9)
    assert bands["density_high"].iloc[0] == pytest.approx(result.density.max())
    assert (bands["density_low"].diff().dropna() < 0).all()
    assert bands.geometry.union_all().area == pytest.approx(
        (d >= bands["density_low"].iloc[-1]).sum() * CELL * CELL, rel=1e-9)
    geo = density_contours(result)
    assert geo.crs.to_epsg() == 4326 and geo.is_valid.all()
    assert geo.attrs["bandwidth_m"] == H and geo.attrs["unit"] == "incidents per km²"
    with pytest.raises(ValueError, match="shares"):
        density_contours(result, shares=(0, 0.5))


def test_cdmx_incidents_are_not_one_saturated_blob():
    rows = pd.read_csv(realdata("cdmx", "ssp_cdmx_crime_lat_long_2013_2016.csv"), usecols=["lat", "long"])
    rows = rows.apply(pd.to_numeric, errors="coerce").dropna()
    pts = gpd.GeoSeries(gpd.points_from_xy(rows["long"], rows["lat"]), crs="EPSG:4326")
    result = kernel_density(pts, cell_size=250, bandwidth=400)
    bands = density_contours(result, to_crs=None)
    city_km2 = (result.density > 0.01 * result.density.max()).sum() * 0.0625
    # measured: a quarter of the incidents lie in 72 km² and half in 182 km² of the 813 km² with incidents
    assert bands.geometry.iloc[0].area / 1e6 < 0.10 * city_km2
    assert bands.geometry.iloc[:2].union_all().area / 1e6 < 0.25 * city_km2
    assert bands["density_low"].iloc[0] > 3 * bands["density_low"].iloc[-1]
