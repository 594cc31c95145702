"""Incident ingestion: every built-in profile, broken rows, dedupe, revisions, atomicity."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import func, select

from observatory.db.models import (
    CategoryAlias,
    CrimeCategory,
    ImportBatch,
    Incident,
    IncidentArea,
    IncidentRevision,
    RejectedRow,
)
from observatory.db.session import get_engine
from observatory.ingest import incidents as inc
from observatory.ingest.incidents import ingest_incidents
from observatory.ingest.profiles import ProfileError, builtin_profiles, load_profile
from observatory.ingest.report import ImportFailed
from tests.conftest import EXAMPLES, FIXTURES

INCIDENT_FIXTURES = FIXTURES / "incidents"
GENERIC_HEADER = ("record_id,occurred_date,occurred_time,occurred_end_date,occurred_end_time,reported_date,category,"
                  "latitude,longitude,neighbourhood_code,neighbourhood_name,victim_sex,victim_age,count,address,"
                  "description")

# (profile, file, source kind): one fixture per built-in profile, copying the published header styles
PROFILE_FIXTURES = [
    ("cdmx_fgj", INCIDENT_FIXTURES / "carpetas_pgj_2016_2019.csv", "complaint"),
    ("cdmx_fgj", INCIDENT_FIXTURES / "carpetas_fgj_2019_2021.csv", "complaint"),
    ("colombia_siedco", INCIDENT_FIXTURES / "homicidios_2023_siedco.csv", "police"),
    ("uk_police", INCIDENT_FIXTURES / "2022-12-nottinghamshire-street.csv", "police"),
    ("crime_open_database", INCIDENT_FIXTURES / "code_core_sample.csv", "police"),
    ("cdmx_ssp", INCIDENT_FIXTURES / "crime-lat-long-head.csv", "police"),
    ("cdmx_pgj_monthly", INCIDENT_FIXTURES / "pgj_monthly_head.csv", "police"),
    ("generic_incidents", EXAMPLES / "generic_incidents.csv", "police"),
    ("generic_complaints", EXAMPLES / "generic_complaints.csv", "complaint"),
]


def data_rows(path) -> int:
    """Records in a small fixture file (one per non-blank line after the header)."""
    raw = path.read_bytes().decode("utf-8", errors="replace")
    return sum(1 for line in raw.splitlines()[1:] if line.strip())


def incident_frame(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(select(Incident.__table__, CrimeCategory.code.label("category"))
                            .join(CrimeCategory, CrimeCategory.id == Incident.category_id)).all()
    return pd.DataFrame([dict(r._mapping) for r in rows], dtype=object)


def count(engine, model) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model)).scalar_one()


def test_every_builtin_profile_has_a_fixture():
    assert {p for p, _, _ in PROFILE_FIXTURES} == set(builtin_profiles())


@pytest.mark.parametrize(("profile", "path", "kind"), PROFILE_FIXTURES, ids=lambda v: getattr(v, "name", v))
def test_builtin_profile_loads_its_fixture_and_reimport_adds_nothing(db_url, profile, path, kind):
    engine = get_engine(db_url)
    report = ingest_incidents(path, source_kind=kind, profile=profile, engine=engine)
    assert report.balanced and report.total == data_rows(path)
    assert report.rejected == 0, report.summary()
    assert report.loaded == report.total
    stored = incident_frame(engine)
    assert len(stored) == report.loaded
    assert stored["occurred_on"].notna().all()
    assert (stored["weekday"] == pd.to_datetime(stored["occurred_on"]).dt.day_of_week).all()
    again = ingest_incidents(path, source_kind=kind, profile=profile, engine=engine)
    assert again.loaded == 0 and again.duplicates == again.total == report.total
    assert count(engine, Incident) == report.loaded


def test_profile_fields_are_parsed_as_published(sqlite_url):
    engine = get_engine(sqlite_url)
    ingest_incidents(INCIDENT_FIXTURES / "carpetas_fgj_2019_2021.csv", source_kind="complaint", profile="cdmx_fgj",
                     engine=engine)
    fgj = incident_frame(engine).set_index("source_id")
    robbery = fgj.loc["8324430"]
    # FechaHecho 03/01/2019 (d/m/Y) at 21:30, opened (FechaInicio) on 04/01/2019
    assert str(robbery["occurred_on"]) == "2019-01-03" and robbery["hour"] == 21
    assert str(robbery["reported_on"]) == "2019-01-04" and robbery["category"] == "robbery_person"
    abuse = fgj.loc["8324432"]
    assert abuse["sensitive"] and abuse["lon"] is None and abuse["hour"] is None

    ingest_incidents(INCIDENT_FIXTURES / "homicidios_2023_siedco.csv", source_kind="police", profile="colombia_siedco",
                     engine=engine)
    col = incident_frame(engine).query("profile == 'colombia_siedco'")
    # the crime comes from the file name; CANTIDAD is the count; age groups and sex from the value maps
    assert set(col["category"]) == {"homicide"}
    assert col["count"].sum() == 8
    assert sorted(col["victim_age_group"].dropna()) == ["0-17", "0-17"]
    assert set(col["victim_sex"].dropna()) == {"F", "M"}
    assert set(col["declared_area_code"]) >= {"05001000", "11001000"}

    ingest_incidents(INCIDENT_FIXTURES / "pgj_monthly_head.csv", source_kind="police", profile="cdmx_pgj_monthly",
                     engine=engine)
    monthly = incident_frame(engine).query("profile == 'cdmx_pgj_monthly'")
    assert monthly["count"].sum() == 69 + 69 + 104 + 0 + 1205


def test_ssp_markers_and_unreadable_times(sqlite_url):
    engine = get_engine(sqlite_url)
    report = ingest_incidents(INCIDENT_FIXTURES / "crime-lat-long-head.csv", source_kind="police",
                              profile="cdmx_ssp", engine=engine)
    stored = incident_frame(engine).set_index("source_id")
    assert stored.loc["4", "lon"] is None  # NA coordinates are missing, not rejected
    assert stored.loc["3", "declared_area_code"] is None  # (NO ESPECIFICADO)
    assert stored.loc["5", "hour"] is None and report.details["unreadable_times"] == 1
    assert any("21510" in w for w in report.warnings)


def test_police_uk_identical_rows_are_all_kept(db_url, tmp_path):
    engine = get_engine(db_url)
    path = INCIDENT_FIXTURES / "2022-12-nottinghamshire-street.csv"
    report = ingest_incidents(path, source_kind="police", profile="uk_police", engine=engine)
    stored = incident_frame(engine)
    asb = stored[stored["category"] == "antisocial_behaviour"]
    assert len(asb) == 3 and asb["record_key"].nunique() == 3  # identical rows, distinct keys
    assert report.loaded == data_rows(path)
    # a later release that contains the same month plus one more identical report adds exactly one
    lines = path.read_text().splitlines()
    later = tmp_path / "2022-12-later.csv"
    later.write_text("\n".join([*lines, lines[1]]) + "\n")
    again = ingest_incidents(later, source_kind="police", profile="uk_police", engine=engine)
    assert again.loaded == 1 and again.duplicates == len(lines) - 1
    assert count(engine, Incident) == report.loaded + 1


def write_boundaries(engine):
    from observatory.ingest.boundaries import import_boundaries

    return import_boundaries(INCIDENT_FIXTURES / "barrios.geojson", layer="barrios", id_field="code",
                             name_field="name", population_field="population", engine=engine)


# Each row of the broken file with what must happen to it: None = loaded, else the rejected field.
BROKEN_ROWS = [
    ("B1,2024-03-01,10:00,,,,robbery_person,19.4300,-99.1400,N01,Centro,F,30,1,,", None),
    ("B2,2024-13-45,10:00,,,,robbery_person,19.4300,-99.1400,N01,Centro,F,30,1,,", "occurred_date"),
    ("B3,2024-03-02,11:00,,,,theft,abc,-99.1400,N01,Centro,,,1,,", "latitude"),
    ("B4,2024-03-02,12:00,,,,CIBERDELITO RARO,19.4300,-99.1400,N01,Centro,,,1,,", None),  # unknown label
    ("B5,2024-03-03,13:00,,,,theft,20.5000,-100.5000,,,,,1,,", None),  # outside the city
    ("B6,2024-03-03,14:00,,,,Robo a transeúnte,19.4300,-99.1400,,,M,44,1,,Niño herido", None),  # Latin-1 text
    # an optional field's bad value (age 150) makes it unknown; it does not drop the incident (issue 11, item 9)
    ("B7,2024-03-04,15:00,,,,theft,19.4300,-99.1400,N01,Centro,,150,1,,", None),
    ("B8,2024-03-04,16:00,,,,theft,95.0,200.0,N01,Centro,,,1,,", "latitude"),
    ("B9,2024-03-05,17:00,,,,theft,-99.1400,19.4300,,,,,1,,", None),  # swapped lat/lon: fixed
    ("B10,2024-03-05,18:00,,,,theft,0,0,N02,,,,1,,", None),  # (0,0): no coordinates, assigned by code
    ("B11,2024-03-06,19:00,,,,theft,,,,Roma Nortte,,,1,,", None),  # by a close name
    ("B12,2024-03-06,,,,,,19.4300,-99.1400,N01,Centro,,,1,,", "category"),
    ("B13,2024-03-07,20:00,,,,theft,19.4300,-99.1400,N01,Centro,,,-2,,", "count"),
    ("B14,2024-03-07,21:00,,,,theft,19.43", "truncated"),  # truncated last line
]


@pytest.fixture
def broken_file(tmp_path):
    path = tmp_path / "broken_latin1.csv"
    body = "\n".join([GENERIC_HEADER, *(row for row, _ in BROKEN_ROWS)])  # no final newline: truncated
    path.write_bytes(body.encode("latin-1"))
    return path


def test_broken_rows_load_the_good_ones_and_report_each_bad_one(db_url, broken_file, tmp_path):
    engine = get_engine(db_url)
    write_boundaries(engine)
    rejects = tmp_path / "rejects.csv"
    report = ingest_incidents(broken_file, source_kind="police", profile="generic_incidents", engine=engine,
                              rejects_path=rejects)
    expected_bad = {i + 2: field for i, (_, field) in enumerate(BROKEN_ROWS) if field}
    assert report.total == len(BROKEN_ROWS) and report.balanced
    assert report.rejected == len(expected_bad)
    assert report.loaded == len(BROKEN_ROWS) - len(expected_bad)
    got = {r.row_number: r.field for r in report.rejections}
    assert set(got) == set(expected_bad)
    for line, field in expected_bad.items():
        if field != "truncated":
            assert got[line] == field, report.summary()
    assert got[len(BROKEN_ROWS) + 1] is None  # the reader's own rejection of the truncated line
    assert "too few fields" in next(r.reason for r in report.rejections if r.row_number == len(BROKEN_ROWS) + 1)
    assert "CIBERDELITO RARO" in report.unknown_labels
    assert report.details["swapped_coordinates"] >= 1 and report.details["zero_coordinates"] == 1
    assert report.details["outside_boundaries"] == 1
    stored = incident_frame(engine).set_index("source_id")
    assert stored.loc["B4", "category"] == "unclassified" and stored.loc["B4", "original_label"] == "CIBERDELITO RARO"
    assert stored.loc["B6", "description"] == "Niño herido" and stored.loc["B6", "category"] == "robbery_person"
    assert stored.loc["B9", "lat"] == pytest.approx(19.43) and stored.loc["B9", "assignment"] == "point"
    assert stored.loc["B10", "lon"] is None and stored.loc["B10", "assignment"] == "code"
    assert stored.loc["B7", "victim_age_group"] is None and report.details["bad_ages"] == 1
    assert stored.loc["B11", "assignment"] == "fuzzy_name"
    assert pd.isna(stored.loc["B5", "neighbourhood_id"]) and report.unassigned == 1
    with engine.connect() as conn:
        batch = conn.execute(select(ImportBatch.__table__).where(ImportBatch.id == report.batch_id)).one()
        stored_rejects = conn.execute(select(func.count()).select_from(RejectedRow)
                                      .where(RejectedRow.batch_id == report.batch_id)).scalar_one()
    assert (batch.total, batch.loaded, batch.rejected) == (report.total, report.loaded, report.rejected)
    assert stored_rejects == report.rejected
    written = pd.read_csv(rejects, dtype=str)
    assert len(written) == report.rejected and set(written["file"]) == {str(broken_file)}
    assert "reason" in written and written["reason"].notna().all()


def test_revisions_update_rows_and_keep_history(db_url, tmp_path):
    engine = get_engine(db_url)
    first = tmp_path / "release1.csv"
    first.write_text("\n".join([GENERIC_HEADER,
                                "R1,2024-01-05,10:00,,,,theft,19.43,-99.14,N01,Centro,,,1,,",
                                "R2,2024-01-06,11:00,,,,homicide,19.43,-99.14,N01,Centro,,,1,,"]) + "\n")
    ingest_incidents(first, source_kind="police", profile="generic_incidents", engine=engine)
    second = tmp_path / "release2.csv"
    second.write_text("\n".join([GENERIC_HEADER,
                                 "R1,2024-01-05,10:00,,,,theft,19.43,-99.14,N01,Centro,,,1,,",
                                 "R2,2024-01-06,11:00,,,,assault,19.43,-99.14,N01,Centro,,,1,,",
                                 "R3,2024-01-07,12:00,,,,theft,19.43,-99.14,N01,Centro,,,1,,"]) + "\n")
    report = ingest_incidents(second, source_kind="police", profile="generic_incidents", engine=engine)
    assert (report.loaded, report.revised, report.duplicates) == (2, 1, 1) and report.balanced
    stored = incident_frame(engine).set_index("source_id")
    assert stored.loc["R2", "category"] == "assault" and stored.loc["R2", "revision"] == 2
    assert stored.loc["R2", "batch_id"] == report.batch_id and str(stored.loc["R2", "occurred_on"]) == "2024-01-06"
    with engine.connect() as conn:
        history = conn.execute(select(IncidentRevision.__table__)).all()
    assert len(history) == 1 and history[0].revision == 1 and history[0].previous["original_label"] == "homicide"
    assert count(engine, Incident) == 3


def test_conflicting_repeated_id_in_one_file_is_rejected(sqlite_url, tmp_path):
    path = tmp_path / "repeat.csv"
    path.write_text("\n".join([GENERIC_HEADER,
                               "X1,2024-01-05,10:00,,,,theft,,,,,,,1,,",
                               "X1,2024-01-05,10:00,,,,theft,,,,,,,1,,",
                               "X1,2024-01-09,10:00,,,,theft,,,,,,,1,,"]) + "\n")
    report = ingest_incidents(path, source_kind="police", profile="generic_incidents", engine=get_engine(sqlite_url))
    assert (report.loaded, report.duplicates, report.rejected) == (1, 1, 1)
    assert "line 2" in report.rejections[0].reason


def test_failure_midway_leaves_the_database_as_before(db_url, monkeypatch):
    engine = get_engine(db_url)
    write_boundaries(engine)
    ingest_incidents(EXAMPLES / "generic_complaints.csv", source_kind="complaint", profile="generic_complaints",
                     engine=engine)
    tables = (Incident, ImportBatch, RejectedRow, IncidentArea, CategoryAlias)
    before = {m.__tablename__: count(engine, m) for m in tables}
    calls = []
    real = inc.write_chunk

    def failing(conn, rows, *args, **kwargs):
        calls.append(len(rows))
        if len(calls) == 2:  # after half of the rows were written
            raise RuntimeError("disk full")
        return real(conn, rows, *args, **kwargs)

    monkeypatch.setattr(inc, "CHUNK_SIZE", 2)
    monkeypatch.setattr(inc, "write_chunk", failing)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_incidents(INCIDENT_FIXTURES / "carpetas_fgj_2019_2021.csv", source_kind="complaint",
                         profile="cdmx_fgj", engine=engine)
    assert calls[0] == 2
    assert {m.__tablename__: count(engine, m) for m in tables} == before
    monkeypatch.setattr(inc, "write_chunk", real)
    report = ingest_incidents(INCIDENT_FIXTURES / "carpetas_fgj_2019_2021.csv", source_kind="complaint",
                              profile="cdmx_fgj", engine=engine)
    assert report.loaded == data_rows(INCIDENT_FIXTURES / "carpetas_fgj_2019_2021.csv")


def test_profile_aliases_are_stored_and_user_profile_works(db_url):
    engine = get_engine(db_url)
    report = ingest_incidents(EXAMPLES / "custom_police_export.csv", source_kind="police",
                              profile=str(EXAMPLES / "custom_profile.toml"), engine=engine)
    assert report.loaded == report.total == 5 and report.details["encoding"] == "cp1252"
    assert dict(report.unknown_labels) == {"DAÑOS A VEHÍCULO": 1}
    stored = incident_frame(engine).set_index("source_id")
    assert stored.loc["1001", "lat"] == pytest.approx(19.433)  # decimal comma
    assert stored.loc["1001", "victim_sex"] == "F" and stored.loc["1005", "victim_sex"] is None
    assert stored.loc["1004", "category"] == "domestic_violence" and stored.loc["1004", "sensitive"]
    assert stored.loc["1002", "hour"] is None  # S/D is a missing marker
    with engine.connect() as conn:
        keys = set(conn.scalars(select(CategoryAlias.label_key)
                                .where(CategoryAlias.profile == "ciudad_ejemplo_policia")))
    assert {"hurto callejero", "vif"} <= keys


@pytest.mark.parametrize(("text", "message"), [
    ('kind = "incidents"\nname = "x"\n[columns]\noccurred_date = ["F"]\nfecha_rara = ["G"]\n', "fecha_rara"),
    ('kind = "incidents"\nname = "x"\ncolumns = {occurred_date = "F"}\n[aliases]\n"ROBO" = "robo_magico"\n',
     "robo_magico"),
    ('kind = "incidents"\nname = "x"\ncrs = "EPSG:999999"\n[columns]\noccurred_date = "F"\n', "crs"),
    ('kind = "incidents"\nname = "x"\ndelimitador = ";"\n[columns]\noccurred_date = "F"\n', "delimitador"),
    ('kind = "incidents"\nname = "x"\n[columns]\ncategory = "D"\n', "occurred_date"),
    ('kind = "incidents"\nname = "x"\n[columns]\noccurred_date = "F"\n[values.victim_sex]\n"1" = "hombre"\n',
     "victim_sex"),
    ('name = "x"\n[columns\n', "cannot be parsed"),
])
def test_wrong_user_profile_gives_a_clear_message(tmp_path, text, message):
    path = tmp_path / "mine.toml"
    path.write_text(text)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_yaml_profile_and_missing_column_message(sqlite_url, tmp_path):
    profile = tmp_path / "mine.yaml"
    profile.write_text("kind: incidents\nname: yaml_city\nrequired: [occurred_date, category]\n"
                       "columns:\n  occurred_date: [FECHA]\n  category: [DELITO]\n")
    data = tmp_path / "export.csv"
    data.write_text("FECHA;DELITO\n01/02/2024;Hurto\n")
    report = ingest_incidents(data, source_kind="police", profile=str(profile), engine=get_engine(sqlite_url))
    assert report.loaded == 1
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("DATE;CRIME\n01/02/2024;Hurto\n")
    with pytest.raises(ImportFailed, match=r"wrong\.csv.*field occurred_date.*FECHA"):
        ingest_incidents(wrong, source_kind="police", profile=str(profile), engine=get_engine(sqlite_url))
    with pytest.raises(ProfileError, match="unknown profile 'nope'"):
        load_profile("nope")



# --- profiles as validated data models (issue 11) ----------------------------------------------------------

PROFILE_BASE = 'kind = "incidents"\nname = "x"\n'


@pytest.mark.parametrize(("extra", "expected"), [
    # an unknown key: the sentence lists the known keys
    ('skip_line = 2\n', "unknown key 'skip_line'; known keys: aliases, area_aliases, columns, crs, "),
    # a wrong type, a wrong value, a wrong nested value, a wrong encoding
    ('skip_lines = "two"\n', "skip_lines must be a whole number >= 0, not 'two'"),
    ('identical_rows = "maybe"\n',
     "identical_rows = 'maybe': use \"keep\" (separate incidents) or \"drop\" (duplicates)"),
    ('[values.victim_sex]\nHOMBRE = "Q"\n',
     "values.victim_sex: 'HOMBRE' maps to 'Q'; use one of F, M, X or \"\" for missing"),
    ('[values.sexo]\nHOMBRE = "M"\n', "[values.sexo]: value maps exist for victim_sex, victim_age_group only"),
    ('encoding = "klingon"\n', "encoding must be a text encoding such as 'utf-8' or 'cp1252', not 'klingon'"),
    ('decimal_comma = "yes"\n', "decimal_comma must be true or false, not 'yes'"),
    ('max_rejected_share = "0.5"\n', "max_rejected_share must be a number between 0 and 1, not '0.5'"),
    ('sheet = true\n', "sheet must be a sheet name or a sheet number from 1, not True"),
    ('source = "mine"\n', "unknown key 'source'"),  # set by the loader, not a key of the file
])
def test_a_wrong_key_is_one_sentence_naming_the_file_and_the_key(tmp_path, extra, expected):
    path = tmp_path / "mine.toml"
    # tables go after [columns]; plain keys before it
    body = f"{PROFILE_BASE}[columns]\noccurred_date = \"F\"\n{extra}" if extra.startswith("[") else \
        f"{PROFILE_BASE}{extra}[columns]\noccurred_date = \"F\"\n"
    path.write_text(body)
    with pytest.raises(ProfileError) as caught:
        load_profile(path)
    message = str(caught.value)
    assert message.startswith(f"profile {path}: {expected}")
    assert "\n" not in message and "Input should" not in message and "Value error" not in message
    assert message.count(f"{path}") == 1


def test_unknown_key_lists_exactly_the_keys_the_readme_documents():
    import re

    from observatory.ingest.profiles import PROFILE_KEYS, parse_profile
    from tests.conftest import REPO_ROOT

    with pytest.raises(ProfileError) as caught:
        parse_profile({"kind": "incidents", "name": "x", "columns": {"occurred_date": "F"}, "delimitador": ";"}, "t")
    listed = str(caught.value).split("known keys: ")[1].split(", ")
    assert listed == sorted(PROFILE_KEYS)
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("### Your own export")[1].split("Canonical fields:")[0]
    documented = set(re.findall(r"`\[?([a-z_]+)[\]. =`]", section.split("Keys: ")[1]))
    assert documented == set(listed)


def _as_loaded(raw: dict) -> dict:
    """What a profile file's keys should load as, computed from the TOML by hand."""
    from observatory.text import fold

    def variants(value):
        return tuple((v,) if isinstance(v, str) else tuple(v) for v in ([value] if isinstance(value, str) else value))

    return {
        "name": raw["name"], "source_kind": raw.get("source_kind"),
        "required": tuple(raw.get("required", ["occurred_date"])),
        "columns": {k: variants(v) for k, v in raw["columns"].items()},
        "na_values": tuple(raw.get("na_values", ())), "date_formats": tuple(raw.get("date_formats", ())),
        "aliases": raw.get("aliases", {}), "join_with": raw.get("join_with", "-"),
        "file_labels": {fold(k).replace("-", "_").replace(" ", "_"): v for k, v in raw.get("file_labels", {}).items()},
        "values": {k: {fold(s): t or None for s, t in m.items()} for k, m in raw.get("values", {}).items()},
        "skip_lines": raw.get("skip_lines", 0), "sheet": raw.get("sheet"), "crs": raw.get("crs", "EPSG:4326"),
        "identical_rows": raw.get("identical_rows", "keep"), "decimal_comma": raw.get("decimal_comma", False),
        "max_rejected_share": raw.get("max_rejected_share", 0.9),
    }


@pytest.mark.parametrize("name", builtin_profiles())
def test_every_builtin_incident_profile_loads_as_its_file_says(name):
    import tomllib

    from observatory.ingest.profiles import PROFILES_DIR

    raw = tomllib.loads((PROFILES_DIR / f"{name}.toml").read_text(encoding="utf-8"))
    profile = load_profile(name)
    assert profile.source == name and profile.kind == "incidents"
    assert {key: getattr(profile, key) for key in _as_loaded(raw)} == _as_loaded(raw)


def test_colombia_profile_folds_its_value_maps_and_file_labels():
    profile = load_profile("colombia_siedco")
    assert profile.values["victim_sex"]["masculino"] == "M"
    assert profile.label_for_file("Homicidios_2023.xlsx") == "HOMICIDIOS"
    assert profile.label_for_file("otro.csv") is None
    assert profile.columns["occurred_date"][0] == ("FECHA HECHO",)


def test_sqlite_and_postgresql_give_identical_results(tmp_path, broken_file):
    from tests.conftest import make_database

    results = []
    for kind in ("sqlite", "postgresql"):
        try:
            url, cleanup = make_database(kind, tmp_path)
        except pytest.skip.Exception:
            raise
        try:
            engine = get_engine(url)
            write_boundaries(engine)
            counts = []
            for path, profile, source in [(broken_file, "generic_incidents", "police"),
                                          (INCIDENT_FIXTURES / "crime-lat-long-head.csv", "cdmx_ssp", "police"),
                                          (INCIDENT_FIXTURES / "2022-12-nottinghamshire-street.csv", "uk_police",
                                           "police")]:
                r = ingest_incidents(path, source_kind=source, profile=profile, engine=engine)
                counts.append((r.total, r.loaded, r.rejected, r.duplicates, r.unassigned))
            frame = incident_frame(engine)
            columns = ["record_key", "occurred_on", "occurred_time", "occurred_start", "category", "count", "lon",
                       "lat", "neighbourhood_id", "assignment", "victim_age_group"]
            results.append((counts, frame[columns].sort_values("record_key").astype(str).to_dict("records")))
        finally:
            cleanup()
    assert results[0][0] == results[1][0]
    assert results[0][1] == results[1][1]


def test_unknown_source_kind_and_label_option(sqlite_url, tmp_path):
    engine = get_engine(sqlite_url)
    with pytest.raises(ImportFailed, match="source kind"):
        ingest_incidents(EXAMPLES / "generic_incidents.csv", source_kind="rumour", profile="generic_incidents",
                         engine=engine)
    path = tmp_path / "robos.tab"
    path.write_text("month\tlongitude\tlatitude\tlocation\tlsoa_code\n2022-01-01\t-1.17\t53.0\tX Close\tE01013893\n")
    report = ingest_incidents(path, source_kind="police", profile="uk_police", engine=engine, label="Robbery")
    assert report.loaded == 1 and not report.unknown_labels
    assert incident_frame(engine)["category"].tolist() == ["robbery_person"]


@pytest.mark.parametrize("text", [
    '\ufeffa,b,c\n1,"x, y",3\n4,"say ""hi""",6\n',  # BOM, quoted delimiter, escaped quotes: fast path
    'a;b;c\r\n1;2;3\r\n\r\n4;5;6\r\n',  # CRLF and a blank line: read_table
    'a,b,c\n1,"two\nlines",3\n4,5,6\n',  # a line break inside quotes: read_table
    'a,b,c\n1,2\n4,5,6,7\n8,9,10\n',  # too few and too many fields: read_table reports them
])
def test_fast_reader_agrees_with_read_table(tmp_path, monkeypatch, text):
    from observatory.ingest.incidents import read as inc_read
    from observatory.ingest.readers import read_table

    path = tmp_path / "t.csv"
    path.write_bytes(text.encode("utf-8"))
    fallbacks = []
    monkeypatch.setattr(inc_read, "read_table", lambda *a, **k: fallbacks.append(1) or read_table(*a, **k))
    fast = inc.read_incident_table(path, load_profile("generic_incidents"))
    assert bool(fallbacks) == ("\ufeff" not in text)  # only the clean file takes the C parser
    slow = read_table(path)
    assert fast.columns == slow.columns and fast.row_numbers == slow.row_numbers
    assert fast.frame.astype(str).values.tolist() == slow.frame.astype(str).values.tolist()
    assert [(b.row_number, b.reason) for b in fast.bad_rows] == [(b.row_number, b.reason) for b in slow.bad_rows]
