"""Every figure of an ENVIPE 2021 Mexico City wave (persons, households, crime events) against a hand
computation on the raw files: victimisation, revictimisation, prevalence per crime type, households
victimised per crime type, incidence per 100,000 and the per-crime-type reporting rate."""

from __future__ import annotations

import pandas as pd
import pytest

from observatory.indicators import survey, survey_figures
from observatory.ingest.surveys import load_survey_profile, normalise_survey
from tests.conftest import realdata

ENVIPE = ("mexico_surveys", "envipe_2021")


def _frame(name: str, profile: str) -> pd.DataFrame:
    frame = survey.flatten_items(normalise_survey(realdata(*ENVIPE, name), load_survey_profile(profile)).frame)
    return frame.assign(profile=profile)


@pytest.fixture(scope="module")
def figures() -> tuple[pd.DataFrame, dict[str, pd.DataFrame]]:
    persons = _frame("envipe2021_TPer_Vic2_cdmx.csv", "envipe_persons")
    households = _frame("envipe2021_TPer_Vic2_cdmx.csv", "envipe_households")
    events = _frame("envipe2021_TMod_Vic_national.csv", "envipe")
    events = events[events["area_code"].str[:2] == "09"]  # crimes that happened in Mexico City
    out = survey_figures.wave_figures(persons, households, events,
                                      {"envipe": load_survey_profile("envipe").definitions})
    raw = {"persons": pd.read_csv(realdata(*ENVIPE, "envipe2021_TPer_Vic2_cdmx.csv"), dtype=str),
           "events": pd.read_csv(realdata(*ENVIPE, "envipe2021_TMod_Vic_national.csv"), dtype=str)}
    return out, raw


def pick(frame: pd.DataFrame, indicator: str, crime: str = "all", unit: str | None = None) -> pd.Series:
    rows = frame[(frame["indicator"] == indicator) & (frame["crime_type"] == crime)]
    if unit:
        rows = rows[rows["unit"] == unit]
    assert len(rows) == 1, (indicator, crime, len(rows))
    return rows.iloc[0]


@pytest.mark.realdata
def test_person_figures_by_hand(figures):
    out, raw = figures
    p = raw["persons"]
    w = p["FAC_ELE"].astype(float)
    personal = [f"AP7_3_{c:02d}" for c in range(5, 16)]
    victim = (p[personal] == "1").any(axis=1)
    known = p[personal].isin(["1", "2"]).any(axis=1)  # "any crime": a victim of one, or a "no" to at least one
    row = pick(out, "victimisation")
    assert row["estimate"] == pytest.approx(w[victim].sum() / w[known].sum())
    assert row["n"] == int(known.sum())
    robbery = p["AP7_3_05"]
    expected = w[robbery == "1"].sum() / w[robbery.isin(["1", "2"])].sum()
    assert pick(out, "prevalence", "robbery_person")["estimate"] == pytest.approx(expected)
    assert pick(out, "prevalence", "robbery_person")["method"] == "taylor"
    times = p[[f"AP7_4_{c:02d}" for c in range(5, 16)]].apply(pd.to_numeric, errors="coerce").sum(axis=1)
    victims = times >= 1
    repeat = w[victims & (times >= 2)].sum() / w[victims].sum()
    assert pick(out, "revictimisation")["estimate"] == pytest.approx(repeat)


@pytest.mark.realdata
def test_household_and_event_figures_by_hand(figures):
    out, raw = figures
    p = raw["persons"]
    wh = p["FAC_HOG"].astype(float)
    burglary = p["AP6_4_04"]
    expected = wh[burglary == "1"].sum() / wh[burglary.isin(["1", "2"])].sum()
    assert pick(out, "household_victimisation", "burglary_residential")["estimate"] == pytest.approx(expected)
    e = raw["events"]
    e = e[(e["BP1_2C"] == "09") & (e["BPCOD"] != "03")]
    we = e["FAC_DEL"].astype(float)
    crimes = pick(out, "crimes")
    assert crimes["estimate"] == pytest.approx(we.sum())
    incidence = pick(out, "incidence")
    population = p["FAC_ELE"].astype(float).sum()
    assert incidence["estimate"] == pytest.approx(we.sum() / population * 1e5)
    assert incidence["ci_low"] == pytest.approx(crimes["ci_low"] / population * 1e5)
    street = e[e["BPCOD"] == "05"]
    ws = street["FAC_DEL"].astype(float)
    reported = (street["BP1_20"] == "1") | (street["BP1_21"] == "1")
    row = pick(out, "reporting", "robbery_person")
    assert row["estimate"] == pytest.approx(ws[reported].sum() / ws.sum())
    assert row["definition"] == "cifra_negra_inegi" and row["method"] == "taylor"
    assert "property_damage" not in set(out.loc[out["unit"] == "event", "crime_type"])
