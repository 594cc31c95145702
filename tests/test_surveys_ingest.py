"""Survey microdata ingestion: built-in profiles on fixtures and real files, re-imports, bad rows."""

from __future__ import annotations

import csv
import datetime as dt

import pytest
import shapely
from sqlalchemy import func, insert, select

from observatory.db.models import (
    BoundaryLayer,
    ImportBatch,
    Neighbourhood,
    RejectedRow,
    SurveyResponse,
    SurveyWave,
)
from observatory.db.session import get_engine
from observatory.ingest import surveys
from observatory.ingest.report import ImportFailed
from observatory.ingest.surveys import SurveyProfileError, ingest_survey, load_survey_profile, wave_period
from tests.conftest import EXAMPLES, FIXTURES, realdata

SURVEY_FIXTURES = FIXTURES / "surveys"


def count(engine, model, *where) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(model).where(*where)).scalar_one()


def add_primary_layer(engine, codes: dict[str, str]) -> dict[str, int]:
    """A primary neighbourhood layer whose areas have ``codes`` (code -> district)."""
    with engine.begin() as conn:
        layer = conn.execute(insert(BoundaryLayer).values(name="barrios", level="neighbourhood", is_primary=True))
        layer_id = layer.inserted_primary_key[0]
        ids = {}
        for i, (code, district) in enumerate(codes.items()):
            wkb = shapely.to_wkb(shapely.box(i, 0, i + 1, 1))
            result = conn.execute(insert(Neighbourhood).values(
                layer_id=layer_id, code=code, name=f"Barrio {code}", name_key=f"barrio {code.lower()}",
                district=district, geometry_wkb=wkb, active=True))
            ids[code] = result.inserted_primary_key[0]
    return ids


# --------------------------------------------------------------------------- generic format, both backends


def test_generic_example_imports_once_and_assigns_codes(db_url):
    engine = get_engine(db_url)
    ids = add_primary_layer(engine, {"N01": "Centro", "N04": "Norte", "N07": "Sur"})
    path = EXAMPLES / "generic_survey.csv"
    report = ingest_survey(path, profile="generic_survey", engine=engine)
    assert report.balanced and report.total == 60 and report.loaded == 60 and report.rejected == 0
    assert report.details["waves"] == {"Example survey 2023": 30, "Example survey 2024": 30}
    with open(path, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    known = [r for r in rows if r["neighbourhood_code"] in ids]
    assert report.details["assigned"] == len(known) > 0
    assert report.unassigned == 60 - len(known)
    assert count(engine, SurveyResponse) == 60
    assert count(engine, SurveyWave) == 2
    with engine.connect() as conn:
        stored = conn.execute(select(SurveyResponse).where(SurveyResponse.respondent_key == known[0]["respondent_id"]))
        first = stored.one()
        batch = conn.execute(select(ImportBatch).where(ImportBatch.id == report.batch_id)).one()
    assert first.neighbourhood_id == ids[known[0]["neighbourhood_code"]]
    assert first.district is not None and first.weight == pytest.approx(float(known[0]["weight"]))
    assert first.items["trust_police"] == int(known[0]["trust_police"])
    assert first.items["victim_any"] == int(any(int(known[0][c]) for c in known[0] if c.startswith("victim_")))
    assert batch.source_kind == "survey" and batch.status == "done" and batch.loaded == 60

    again = ingest_survey(path, profile="generic_survey", engine=engine)
    assert again.loaded == 0 and again.duplicates == 60 and again.balanced
    assert count(engine, SurveyResponse) == 60


def test_broken_rows_are_reported_and_the_rest_load(db_url, tmp_path):
    engine = get_engine(db_url)
    rejects = tmp_path / "rejects.csv"
    report = ingest_survey(SURVEY_FIXTURES / "generic_survey_broken.csv", profile="generic_survey",
                           engine=engine, rejects_path=rejects)
    assert report.total == 9 and report.loaded == 3 and report.rejected == 6 and report.balanced
    reasons = {r.row_number: (r.field, r.reason) for r in report.rejections}
    assert reasons[4] == ("weight", "the expansion weight is blank")
    assert reasons[5][1] == "the expansion weight must be positive"
    assert reasons[6][1] == "the expansion weight is not a number"
    assert reasons[7] == ("respondent_id", "the respondent id is blank")
    assert "repeated in the file (first at row 2)" in reasons[8][1]
    assert "too few fields" in reasons[10][1]
    # An answer outside the codebook is kept as missing and reported, the respondent is kept.
    assert any("trust_police" in w and "row 9" in w for w in report.warnings)
    assert count(engine, RejectedRow, RejectedRow.batch_id == report.batch_id) == 6
    with open(rejects, newline="", encoding="utf-8") as fh:
        written = list(csv.DictReader(fh))
    assert [int(r["row"]) for r in written] == [4, 5, 6, 7, 8, 10]
    assert written[0]["reason"] == "the expansion weight is blank"


def test_failed_import_leaves_database_unchanged(sqlite_url, monkeypatch):
    engine = get_engine(sqlite_url)

    def explode(conn, report):
        raise RuntimeError("simulated crash after the rows were inserted")

    monkeypatch.setattr(surveys, "INSERT_CHUNK", 25)  # several insert statements before the crash
    monkeypatch.setattr(surveys, "close_batch", explode)
    with pytest.raises(RuntimeError, match="simulated"):
        ingest_survey(EXAMPLES / "generic_survey.csv", profile="generic_survey", engine=engine)
    assert count(engine, SurveyResponse) == 0
    assert count(engine, SurveyWave) == 0
    assert count(engine, ImportBatch) == 0


# --------------------------------------------------------------------------- built-in profiles on fixtures

FIXTURE_CASES = [
    ("envipe", "envipe2021_TMod_Vic_fixture.csv", "ENVIPE 2021", 6),
    ("envipe_persons", "envipe2021_TPer_Vic2_fixture.csv", "ENVIPE 2021", 4),
    ("envipe_households", "envipe2021_TPer_Vic2_fixture.csv", "ENVIPE 2021", 4),
    ("ensu", "conjunto_de_datos_cb_ensu_01_2015.csv", "ENSU 2015 Q1", 6),
    ("ecsc", "ecsc/ecsc2020_01_datos_de_la_vivienda.csv", "ECSC 2020", 5),
    ("ecsc_hurto_personas", "ecsc/ecsc2020_09_hurto_a_personas.csv", "ECSC 2020", 4),
    ("ecsc_hurto_residencia", "ecsc/ecsc2020_06_hurto_a_residencia.csv", "ECSC 2020", 1),
]


@pytest.mark.parametrize(("profile", "name", "wave", "rows"), FIXTURE_CASES)
def test_builtin_profiles_import_their_fixtures(sqlite_url, profile, name, wave, rows):
    engine = get_engine(sqlite_url)
    report = ingest_survey(SURVEY_FIXTURES / name, profile=profile, engine=engine)
    assert report.balanced and report.total == rows and report.loaded == rows
    assert report.details["waves"] == {wave: rows}
    again = ingest_survey(SURVEY_FIXTURES / name, profile=profile, engine=engine)
    assert again.loaded == 0 and again.duplicates == rows
    assert count(engine, SurveyResponse) == rows


def test_fixture_values_are_mapped_as_the_codebooks_say(sqlite_url):
    engine = get_engine(sqlite_url)
    for profile, name, _, _ in FIXTURE_CASES:
        ingest_survey(SURVEY_FIXTURES / name, profile=profile, engine=engine)
    with engine.connect() as conn:
        rows = {(r.unit, r.respondent_key): r for r in conn.execute(select(SurveyResponse))}
        periods = {w.name: (w.period_start, w.period_end, w.reference_months) for w in conn.execute(select(SurveyWave))}
    assert periods["ENVIPE 2021"] == (dt.date(2020, 1, 1), dt.date(2020, 12, 31), 12)  # crimes of 2020
    assert periods["ENSU 2015 Q1"] == (dt.date(2015, 1, 1), dt.date(2015, 3, 31), 3)
    assert periods["ECSC 2020"] == (None, None, 12)
    event = rows[("event", "0912345.01.01.02.05.1")]  # reported to the MP, carpeta opened
    assert event.items == {"crime_type": "robbery_person", "reported": 1, "report_file_opened": 1}
    assert (event.sex, event.age_group, event.area_code, event.weight) == ("F", "30-44", "09010", 1200.0)
    assert rows[("event", "0912346.02.01.02.05.1")].items["report_file_opened"] == 0  # not reported: no file
    assert "report_file_opened" not in rows[("event", "0912348.04.01.02.02.1")].items  # 9 = don't know
    assert rows[("event", "1412349.05.01.02.09.1")].age_group is None  # EDAD 98 = not specified
    person = rows[("person", "0911502.02.01.02")]
    assert person.items["victim_fraud"] == 1 and person.items["times_victimised"] == 3
    assert person.items["victim_any"] == 1
    assert rows[("person", "0911503.03.01.03")].items["victim_fraud"] == 0  # 9 and 2: any() of known answers
    household = rows[("household", "0911502.02.01")]  # the same file read as households (FAC_HOG)
    assert household.items == {"victim_vehicle_theft": 1, "victim_theft_from_vehicle": 0,
                               "victim_property_damage": 1, "victim_burglary_residential": 0}
    assert "victim_theft_from_vehicle" not in rows[("household", "0911503.03.01")].items  # 9 = don't know
    ensu = rows[("person", "01-00001-01B128-00080-1-1-01")]  # carriage returns stripped from the codes
    assert ensu.items == {"unsafe_city": 1, "crime_trend_future": 1, "avoid_valuables": 1, "avoid_walking_night": 1,
                          "police_effective": 3}
    assert ensu.area_code == "01"
    # P1, P2, P4_1, P4_2 all "9": no answer; P6_1 = 3 (the police is little effective)
    assert rows[("person", "01-00001-01B128-00080-4-1-01")].items == {"police_effective": 3}
    dwelling = rows[("household", "501434")]
    assert dwelling.items["victim_burglary_residential"] == 1 and dwelling.area_code == "11001"
    assert rows[("household", "501448")].weight == pytest.approx(102.027982509886)  # scientific notation
    theft = rows[("event", "hurto_personas:501461-1-5-5")]
    assert theft.items == {"crime_type": "theft_person", "reported": 1} and theft.area_code == "00000"
    # The same person's events in two modules of one wave are two rows, not duplicates.
    assert rows[("event", "hurto_personas:501434-1-1-1")].items["crime_type"] == "theft_person"
    burglary = rows[("event", "hurto_residencia:501434-1-1-1")]
    assert burglary.items == {"crime_type": "burglary_residential", "reported": 1}


def test_wave_periods():
    assert wave_period("quarter", {"month": "12", "yy": "15"}) == (dt.date(2015, 10, 1), dt.date(2015, 12, 31))
    assert wave_period("quarter", {"month": "06", "year": "2016"}) == (dt.date(2016, 4, 1), dt.date(2016, 6, 30))
    assert wave_period("previous_year", {"year": "2021"}) == (dt.date(2020, 1, 1), dt.date(2020, 12, 31))
    assert wave_period(None, {"year": "2021"}) is None
    assert wave_period("quarter", {"year": "2021"}) is None


# --------------------------------------------------------------------------- profiles written by a city


def test_city_yaml_profile_worked_example(sqlite_url, tmp_path):
    data = tmp_path / "encuesta_2024.csv"
    data.write_text(
        "folio;factor;barrio;sexo;edad;inseguro_barrio;confianza_policia\n"
        "1;120,5;B01;2;34;1;2\n"
        "2;80;B02;1;61;2;4\n"
        "3;;B01;1;22;1;1\n",
        encoding="cp1252",
    )
    profile = tmp_path / "mi_encuesta.yaml"
    profile.write_text(
        "kind: survey\nname: mi_encuesta\nunit: person\nrespondent_id: folio\nweight: factor\n"
        "area_code: barrio\nsex: sexo\nage: edad\nwave_file_pattern: '(?P<year>20\\d\\d)'\n"
        "wave_template: 'Encuesta barrial {year}'\n"
        "items:\n"
        "  unsafe_neighbourhood: {column: inseguro_barrio, codes: {'1': 1, '2': 0}}\n"
        "  trust_police: {column: confianza_policia}\n",
        encoding="utf-8",
    )
    engine = get_engine(sqlite_url)
    report = ingest_survey(data, profile=str(profile), engine=engine)
    assert (report.loaded, report.rejected) == (2, 1)
    with engine.connect() as conn:
        first = conn.execute(select(SurveyResponse).where(SurveyResponse.respondent_key == "1")).one()
        wave = conn.execute(select(SurveyWave.name)).scalar_one()
    assert wave == "Encuesta barrial 2024"
    assert first.weight == pytest.approx(120.5)  # decimal comma
    assert first.items == {"unsafe_neighbourhood": 1, "trust_police": 2}
    assert (first.sex, first.age_group) == ("F", "30-44")


def test_profile_mistakes_are_named(sqlite_url, tmp_path):
    engine = get_engine(sqlite_url)
    with pytest.raises(SurveyProfileError, match=r"built-in survey profiles are .*envipe"):
        load_survey_profile("no_such_survey")
    wrong_code = tmp_path / "wrong_code.toml"
    wrong_code.write_text('kind = "survey"\nrespondent_id = "id"\nweight = "w"\n'
                          '[items.unsafe_city]\ncolumn = "p1"\ncodes = { "1" = 5 }\n', encoding="utf-8")
    with pytest.raises(SurveyProfileError, match=r"items.unsafe_city.codes\['1'\].*5 is not one of 0, 1"):
        load_survey_profile(wrong_code)
    unknown_item = tmp_path / "unknown_item.toml"
    unknown_item.write_text('kind = "survey"\nrespondent_id = "id"\nweight = "w"\n'
                            '[items.happiness]\ncolumn = "p9"\n', encoding="utf-8")
    with pytest.raises(SurveyProfileError, match="'happiness' is not a canonical survey item"):
        load_survey_profile(unknown_item)
    wrong_column = tmp_path / "wrong_column.toml"
    wrong_column.write_text('kind = "survey"\nname = "mine"\nrespondent_id = "respondent_id"\nweight = "FACTOR"\n'
                            'wave = "2024"\n', encoding="utf-8")
    with pytest.raises(ImportFailed, match=r"column FACTOR \(profile mine, field weight\) is not in the header"):
        ingest_survey(EXAMPLES / "generic_survey.csv", profile=str(wrong_column), engine=engine)
    no_wave = tmp_path / "no_wave.toml"
    no_wave.write_text('kind = "survey"\nrespondent_id = "respondent_id"\nweight = "weight"\n', encoding="utf-8")
    with pytest.raises(ImportFailed, match="pass --wave"):
        ingest_survey(EXAMPLES / "generic_survey.csv", profile=str(no_wave), engine=engine)
    report = ingest_survey(EXAMPLES / "generic_survey.csv", profile=str(no_wave), wave="Ronda 1", engine=engine)
    assert report.loaded == 60 and report.details["waves"] == {"Ronda 1": 60}
    assert count(engine, ImportBatch) == 1  # the failed attempts stored nothing


# --------------------------------------------------------------------------- real files


@pytest.mark.realdata
def test_real_survey_files_import_as_waves(sqlite_url):
    engine = get_engine(sqlite_url)
    mx = ("mexico_surveys",)
    envipe = ingest_survey(realdata(*mx, "envipe_2021", "envipe2021_TMod_Vic_national.csv"), profile="envipe",
                           engine=engine)
    assert (envipe.total, envipe.loaded, envipe.rejected) == (37_156, 37_156, 0)
    persons = ingest_survey(realdata(*mx, "envipe_2021", "envipe2021_TPer_Vic2_cdmx.csv"),
                            profile="envipe_persons", engine=engine)
    assert (persons.total, persons.loaded) == (5831, 5831)
    homes = ingest_survey(realdata(*mx, "envipe_2021", "envipe2021_TPer_Vic2_cdmx.csv"),
                          profile="envipe_households", engine=engine)
    assert (homes.total, homes.loaded, homes.duplicates) == (5831, 5831, 0)  # same wave, other unit
    for quarter, rows in zip((1, 2, 3, 4), (2025, 2059, 2040, 2024), strict=True):
        name = f"conjunto_de_datos_cb_ensu_0{quarter}_2015"
        path = realdata(*mx, "ensu_2015", f"conjunto_de_datos_ensu_0{quarter}_2015", name, "conjunto_de_datos",
                        f"{name}.csv")
        report = ingest_survey(path, profile="ensu", engine=engine)
        assert report.balanced and report.loaded == rows
        assert report.details["waves"] == {f"ENSU 2015 Q{quarter}": rows}
    again = ingest_survey(path, profile="ensu", engine=engine)
    assert again.loaded == 0 and again.duplicates == 2024
    dwellings = ingest_survey(realdata("colombia", "ecsc_2020", "ecsc2020_01_datos_de_la_vivienda.csv"),
                              profile="ecsc", engine=engine)
    assert (dwellings.total, dwellings.loaded) == (39_791, 39_791)
    # Only the stated defaults: no boundary layer, and no territory given (the whole survey is the figure).
    assert len(dwellings.warnings) == 2 and dwellings.details["territory"]["code"] is None
    assert dwellings.details["items"]["victim_burglary_residential"] == 39_791
    theft = ingest_survey(realdata("colombia", "ecsc_2020", "ecsc2020_09_hurto_a_personas.csv"),
                          profile="ecsc_hurto_personas", engine=engine)
    assert (theft.total, theft.loaded) == (5135, 5135)
    modules = {"ecsc_hurto_residencia": ("ecsc2020_06_hurto_a_residencia.csv", 817),
               "ecsc_hurto_ganado": ("ecsc2020_07_hurto_de_ganado_semovientes_o_aves_de_corral.csv", 143),
               "ecsc_hurto_vehiculos": ("ecsc2020_08_hurto_a_vehiculos.csv", 1284),
               "ecsc_rinas": ("ecsc2020_10_rinas_y_peleas.csv", 636),
               "ecsc_extorsion": ("ecsc2020_11_extorsion.csv", 1251)}
    for profile, (name, rows) in modules.items():
        report = ingest_survey(realdata("colombia", "ecsc_2020", name), profile=profile, engine=engine)
        assert (report.total, report.loaded, report.duplicates) == (rows, rows, 0), profile
    with engine.connect() as conn:
        waves = dict(conn.execute(
            select(SurveyWave.name, func.count(SurveyResponse.id)).join(SurveyResponse).group_by(SurveyWave.name)
        ).all())
        weights = conn.execute(select(func.sum(SurveyResponse.weight)).join(SurveyWave).where(
            SurveyWave.name == "ENVIPE 2021", SurveyResponse.unit == "event")).scalar_one()
        households = conn.execute(select(SurveyResponse.items).join(SurveyWave).where(
            SurveyResponse.unit == "household", SurveyWave.name == "ECSC 2020")).scalars()
        burgled = sum(items["victim_burglary_residential"] for items in households)
    assert waves == {"ENVIPE 2021": 37_156 + 5831 + 5831, "ENSU 2015 Q1": 2025, "ENSU 2015 Q2": 2059,
                     "ENSU 2015 Q3": 2040, "ENSU 2015 Q4": 2024,
                     "ECSC 2020": 39_791 + 5135 + 817 + 143 + 1284 + 636 + 1251}
    assert weights == pytest.approx(29_446_752)  # the FAC_DEL total: 29.4 million crimes in 2020
    assert burgled == 817  # the households of the burglary module (one row each)
