"""A new city's files import faithfully (issue 11, items 1-6 and 8-11): each test builds a file with one
defect of the real exports an analyst met, imports it through the real importer on SQLite and PostgreSQL,
and checks what the database holds and what the report says against values worked out by hand here.

The city is a small Vancouver (the police export is in UTM zone 10N, EPSG:26910, with separate
HOUR and MINUTE columns and privacy-zeroed points): two square neighbourhoods, Downtown and Kitsilano.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
from pyproj import Transformer
from sqlalchemy import func, select

from observatory.db.models import ImportBatch, Incident, Neighbourhood
from observatory.db.session import get_engine
from observatory.ingest.batches import audited
from observatory.ingest.incidents import ingest_incidents
from observatory.ingest.profiles import ProfileError
from observatory.ingest.report import ImportFailed

DOWNTOWN = (-123.13, 49.27, -123.10, 49.29)
KITSILANO = (-123.18, 49.26, -123.15, 49.275)
IN_DOWNTOWN = (-123.115, 49.28)
IN_KITSILANO = (-123.165, 49.2675)
OUTSIDE = (-123.0, 49.20)  # a real place east of both squares
TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:26910", always_xy=True)

VPD_PROFILE = """
kind = "incidents"
name = "vpd_test"
crs = "EPSG:26910"
join_with = ":"
required = ["occurred_date", "category"]
{extra}

[columns]
occurred_date = "DATE"
occurred_time = [["HOUR", "MINUTE"]]
category = "TYPE"
longitude = "X"
latitude = "Y"
area_name = "NEIGHBOURHOOD"
{columns}
{tables}
"""
VPD_HEADER = ["TYPE", "DATE", "HOUR", "MINUTE", "NEIGHBOURHOOD", "X", "Y"]


def square(bounds):
    x0, y0, x1, y1 = bounds
    return [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]


def vancouver(engine, tmp_path):
    from observatory.ingest.boundaries import import_boundaries

    features = [{"type": "Feature", "properties": {"code": code, "name": name},
                 "geometry": {"type": "Polygon", "coordinates": square(bounds)}}
                for code, name, bounds in (("D1", "Downtown", DOWNTOWN), ("K1", "Kitsilano", KITSILANO))]
    path = tmp_path / "vancouver.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))
    import_boundaries(path, layer="neighbourhoods", id_field="code", name_field="name", engine=engine)


def utm(point):
    x, y = TO_UTM.transform(*point)
    return f"{x:.2f}", f"{y:.2f}"


def vpd_profile(tmp_path, extra="", columns="", tables="", name="vpd.toml"):
    path = tmp_path / name
    path.write_text(VPD_PROFILE.format(extra=extra, columns=columns, tables=tables))
    return path


def write_csv(path, header, rows):
    frame = pd.DataFrame(rows, columns=header)
    frame.to_csv(path, index=False)
    return path


def stored(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(select(Incident.__table__, Neighbourhood.name.label("area"))
                            .outerjoin(Neighbourhood, Neighbourhood.id == Incident.neighbourhood_id)
                            .order_by(Incident.id)).all()
    return pd.DataFrame([dict(r._mapping) for r in rows], dtype=object)


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


# --- 1. zeroed points of a projected file ---------------------------------------------------------------


def test_zero_utm_points_are_no_coordinates_not_points_on_the_equator(db_url, tmp_path):
    engine = get_engine(db_url)
    vancouver(engine, tmp_path)
    x, y = utm(IN_DOWNTOWN)
    rows = [["Theft", "2023-01-05", "10", "30", "Downtown", x, y],
            ["Theft", "2023-01-06", "11", "0", "Downtown", "0", "0"],  # privacy-zeroed
            ["Theft", "2023-01-07", "12", "0", "", "0.0", "0.0"],  # zeroed, no name either
            ["Theft", "2023-01-08", "13", "0", "Kitsilano", *utm(IN_KITSILANO)]]
    path = write_csv(tmp_path / "vpd.csv", VPD_HEADER, rows)
    report = ingest_incidents(path, source_kind="police", profile=vpd_profile(tmp_path), engine=engine)
    assert report.loaded == 4 and report.rejected == 0
    assert report.details["zero_coordinates"] == 2 and report.details["no_coordinates"] == 2
    assert report.details["outside_boundaries"] == 0  # projected (0,0) would be (-127.49, 0.0): outside
    data = stored(engine)
    assert data["lon"].isna().tolist() == [False, True, True, False]
    assert data.loc[0, "lon"] == pytest.approx(IN_DOWNTOWN[0], abs=1e-6)
    assert data.loc[0, "lat"] == pytest.approx(IN_DOWNTOWN[1], abs=1e-6)
    # the zeroed row that names its neighbourhood is placed by the name, the other stays unassigned
    assert data["area"].tolist() == ["Downtown", "Downtown", None, "Kitsilano"]
    assert data["assignment"].tolist() == ["point", "name", None, "point"]
    assert "without coordinates: 2 (of which (0,0) placeholders: 2)" in report.summary()


# --- 2 and 3. times: one-digit minutes, unreadable = unknown, time_formats --------------------------------


def test_hour_and_minute_columns_and_unreadable_times_stored_as_null(db_url, tmp_path):
    engine = get_engine(db_url)
    vancouver(engine, tmp_path)
    x, y = utm(IN_DOWNTOWN)
    rows = [["Theft", "2023-01-05", "20", "0", "Downtown", x, y],  # "20:0"
            ["Theft", "2023-01-05", "7", "5", "Downtown", x, y],  # "7:5"
            ["Theft", "2023-01-05", "25", "99", "Downtown", x, y],  # unreadable
            ["Theft", "2023-01-05", "0", "0", "Downtown", x, y]]  # a real midnight
    path = write_csv(tmp_path / "vpd.csv", VPD_HEADER, rows)
    report = ingest_incidents(path, source_kind="police", profile=vpd_profile(tmp_path), engine=engine)
    assert report.loaded == 4 and report.details["unreadable_times"] == 1
    data = stored(engine)
    assert data["hour"].tolist() == [20, 7, None, 0]
    assert [None if t is None else str(t)[:5] for t in data["occurred_time"]] == ["20:00", "07:05", None, "00:00"]


def test_unreadable_time_does_not_fall_back_to_the_dates_midnight(db_url, tmp_path):
    engine = get_engine(db_url)
    profile = tmp_path / "p.toml"
    profile.write_text('kind = "incidents"\nname = "t"\ntime_formats = ["%I.%M %p"]\n'
                       '[columns]\noccurred_date = "fecha"\noccurred_time = "hora"\ncategory = "delito"\n')
    # exports often carry "00:00:00" on every date: the time column is the only source of the hour
    rows = [["2023-02-01 00:00:00", "ilegible", "theft"],
            ["2023-02-01 00:00:00", "08.30 PM", "theft"],  # a time_formats format
            ["2023-02-01 00:00:00", "", "theft"]]  # blank: the date's time is all there is
    path = write_csv(tmp_path / "t.csv", ["fecha", "hora", "delito"], rows)
    report = ingest_incidents(path, source_kind="police", profile=str(profile), engine=engine)
    assert report.loaded == 3 and report.details["unreadable_times"] == 1
    assert any("ilegible" in w and "unknown" in w for w in report.warnings)
    data = stored(engine)
    assert data["hour"].tolist() == [None, 20, 0]
    assert data["occurred_time"].isna().tolist() == [True, False, False]


def test_time_formats_must_be_strptime_formats(tmp_path):
    from observatory.ingest.profiles import load_profile

    profile = tmp_path / "p.toml"
    profile.write_text('kind = "incidents"\nname = "t"\ntime_formats = ["HH:MM"]\n[columns]\noccurred_date = "f"\n')
    with pytest.raises(ProfileError, match="time_formats"):
        load_profile(profile)


# --- 4. identical rows ------------------------------------------------------------------------------------


@pytest.mark.parametrize("choice", ["keep", "drop"])
def test_identical_rows_are_counted_and_the_profile_chooses(db_url, tmp_path, choice):
    engine = get_engine(db_url)
    vancouver(engine, tmp_path)
    x, y = utm(IN_DOWNTOWN)
    same = ["Theft", "2023-01-05", "10", "0", "Downtown", x, y]
    rows = [same, same, same, ["Theft", "2023-01-06", "10", "0", "Downtown", x, y],
            ["Mischief", "2023-01-06", "10", "0", "Downtown", x, y],
            ["Mischief", "2023-01-06", "10", "0", "Downtown", x, y]]
    path = write_csv(tmp_path / "vpd.csv", VPD_HEADER, rows)
    extra = f'identical_rows = "{choice}"'
    profile = vpd_profile(tmp_path, extra=extra)
    report = ingest_incidents(path, source_kind="police", profile=profile, engine=engine)
    # by hand: 3 identical thefts (2 beyond the first) and 2 identical mischiefs (1 beyond the first)
    assert report.details["identical_rows"] == 3 and report.balanced
    if choice == "keep":
        assert report.loaded == 6 and report.duplicates == 0
        assert any(w.startswith("3 rows identical to another row: kept as separate incidents") for w in report.warnings)
    else:
        assert report.loaded == 3 and report.duplicates == 3
        assert any(w.startswith("3 rows identical to another row: dropped") for w in report.warnings)
    assert count(engine, Incident) == report.loaded
    again = ingest_incidents(path, source_kind="police", profile=profile, engine=engine)
    assert again.loaded == 0 and again.duplicates == 6 and count(engine, Incident) == report.loaded


def test_identical_rows_choice_is_validated(tmp_path):
    from observatory.ingest.profiles import load_profile

    with pytest.raises(ProfileError, match="identical_rows"):
        load_profile(vpd_profile(tmp_path, extra='identical_rows = "merge"'))


# --- 5. declared area names --------------------------------------------------------------------------------


def test_unmatched_declared_names_are_listed_and_aliases_map_them(db_url, tmp_path):
    engine = get_engine(db_url)
    vancouver(engine, tmp_path)
    rows = [["Theft", "2023-01-05", "10", "0", "Central Business District", "", ""],
            ["Theft", "2023-01-06", "10", "0", "Central Business District", "", ""],
            ["Theft", "2023-01-07", "10", "0", "Central Business District", "", ""],
            ["Theft", "2023-01-08", "10", "0", "Stanley Park", "", ""],
            ["Theft", "2023-01-09", "10", "0", "Kitsilano", "", ""]]
    path = write_csv(tmp_path / "vpd.csv", VPD_HEADER, rows)
    report = ingest_incidents(path, source_kind="police", profile=vpd_profile(tmp_path), engine=engine)
    assert report.details["unmatched_declared_areas"] == {"name": {"Central Business District": 3, "Stanley Park": 1}}
    warning = next(w for w in report.warnings if "matches no area" in w)
    assert warning.startswith("4 rows declare an area name")
    assert "'Central Business District' (3 rows)" in warning and "'Stanley Park' (1 rows)" in warning
    assert report.unassigned == 4

    aliased = vpd_profile(tmp_path, tables='[area_aliases]\n"Central Business District" = "Downtown"\n',
                          name="aliased.toml")
    engine2 = get_engine(db_url)
    with engine2.begin() as conn:
        conn.execute(Incident.__table__.delete())
    second = ingest_incidents(path, source_kind="police", profile=aliased, engine=engine2)
    assert second.details["unmatched_declared_areas"] == {"name": {"Stanley Park": 1}}
    assert second.details["area_aliases_applied"] == 3
    data = stored(engine2)
    assert data["area"].tolist() == ["Downtown"] * 3 + [None, "Kitsilano"]
    assert data["declared_area_name"].tolist()[:3] == ["Downtown"] * 3


def test_points_placed_by_their_name_are_not_disagreeing_and_the_rate_counts_the_rest(db_url, tmp_path):
    engine = get_engine(db_url)
    vancouver(engine, tmp_path)
    rows = [["Theft", "2023-01-05", "10", "0", "Downtown", *utm(IN_DOWNTOWN)],  # agrees
            ["Theft", "2023-01-05", "10", "0", "Downtown", *utm(IN_KITSILANO)],  # disagrees
            ["Theft", "2023-01-05", "10", "0", "Kitsilano", *utm(IN_KITSILANO)],  # agrees
            ["Theft", "2023-01-05", "10", "0", "Downtown", *utm(OUTSIDE)],  # outside: placed BY the name
            ["Theft", "2023-01-05", "10", "0", "Downtown", "", ""],  # no point
            ["Theft", "2023-01-05", "10", "0", "Nowhere", *utm(IN_DOWNTOWN)]]  # names no area
    path = write_csv(tmp_path / "vpd.csv", VPD_HEADER, rows)
    report = ingest_incidents(path, source_kind="police", profile=vpd_profile(tmp_path), engine=engine)
    data = stored(engine)
    agrees = [None if pd.isna(v) else bool(v) for v in data["declared_area_agrees"]]
    assert agrees == [True, False, True, None, None, None]
    assert data["assignment"].tolist() == ["point", "point", "point", "name", "name", "point"]
    # by hand: 3 rows compared, 1 disagrees; 3 rows declaring an area could not be compared
    d = report.details
    assert (d["declared_checked"], d["declared_disagree"], d["declared_uncompared"]) == (3, 1, 3)
    assert d["declared_area_disagreement_rate"] == pytest.approx(1 / 3)
    assert d["outside_boundaries"] == 1
    assert "declared area vs point: 1 of 3 compared rows disagree (33.3%); 3 rows declaring an area could not " \
           "be compared" in report.summary()


# --- 6. a file read with the wrong profile ------------------------------------------------------------------


def generic_rows(n, bad, date="2023-03-{day:02d}"):
    header = ["record_id", "occurred_date", "category", "latitude", "longitude"]
    rows = [[f"R{i}", (date if i < n - bad else "31.01.2023").format(day=i % 28 + 1), "theft", "", ""]
            for i in range(n)]
    return header, rows


def test_an_import_rejecting_nearly_every_row_fails_and_stores_nothing(db_url, tmp_path):
    engine = get_engine(db_url)
    header, rows = generic_rows(20, bad=19)
    path = write_csv(tmp_path / "wrong.csv", header, rows)
    with pytest.raises(ImportFailed) as caught:
        ingest_incidents(path, source_kind="police", profile="generic_incidents", engine=engine)
    message = str(caught.value)
    assert str(path) in message and "19 of 20 rows rejected (95%, above the limit of 90%" in message
    assert "most rejections (19) are for occurred_date" in message
    assert "reads occurred_date from occurred_date" in message
    assert "the header found is: record_id, occurred_date, category, latitude, longitude" in message
    assert count(engine, Incident) == count(engine, ImportBatch) == 0  # a bare library call: nothing at all
    # an audited import (the CLI's) keeps the attempt in the history: a failed batch, still no incidents
    with audited("ana", kind="police", via="test"), pytest.raises(ImportFailed):
        ingest_incidents(path, source_kind="police", profile="generic_incidents", engine=engine)
    with engine.connect() as conn:
        batch = conn.execute(select(ImportBatch.__table__)).one()
    assert (batch.status, batch.total, batch.loaded, batch.rejected) == ("failed", 20, 0, 19)
    assert batch.report["error"] == message and count(engine, Incident) == 0
    # the limit is the user's: a higher one lets the good row in
    report = ingest_incidents(path, source_kind="police", profile="generic_incidents", engine=engine,
                              max_rejected_share=0.96)
    assert report.loaded == 1 and report.rejected == 19 and count(engine, Incident) == 1


def test_the_profile_sets_the_rejection_limit(db_url, tmp_path):
    engine = get_engine(db_url)
    header, rows = generic_rows(10, bad=3)
    path = write_csv(tmp_path / "some_bad.csv", header, rows)
    profile = tmp_path / "strict.toml"
    profile.write_text('kind = "incidents"\nname = "strict"\nmax_rejected_share = 0.2\n[columns]\n'
                       'record_id = "record_id"\noccurred_date = "occurred_date"\ncategory = "category"\n')
    with pytest.raises(ImportFailed, match="3 of 10 rows rejected"):
        ingest_incidents(path, source_kind="police", profile=str(profile), engine=engine)
    assert count(engine, Incident) == 0
    # 3 of 10 is under the default limit
    assert ingest_incidents(path, source_kind="police", profile="generic_incidents", engine=engine).loaded == 7


# --- 8. a wrong default category ---------------------------------------------------------------------------


def test_a_wrong_default_category_stops_the_import_naming_the_nearest_codes(db_url, tmp_path):
    engine = get_engine(db_url)
    profile = tmp_path / "p.toml"
    profile.write_text('kind = "incidents"\nname = "p"\n[defaults]\ncategory = "homicides"\n'
                       '[columns]\noccurred_date = "fecha"\n')
    path = write_csv(tmp_path / "h.csv", ["fecha"], [["2023-01-01"]])
    with pytest.raises(ProfileError) as caught:
        ingest_incidents(path, source_kind="police", profile=str(profile), engine=engine)
    message = str(caught.value)
    assert "[defaults] category = 'homicides'" in message and "python -m observatory categories" in message
    nearest = message.split("nearest codes: ")[1].split(" (")[0].split(", ")
    assert nearest[0] == "homicide" and len(nearest) == 3
    assert count(engine, Incident) == 0 and count(engine, ImportBatch) == 0
    # a code, a category name and a profile alias are all valid defaults
    valid = (("homicide", ""), ("Homicidio doloso", ""), ("HOMICIDIOS", '[aliases]\nHOMICIDIOS = "homicide"\n'))
    for value, table in valid:
        profile.write_text(f'kind = "incidents"\nname = "p"\n{table}[defaults]\ncategory = "{value}"\n'
                           '[columns]\noccurred_date = "fecha"\n')
        report = ingest_incidents(path, source_kind="police", profile=str(profile), engine=engine)
        assert report.loaded + report.duplicates == 1 and not report.unknown_labels


# --- 9 and 10. bad optional fields; sex values in three languages -------------------------------------------

MEDELLIN_HEADER = ["fecha", "hora", "fecha_fin", "hora_fin", "delito", "sexo", "edad"]


def test_a_bad_optional_field_becomes_unknown_and_only_required_fields_reject(db_url, tmp_path):
    engine = get_engine(db_url)
    profile = tmp_path / "med.toml"
    profile.write_text('kind = "incidents"\nname = "med"\nrequired = ["occurred_date", "category"]\n[columns]\n'
                       'occurred_date = "fecha"\noccurred_time = "hora"\noccurred_end_date = "fecha_fin"\n'
                       'occurred_end_time = "hora_fin"\ncategory = "delito"\nvictim_sex = "sexo"\n'
                       'victim_age = "edad"\n')
    rows = [["2023-01-01", "10:00", "", "", "homicide", "Hombre", "-1"],  # Medellín's "unknown age"
            ["2023-01-02", "xx", "2023-01-03", "yy", "homicide", "Mujer", "34"],  # both times unreadable
            ["2023-01-03", "11:00", "", "", "homicide", "Hombre", "ciento"],  # text age
            ["2023-01-04", "12:00", "", "", "", "Hombre", "20"],  # no category: required, rejected
            ["no date", "12:00", "", "", "homicide", "Mujer", "20"]]  # bad date: required, rejected
    path = write_csv(tmp_path / "med.csv", MEDELLIN_HEADER, rows)
    report = ingest_incidents(path, source_kind="police", profile=str(profile), engine=engine)
    assert (report.loaded, report.rejected) == (3, 2)
    assert sorted(r.field for r in report.rejections) == ["category", "occurred_date"]
    assert report.details["bad_ages"] == 2 and report.details["unreadable_times"] == 2
    assert any(w.startswith("2 ages that are not a number of years") and "'-1'" in w for w in report.warnings)
    data = stored(engine)
    assert data["victim_age_group"].tolist() == [None, "30-44", None]
    assert data["hour"].tolist() == [10, None, 11]
    assert str(data.loc[1, "occurred_end"])[:10] == "2023-01-03"


def test_sex_values_in_spanish_portuguese_and_english_and_unmapped_ones_reported(db_url, tmp_path):
    engine = get_engine(db_url)
    profile = tmp_path / "sex.toml"
    profile.write_text('kind = "incidents"\nname = "sex"\n[columns]\noccurred_date = "data"\n'
                       'category = "crime"\nvictim_sex = "sexo"\n')
    values = {"Feminino": "F", "Masculino": "M", "Indefinido": None, "Mujer": "F", "HOMBRE": "M", "female": "F",
              "Male": "M", "F": "F", "m": "M", "Femenino": "F", "Mulher": "F", "Homem": "M", "Não informado": None,
              "Intersexo": "X", "Zzz": None, "??": None}
    unmapped = {"Zzz": 2, "??": 1}
    sexes = [*values, "Zzz"]
    rows = [["2023-01-01", "theft", s] for s in sexes]
    path = write_csv(tmp_path / "sex.csv", ["data", "crime", "sexo"], rows)
    report = ingest_incidents(path, source_kind="police", profile=str(profile), engine=engine)
    assert report.loaded == len(rows)
    assert report.details["unmapped_values"] == {"victim_sex": unmapped}
    warning = next(w for w in report.warnings if "not recognised as victim_sex" in w)
    assert warning.startswith("3 values of column sexo") and "'Zzz' (2)" in warning and "'??' (1)" in warning
    data = stored(engine)
    expected = [values[s] for s in sexes]
    assert data["victim_sex"].tolist() == expected


# --- 11. records withdrawn from a new release ----------------------------------------------------------------


def test_records_withdrawn_from_a_new_release_are_reported_and_kept(db_url, tmp_path):
    engine = get_engine(db_url)
    header = ["record_id", "occurred_date", "category"]
    first = [["A1", "2023-01-02", "theft"], ["A2", "2023-01-10", "theft"], ["A3", "2023-01-15", "theft"],
             ["A4", "2023-01-20", "theft"], ["A5", "2023-01-25", "theft"],
             ["A9", "2023-03-01", "theft"]]  # March: outside the second release's period
    second = [["A1", "2023-01-02", "theft"], ["A3", "2023-01-15", "theft"], ["A5", "2023-01-25", "robbery_person"],
              ["A6", "2023-01-28", "theft"], ["A2", "not a date", "theft"]]  # A2 rejected, not withdrawn
    p1 = write_csv(tmp_path / "release1.csv", header, first)
    p2 = write_csv(tmp_path / "release2.csv", header, second)
    assert ingest_incidents(p1, source_kind="police", profile="generic_incidents", engine=engine).loaded == 6
    report = ingest_incidents(p2, source_kind="police", profile="generic_incidents", engine=engine)
    assert (report.loaded, report.revised, report.duplicates, report.rejected) == (2, 1, 2, 1)
    assert report.details["withdrawn"] == 1 and report.details["withdrawn_records"] == ["A4"]
    assert any(w.startswith("1 records present in the previous release are absent from this one")
               for w in report.warnings)
    assert "withdrawn (in the previous release, absent from this one): 1" in report.summary()
    assert count(engine, Incident) == 7  # kept: nothing is deleted on an import's say-so
    with engine.connect() as conn:
        kept = conn.execute(select(ImportBatch.report).where(ImportBatch.id == report.batch_id)).scalar_one()
    assert kept["details"]["withdrawn_records"] == ["A4"]


def test_a_long_address_is_cut_to_its_column_and_counted(db_url, tmp_path):
    engine = get_engine(db_url)
    profile = tmp_path / "addr.toml"
    profile.write_text('kind = "incidents"\nname = "addr"\n[columns]\noccurred_date = "fecha"\ncategory = "delito"\n'
                       'address = "direccion"\n')
    long_address = "Calle " + "x" * 600
    path = write_csv(tmp_path / "addr.csv", ["fecha", "delito", "direccion"],
                     [["2023-01-01", "theft", long_address], ["2023-01-02", "theft", "Calle 5"]])
    report = ingest_incidents(path, source_kind="police", profile=str(profile), engine=engine)
    assert report.loaded == 2 and report.details["truncated_values"] == {"address": 1}
    assert any(w.startswith("1 values of column direccion longer than 500 characters") for w in report.warnings)
    assert stored(engine)["address"].tolist() == [long_address[:500], "Calle 5"]


def test_the_readme_worked_example_is_a_valid_profile():
    import tomllib

    from observatory.ingest.profiles import parse_profile
    from tests.conftest import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split('name = "vancouver_police"')[1].split("```")[0]
    profile = parse_profile(tomllib.loads('kind = "incidents"\nname = "vancouver_police"' + block), "README")
    assert profile.crs == "EPSG:26910" and profile.columns["occurred_time"] == (("HOUR", "MINUTE"),)
    assert profile.join_with == ":" and profile.area_aliases["central business district"] == "Downtown"
