"""ENVIPE by INEGI's definition, from the profile: the published 2020 figures to the published decimal.

INEGI, ENVIPE 2021 (crimes of 2020): 27.6 million crimes, 10.1% reported, an investigation file
opened in 6.7% of all crimes, cifra negra 93.3% (``../shared/docs/indicators.md``). The reference
computation in each test reads the raw CSV with pandas, independently of the importer.
"""

from __future__ import annotations

import pandas as pd
import pytest

from observatory.indicators import survey, survey_figures
from observatory.indicators.survey_totals import weighted_total
from observatory.ingest.surveys import ingest_survey, load_survey_profile, normalise_survey
from tests.conftest import realdata

ENVIPE = ("mexico_surveys", "envipe_2021", "envipe2021_TMod_Vic_national.csv")


@pytest.fixture(scope="module")
def raw() -> pd.DataFrame:
    return pd.read_csv(realdata(*ENVIPE), dtype=str)


@pytest.fixture(scope="module")
def events() -> pd.DataFrame:
    return survey.flatten_items(normalise_survey(realdata(*ENVIPE), load_survey_profile("envipe")).frame)


def reference(raw: pd.DataFrame) -> dict[str, float]:
    """INEGI's definitions written out by hand on the raw file."""
    universe = raw[raw["BPCOD"] != "03"]
    w = universe["FAC_DEL"].astype(float)
    reported = (universe["BP1_20"] == "1") | (universe["BP1_21"] == "1")
    opened = universe["BP1_24"] == "1"
    return {"crimes": w.sum(), "reported": w[reported].sum() / w.sum(), "opened": w[opened].sum() / w.sum(),
            "opened_of_reported": w[opened & reported].sum() / w[reported].sum()}


def test_definition_is_written_in_the_profile():
    envipe = load_survey_profile("envipe").definitions
    assert envipe.name == "cifra_negra_inegi" and envipe.dark_figure == "not_file_opened"
    assert envipe.exclude_crime_types == ("property_damage",)
    for module in ("ecsc_hurto_personas", "ecsc_extorsion", "ecsc_rinas", "ecsc_hurto_residencia"):
        dane = load_survey_profile(module).definitions
        assert (dane.name, dane.dark_figure, dane.exclude_crime_types) == ("cifra_oculta_dane", "not_reported", ())


@pytest.mark.realdata
def test_envipe_2021_reproduces_inegi_published_2020_figures(raw, events):
    definition = load_survey_profile("envipe").definitions
    ref = reference(raw)
    universe = survey.reporting_universe(events, definition)
    crimes = weighted_total(universe, **survey.design_columns(universe)).iloc[0]
    design = survey.design_columns(events)
    assert design == {"psu": "psu", "strata": "stratum"}  # EST_DIS / UPM_DIS, declared in the profile
    reported = survey.reporting_rate(events, definition=definition, **design).iloc[0]
    opened = survey.file_opened_rate(events, definition=definition, **design).iloc[0]
    dark = survey.dark_figure(events, definition, **design).iloc[0]
    assert crimes["estimate"] == pytest.approx(ref["crimes"])
    assert reported["estimate"] == pytest.approx(ref["reported"])
    assert opened["estimate"] == pytest.approx(ref["opened"])
    assert dark["estimate"] == pytest.approx(1 - ref["opened"])
    # INEGI's published decimals.
    assert round(crimes["estimate"] / 1e6, 1) == 27.6
    assert round(reported["estimate"] * 100, 1) == 10.1
    assert round(opened["estimate"] * 100, 1) == 6.7
    assert round(ref["opened_of_reported"] * 100, 1) == 66.9
    assert round(dark["estimate"] * 100, 1) == 93.3
    # The published figure lies inside the interval (the old definition's 9.43% CI excluded 10.1%).
    assert reported["ci_low"] < 0.101 < reported["ci_high"]
    assert {crimes["method"], reported["method"], dark["method"]} == {"taylor"}


@pytest.mark.realdata
def test_envipe_figures_table_names_the_definition(events):
    definition = load_survey_profile("envipe").definitions
    figures = survey_figures.wave_figures(pd.DataFrame(), pd.DataFrame(), events.assign(profile="envipe"),
                                          {"envipe": definition})
    overall = figures[figures["crime_type"] == "all"].set_index("indicator")
    assert set(overall["definition"]) == {"cifra_negra_inegi"}
    assert round(overall.loc["dark_figure", "estimate"] * 100, 1) == 93.3
    # Per crime type: every BPCOD but vandalism, each with the same definition.
    types = set(figures["crime_type"]) - {"all"}
    assert "property_damage" not in types and {"vehicle_theft", "robbery_person", "extortion"} <= types
    vehicle = figures[(figures["crime_type"] == "vehicle_theft") & (figures["indicator"] == "reporting")].iloc[0]
    own = events[events["crime_type"] == "vehicle_theft"]
    assert vehicle["estimate"] == pytest.approx((own["weight"] * own["reported"]).sum() / own["weight"].sum())


@pytest.mark.realdata
def test_envipe_through_the_database(raw, db_url):
    """Imported, stored, read back and estimated: the same published figures, on each backend."""
    from observatory import queries
    from observatory.db.session import get_engine

    engine = get_engine(db_url)
    report = ingest_survey(realdata(*ENVIPE), profile="envipe", engine=engine)
    assert report.loaded == 37_156 and report.details["territory"]["code"] is None  # whole survey: stated
    assert any("no territory given" in w for w in report.warnings)
    events = queries.survey_responses(engine, unit="event")
    facts = queries.survey_profile_facts(events["profile"].unique().tolist())
    figures = survey_figures.wave_figures(pd.DataFrame(), pd.DataFrame(), events,
                                          {k: v["definition"] for k, v in facts.items()})
    overall = figures[figures["crime_type"] == "all"].set_index("indicator")
    ref = reference(raw)
    assert overall.loc["crimes", "estimate"] == pytest.approx(ref["crimes"])
    assert overall.loc["reporting", "estimate"] == pytest.approx(ref["reported"])
    assert overall.loc["dark_figure", "estimate"] == pytest.approx(1 - ref["opened"])
    assert overall.loc["dark_figure", "definition"] == "cifra_negra_inegi"
