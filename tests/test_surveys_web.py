"""Survey figures reach the dashboard's data functions: a Colombian install with ECSC 2020 (households and
every crime module), ENVIPE crime events with the sex filter, level / wave / method on every figure."""

from __future__ import annotations

import pandas as pd
import pytest

from observatory.ingest.surveys import ingest_survey
from observatory.web.state import ViewState
from tests.conftest import realdata

ECSC_MODULES = {
    "ecsc": "ecsc2020_01_datos_de_la_vivienda.csv",
    "ecsc_hurto_residencia": "ecsc2020_06_hurto_a_residencia.csv",
    "ecsc_hurto_ganado": "ecsc2020_07_hurto_de_ganado_semovientes_o_aves_de_corral.csv",
    "ecsc_hurto_vehiculos": "ecsc2020_08_hurto_a_vehiculos.csv",
    "ecsc_hurto_personas": "ecsc2020_09_hurto_a_personas.csv",
    "ecsc_rinas": "ecsc2020_10_rinas_y_peleas.csv",
    "ecsc_extorsion": "ecsc2020_11_extorsion.csv",
}


def _web(monkeypatch, url):
    monkeypatch.setenv("OBSERVATORY_DATABASE_URL", url)
    monkeypatch.setenv("OBSERVATORY_CACHE", "null")
    from observatory.web import data
    from observatory.web.data import runtime

    runtime.configure(url)  # an app built by an earlier test may have pointed the data layer elsewhere
    return data


@pytest.mark.realdata
def test_ecsc_2020_reaches_the_dashboard(db_url, monkeypatch):
    from observatory.db.session import get_engine

    engine = get_engine(db_url)
    for profile, name in ECSC_MODULES.items():
        report = ingest_survey(realdata("colombia", "ecsc_2020", name), profile=profile, engine=engine,
                               territory="11001")  # Bogotá
        assert report.details["territory"]["code"] == "11001"
    data = _web(monkeypatch, db_url)
    figures = data.survey_figures(ViewState())
    assert set(figures["wave"]) == {"ECSC 2020"} and set(figures["level"]) == {"city"}
    assert set(figures["method"]) == {"kish_wilson"}  # the snapshot has no strata / PSUs: the fallback, said so
    events = figures[figures["unit"] == "event"]
    assert set(events["definition"]) == {"cifra_oculta_dane"}
    assert {"theft_person", "extortion", "burglary_residential", "vehicle_theft"} <= set(events["crime_type"])
    # Reference: Bogotá's theft-from-the-person reporting rate from the raw files, by hand.
    dwell = pd.read_csv(realdata("colombia", "ecsc_2020", ECSC_MODULES["ecsc"]), sep=";", dtype=str)
    theft = pd.read_csv(realdata("colombia", "ecsc_2020", ECSC_MODULES["ecsc_hurto_personas"]), sep=";", dtype=str)
    theft = theft.merge(dwell[["DIRECTORIO", "DEPMUNI"]], on="DIRECTORIO")
    theft = theft[(theft["DEPMUNI"] == "11001") & theft["P1324"].isin(["1", "2"])]
    w = theft["FEX_C"].astype(float)
    row = events[(events["indicator"] == "reporting") & (events["crime_type"] == "theft_person")].iloc[0]
    assert row["estimate"] == pytest.approx(w[theft["P1324"] == "1"].sum() / w.sum())
    assert row["n"] == len(theft)
    dark = events[(events["indicator"] == "dark_figure") & (events["crime_type"] == "theft_person")].iloc[0]
    assert dark["estimate"] == pytest.approx(1 - row["estimate"])
    # Households of Bogotá victimised by burglary: presence in the burglary module, by hand.
    homes = figures[(figures["indicator"] == "household_victimisation")
                    & (figures["crime_type"] == "burglary_residential")].iloc[0]
    burgled = set(pd.read_csv(realdata("colombia", "ecsc_2020", ECSC_MODULES["ecsc_hurto_residencia"]), sep=";",
                              dtype=str)["DIRECTORIO"])
    bogota = dwell[dwell["DEPMUNI"] == "11001"]
    wh = bogota["FEX_C"].astype(float)
    assert homes["estimate"] == pytest.approx(wh[bogota["DIRECTORIO"].isin(burgled)].sum() / wh.sum())
    assert homes["ci_low"] < homes["estimate"] < homes["ci_high"] and homes["n"] == len(bogota)
    # The page draws them: no "No survey loaded".
    import sys

    from observatory.web.app import create_app

    create_app(db_url)
    percepcion = sys.modules["pages.percepcion"]
    outputs = percepcion.perception_outputs(ViewState(lang="es"))
    assert "No hay encuestas cargadas" not in str(outputs[0])
    assert "Cifra oculta (DANE)" in str(outputs[8]) and "ECSC 2020" in str(outputs[8])  # the figures table


@pytest.mark.realdata
def test_sex_filter_changes_envipe_figures(db_url, monkeypatch):
    from observatory.db.session import get_engine

    path = realdata("mexico_surveys", "envipe_2021", "envipe2021_TMod_Vic_national.csv")
    ingest_survey(path, profile="envipe", engine=get_engine(db_url), territory="09")
    data = _web(monkeypatch, db_url)
    raw = pd.read_csv(path, dtype=str)
    raw = raw[(raw["BP1_2C"] == "09") & (raw["BPCOD"] != "03")]
    for sex, code in ((None, None), ("F", "2"), ("M", "1")):
        state = ViewState(sex=sex)
        assert data.filters_applied(state)["event"]
        figures = data.survey_figures(state)
        row = figures[(figures["indicator"] == "reporting") & (figures["crime_type"] == "all")].iloc[0]
        rows = raw if code is None else raw[raw["SEXO"] == code]
        w = rows["FAC_DEL"].astype(float)
        reported = (rows["BP1_20"] == "1") | (rows["BP1_21"] == "1")
        assert row["estimate"] == pytest.approx(w[reported].sum() / w.sum())
        assert row["n"] == len(rows) and row["level"] == "state" and row["method"] == "taylor"
    women = data.survey_figures(ViewState(sex="F")).set_index(["indicator", "crime_type"])
    everyone = data.survey_figures(ViewState()).set_index(["indicator", "crime_type"])
    assert women.loc[("reporting", "all"), "estimate"] != everyone.loc[("reporting", "all"), "estimate"]
    headline = data.survey_headline(ViewState())
    assert headline["victimisation"] is None and headline["victimisation_unreliable"] is None  # no data, no flag


def test_seeded_city_cards_and_fear_table_carry_interval_and_n(db_url, monkeypatch):
    """The overview's survey cards and the fear table under the stacked bars: interval and n, by hand."""
    import sys

    from browser.seed import build

    from observatory.db.session import get_engine
    from observatory.indicators import fear

    build(get_engine(db_url), nx=4, ny=3, incidents=800)
    data = _web(monkeypatch, db_url)
    persons = data.latest_wave(data.survey_persons())
    levels = fear.fear_scores(persons)["fear_level"]
    answered = persons[levels.notna()]
    high = (levels[levels.notna()] == "high").astype(float)
    expected = (answered["weight"] * high).sum() / answered["weight"].sum()
    headline = data.survey_headline(ViewState())
    assert headline["fear_high"] == pytest.approx(expected)
    assert headline["fear_high_n"] == len(answered)
    assert headline["fear_high_ci_low"] < expected < headline["fear_high_ci_high"]
    assert headline["survey_wave"] == str(persons["wave"].iloc[0])
    assert headline["survey_level"] == "city"  # the city's own survey: no territory column to limit

    from observatory.web.app import create_app

    create_app(db_url)
    resumen, percepcion = sys.modules["pages.resumen"], sys.modules["pages.percepcion"]
    note = resumen.survey_kpi_note(headline, "fear_high", "es")
    assert f"n = {len(answered):,}".replace(",", ".") in note.replace("\u202f", ".").replace("\xa0", ".")
    assert headline["survey_wave"] in note and "IC 95 %" in note
    rows = str(percepcion.fear_table(ViewState(lang="es")))
    assert "Nivel:" in rows and "Ola:" in rows and "fear-table" in rows
    # No data never carries the unreliable mark.
    assert percepcion._reliability(True, 0, "es") == "sin datos"


def test_seeded_perception_vs_recorded_uses_the_public_counts(db_url, monkeypatch):
    from browser.seed import build

    from observatory.db.session import get_engine
    from observatory.indicators import survey

    build(get_engine(db_url), nx=4, ny=3, incidents=3000)
    data = _web(monkeypatch, db_url)
    state = ViewState()
    side = data.recorded_vs_survey(state, "public").set_index("code")
    public = data.area_stats(state, "public").set_index("code")
    months = data.monthly(state, "public")["month"]
    n_months = (pd.Timestamp(months.max()).year - pd.Timestamp(months.min()).year) * 12 + \
        pd.Timestamp(months.max()).month - pd.Timestamp(months.min()).month + 1
    for code, row in side.iterrows():
        count = public.loc[code, "count"]
        assert (pd.isna(row["count"]) and pd.isna(count)) or row["count"] == count  # the published count
        if not pd.isna(count):
            expected = float(count) * 12 / n_months / public.loc[code, "population"] * 1e5
            assert row["recorded_rate"] == pytest.approx(expected)
    # The survey wave (2024) and the records (three years) cover different periods: flagged.
    assert side["period_mismatch"].all() and (side["recorded_months"] == n_months).all()
    persons = data.latest_wave(data.survey_persons())
    by_area = survey.victimisation_prevalence(persons, by="area").set_index("area")
    for code, row in side.iterrows():
        assert row["survey_rate"] == pytest.approx(by_area.loc[code, "estimate"] * 1e5)
    gaps = side["fear_gap"].dropna().to_numpy()
    assert (gaps[:-1] >= gaps[1:]).all()


def test_filter_note_only_when_a_loaded_survey_lacks_the_field(db_url, monkeypatch):
    from browser.seed import build

    from observatory.db.session import get_engine

    build(get_engine(db_url), nx=3, ny=3, incidents=300)  # persons with sex and age only
    data = _web(monkeypatch, db_url)
    assert all(data.filters_applied(ViewState(sex="F", age="30-44")).values())
    women = data.survey_figures(ViewState(sex="F")).set_index(["wave", "indicator"])
    persons = data.survey_persons()
    for wave in persons["wave"].unique():
        rows = persons[(persons["wave"] == wave) & (persons["sex"] == "F") & persons["victim_any"].notna()]
        expected = (rows["weight"] * rows["victim_any"]).sum() / rows["weight"].sum()
        assert women.loc[(wave, "victimisation"), "estimate"] == pytest.approx(expected)
        assert women.loc[(wave, "victimisation"), "n"] == len(rows)


def test_level_is_whole_survey_until_limited_to_the_territory(db_url, monkeypatch):
    from pathlib import Path

    from observatory.db.session import get_engine

    fixture = Path(__file__).parent / "fixtures" / "surveys" / "conjunto_de_datos_cb_ensu_01_2015.csv"
    report = ingest_survey(fixture, profile="ensu", engine=get_engine(db_url))  # no --territory, no layer
    assert report.details["territory"]["code"] is None
    data = _web(monkeypatch, db_url)
    assert data.wave_levels(ViewState()) == {"ENSU 2015 Q1": "survey"}
    assert set(data.survey_figures(ViewState())["level"]) == {"survey"}
