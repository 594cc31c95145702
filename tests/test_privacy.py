"""Geomasking and CSV formula neutralisation (observatory.privacy)."""

from __future__ import annotations

import csv
import io

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Geod

from observatory import privacy

GEOD = Geod(ellps="WGS84")
# Mexico City, Bogotá, Quito, Santiago: the observatory's cities span both hemispheres.
CITIES = [(-99.13, 19.43), (-74.08, 4.61), (-78.47, -0.18), (-70.65, -33.45)]


@pytest.mark.parametrize(("lon", "lat"), CITIES)
def test_displacement_stays_in_the_ring(lon, lat):
    n = 4000
    lons, lats = np.full(n, lon), np.full(n, lat)
    mlon, mlat = privacy.geomask(lons, lats, 250, min_radius_m=50, seed=7)
    # Measured on the ellipsoid, independently of the module's own approximation.
    _, _, dist = GEOD.inv(lons, lats, mlon, mlat)
    assert dist.min() >= 50 * 0.995 and dist.max() <= 250 * 1.005
    # Uniform over the ring's area: the share within r is (r² - 50²) / (250² - 50²).
    inner = (dist < 150).mean()
    assert abs(inner - (150**2 - 50**2) / (250**2 - 50**2)) < 0.03
    # No preferred direction: the mean offset is near zero.
    assert abs(np.mean(mlon - lon)) * 111_000 * np.cos(np.radians(lat)) < 10
    assert abs(np.mean(mlat - lat)) * 111_000 < 10


def test_seed_reproducible_and_points_independent():
    lon, lat = np.array([-99.1, -99.2, -99.3]), np.array([19.4, 19.4, 19.4])
    a = privacy.geomask(lon, lat, 300, seed=1)
    b = privacy.geomask(lon, lat, 300, seed=1)
    c = privacy.geomask(lon, lat, 300, seed=2)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.allclose(a[0], c[0])
    offsets = a[0] - lon
    assert len(set(np.round(offsets, 9))) == 3  # each point its own offset


def test_missing_coordinates_stay_missing_and_frame_helper():
    frame = pd.DataFrame({"id": [1, 2], "lon": [-99.1, np.nan], "lat": [19.4, np.nan], "cat": ["robbery", "theft"]})
    out = privacy.geomask_frame(frame, 200, seed=3)
    assert np.isnan(out.loc[1, "lon"]) and np.isnan(out.loc[1, "lat"])
    assert out.loc[0, "lon"] != frame.loc[0, "lon"]
    assert frame.loc[0, "lon"] == -99.1  # input untouched
    assert list(out["cat"]) == ["robbery", "theft"]
    assert privacy.geomask_frame(frame.iloc[:0], 200).empty


@pytest.mark.parametrize(("radius", "minimum"), [(0, 0), (-5, 0), (100, 150), (100, -1)])
def test_bad_radius(radius, minimum):
    with pytest.raises(ValueError, match="geomask"):
        privacy.geomask([0.0], [0.0], radius, min_radius_m=minimum)


def test_displacement_helper_matches_geod():
    lon, lat = np.array([-74.08]), np.array([4.61])
    mlon, mlat = privacy.geomask(lon, lat, 1000, min_radius_m=999, seed=4)
    approx = privacy.displacement_m(lon, lat, mlon, mlat)
    _, _, exact = GEOD.inv(lon, lat, mlon, mlat)
    assert abs(approx[0] - exact[0]) < 1.0


@pytest.mark.parametrize("value", ['=HYPERLINK("http://evil","x")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1)",
                                   "\t=1", "\r=1", "  =1+1", "＝1+1", "-cmd"])
def test_formulas_are_neutralised(value):
    safe = privacy.neutralise_csv_value(value)
    assert safe == "'" + value


@pytest.mark.parametrize("value", ["-3", "+2.5", "-1e3", "robo a transeúnte", "", 42, -3, None, 1.5])
def test_plain_values_are_kept(value):
    assert privacy.neutralise_csv_value(value) == value


@settings(max_examples=200, derandomize=True, database=None)
@given(st.text())
def test_no_text_reaches_a_spreadsheet_as_formula(value):
    safe = privacy.neutralise_csv_value(value)
    head = str(safe).lstrip(" ")
    is_number = privacy._NUMBER_RE.match(head.strip()) is not None
    assert is_number or not head.startswith(privacy.FORMULA_PREFIXES)
    assert str(safe).endswith(value)  # nothing lost


def test_neutralise_frame_roundtrip_through_csv():
    frame = pd.DataFrame({"=evil": ["=1+1", "ok"], "count": [-3, 4], "note": pd.array(["@x", None], dtype="str")})
    text = privacy.neutralise_frame(frame).to_csv(index=False)
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["'=evil", "count", "note"]
    assert rows[1] == ["'=1+1", "-3", "'@x"]
    assert rows[2] == ["ok", "4", ""]
