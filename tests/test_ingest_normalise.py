"""Value parsing (pure): dates, times, numbers, coordinates, sex, age; profile column mapping."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from observatory.ingest import normalise as nz
from observatory.ingest.incidents import content_hashes, map_columns, prepare, record_keys
from observatory.ingest.profiles import load_profile, parse_profile
from observatory.ingest.report import ImportFailed


def s(*values) -> pd.Series:
    return pd.Series(list(values), dtype=object)


def test_clean_turns_markers_into_missing():
    cleaned = nz.clean(s(" a ", "NA", "(NO ESPECIFICADO)", "", None, "x\r", "S/D"), na_values=("S/D",))
    assert cleaned.tolist() == ["a", None, None, None, None, "x", None]


def test_parse_dates_iso_dmy_times_and_bad_values():
    values = s("2024-03-01", "01/03/2024", "2015-01-03 05:50:00", "31/01/2016 22:16", "2024-13-45", "1850-01-01",
               None, "ayer", "2022-01", "04/01/2019 12:00:00 AM")
    parsed, has_time, bad = nz.parse_dates(values)
    assert parsed[0] == parsed[1] == pd.Timestamp("2024-03-01")
    assert parsed[2] == pd.Timestamp("2015-01-03 05:50") and parsed[3] == pd.Timestamp("2016-01-31 22:16")
    assert bad.tolist() == [False, False, False, False, True, True, False, True, False, False]
    assert has_time.tolist()[:4] == [False, False, True, True]
    assert parsed[8] == pd.Timestamp("2022-01-01") and parsed[9] == pd.Timestamp("2019-01-04")
    assert pd.isna(parsed[6]) and not bad[6]


def test_parse_dates_profile_format_wins_for_month_first_files():
    parsed, _, bad = nz.parse_dates(s("03/31/2024"), ("%m/%d/%Y",))
    assert parsed[0] == pd.Timestamp("2024-03-31") and not bad[0]


def test_parse_times():
    seconds, bad = nz.parse_times(s("10:07", "23:59:59", "7", "24:00", "21510", None, "10:61"))
    assert seconds[:3].tolist() == [36420.0, 86399.0, 25200.0]
    assert bad.tolist() == [False, False, False, True, True, False, True]


def test_parse_numbers_decimal_comma():
    values, bad = nz.parse_numbers(s("-75,581775", "19.43", "abc", "", None, "inf", "1e3"))
    assert values[0] == pytest.approx(-75.581775) and values[1] == pytest.approx(19.43) and values[6] == 1000
    assert bad.tolist() == [False, False, True, True, False, True, False]
    values, bad = nz.parse_numbers(s("1.234,5", "19,4330"), decimal_comma=True)
    assert values.tolist() == [1234.5, pytest.approx(19.433)] and not bad.any()


def test_check_coordinates():
    lon = pd.Series([-99.1, 0.0, 19.4, 200.0, np.nan, -99.1])
    lat = pd.Series([19.4, 0.0, -99.1, 95.0, 19.4, np.nan])
    checks = nz.check_coordinates(lon, lat)
    assert checks["present"].tolist() == [True, False, False, False, False, False]
    assert checks["zero"].tolist() == [False, True, False, False, False, False]
    assert checks["swapped"].tolist() == [False, False, True, False, False, False]
    assert checks["out_of_range"].tolist() == [False, False, False, True, False, False]
    assert checks["one_missing"].tolist() == [False, False, False, False, True, True]


def test_reproject_state_plane_to_wgs84():
    # Chicago's Austin community area centroid in Illinois State Plane East (US feet, EPSG:3435)
    lon, lat = nz.reproject(pd.Series([1139000.0]), pd.Series([1905000.0]), "EPSG:3435")
    assert lon[0] == pytest.approx(-87.77, abs=0.05) and lat[0] == pytest.approx(41.89, abs=0.05)
    same = nz.reproject(pd.Series([-99.0]), pd.Series([19.0]), "EPSG:4326")
    assert same[0][0] == -99.0


def test_sex_and_age_groups():
    assert nz.map_sex(s("MASCULINO", "mujer", "F", "NO REPORTA", None, "2"), {"2": "F"}).tolist() == \
        ["M", "F", "F", None, None, "F"]
    ages = pd.Series([0, 17, 18, 29.5, 30, 44, 45, 59, 60, 99, np.nan])
    assert nz.age_groups(ages).tolist() == ["0-17", "0-17", "18-29", "18-29", "30-44", "30-44", "45-59", "45-59",
                                            "60+", "60+", None]
    assert nz.age_out_of_range(pd.Series([-1, 0, 120, 121, np.nan])).tolist() == [True, False, False, True, False]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), max_size=30))
def test_parsers_never_raise_and_mark_every_unparsed_value(values):
    series = pd.Series(values, dtype=object)
    for parsed, bad in (nz.parse_dates(series)[::2], nz.parse_times(series), nz.parse_numbers(series)):
        assert len(parsed) == len(series)
        unparsed = parsed.isna() & series.notna()
        assert (bad == unparsed).all()


def test_map_columns_variants_folding_and_coalescing():
    profile = parse_profile({"name": "t", "columns": {"occurred_date": ["Fecha Hecho", "fecha"],
                                                      "record_id": [["folio", "anio"]], "category": "DELITO"}}, "t")
    frame = pd.DataFrame({"FECHA HÉCHO": ["2024-01-01", ""], "FECHA": ["x", "2024-02-02"], "Folio": ["7", "8"],
                          "ANIO": ["2024", ""], "Delito": ["Robo", "Hurto"]}, dtype=object)
    fields, used = map_columns(frame, profile, Path("f.csv"))
    assert fields["occurred_date"].tolist() == ["2024-01-01", "2024-02-02"]  # first non-blank variant per row
    assert fields["record_id"].tolist() == ["7-2024", None]
    assert used["occurred_date"] == "FECHA HÉCHO or FECHA"
    with pytest.raises(ImportFailed, match=r"f\.csv: no column for field occurred_date"):
        map_columns(frame[["Delito"]], profile, Path("f.csv"))


def test_record_keys_number_identical_rows_and_hashes_are_stable():
    profile = load_profile("uk_police")
    frame = pd.DataFrame({"Month": ["2022-12", "2022-12", "2022-12"], "Crime type": ["Burglary"] * 3,
                          "Longitude": ["-1.1", "-1.1", "-1.2"], "Latitude": ["52.9", "52.9", "52.9"]}, dtype=object)
    fields, used = map_columns(frame, profile, Path("x.csv"))
    prepared, rejections, _ = prepare(fields, used, profile)
    assert not rejections.mask.any()
    hashes = content_hashes(prepared)
    assert hashes[0] == hashes[1] != hashes[2] and len(hashes[0]) == 16
    assert content_hashes(prepared).tolist() == hashes.tolist()
    keys = record_keys(prepared, hashes, "uk_police").tolist()
    assert keys[0].endswith(":1") and keys[1].endswith(":2") and keys[2].endswith(":1") and len(set(keys)) == 3
    assert not math.isnan(prepared["lon"][0])
