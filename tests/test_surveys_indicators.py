"""Survey estimators: hand-computed weighted fixtures, the fear index, and real microdata."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from observatory.indicators import fear, survey
from observatory.ingest.surveys import load_survey_profile, normalise_survey
from tests.conftest import realdata

Z = 1.959963984540054


def wilson(p: float, n: float) -> tuple[float, float]:
    centre = (p + Z**2 / (2 * n)) / (1 + Z**2 / n)
    half = Z / (1 + Z**2 / n) * math.sqrt(p * (1 - p) / n + Z**2 / (4 * n**2))
    return centre - half, centre + half


# --------------------------------------------------------------------------- hand-computed


def test_weighted_proportion_by_hand():
    frame = pd.DataFrame({"weight": [1.0, 2.0, 3.0, 4.0], "y": [1, 0, 1, np.nan]})
    row = survey.weighted_proportion(frame, "y").iloc[0]
    # The 4th unit has no answer: p = (1*1 + 3*1) / (1 + 2 + 3).
    p = 4 / 6
    assert row["estimate"] == pytest.approx(p)
    assert row["n"] == 3
    n_eff = (1 + 2 + 3) ** 2 / (1**2 + 2**2 + 3**2)  # 36 / 14
    assert row["n_eff"] == pytest.approx(n_eff)
    resid = 1**2 * (1 - p) ** 2 + 2**2 * (0 - p) ** 2 + 3**2 * (1 - p) ** 2
    se = math.sqrt(3 / 2 * resid / 6**2)
    assert row["se"] == pytest.approx(se)
    assert row["cv"] == pytest.approx(se / p)
    low, high = wilson(p, n_eff)
    assert row["ci_low"] == pytest.approx(low)
    assert row["ci_high"] == pytest.approx(high)
    assert row["weighted_n"] == pytest.approx(6.0)
    assert row["weighted_count"] == pytest.approx(4.0)
    assert bool(row["unreliable"])  # n = 3 < 30


def test_weighted_proportion_groups_and_reliability_rule():
    # Group a: 40 equal weights, 20 yes -> p = 0.5, cv = 0.16: reliable.
    # Group b: 40 equal weights, 2 yes -> p = 0.05, cv ~ 0.70: unreliable although n = 40.
    frame = pd.DataFrame({
        "weight": [2.0] * 80,
        "area": ["a"] * 40 + ["b"] * 40,
        "y": [1] * 20 + [0] * 20 + [1] * 2 + [0] * 38,
    })
    out = survey.weighted_proportion(frame, "y", by="area").set_index("area")
    se_a = math.sqrt(40 / 39 * (40 * 2**2 * 0.25) / 80**2)
    assert out.loc["a", "estimate"] == pytest.approx(0.5)
    assert out.loc["a", "se"] == pytest.approx(se_a)
    assert out.loc["a", "n_eff"] == pytest.approx(40)
    assert not out.loc["a", "unreliable"]
    se_b = math.sqrt(40 / 39 * (2 * 4 * 0.95**2 + 38 * 4 * 0.05**2) / 80**2)
    assert out.loc["b", "se"] == pytest.approx(se_b)
    assert out.loc["b", "cv"] == pytest.approx(se_b / 0.05)
    assert out.loc["b", "cv"] > 0.30 and out.loc["b", "unreliable"]
    low, high = wilson(0.05, 40)
    assert (out.loc["b", "ci_low"], out.loc["b", "ci_high"]) == pytest.approx((low, high))


def test_design_based_variance_by_hand():
    # Two strata (A with PSUs a1, a2; B with b1, b2, b3); domains D and E cut across PSUs.
    frame = pd.DataFrame({
        "stratum": ["A", "A", "A", "B", "B", "B"],
        "psu": ["a1", "a1", "a2", "b1", "b2", "b3"],
        "weight": [1.0, 1.0, 2.0, 1.0, 2.0, 3.0],
        "y": [1, 0, 1, 0, 0, 1],
        "domain": ["D", "E", "D", "E", "D", "E"],
    })
    row = survey.weighted_proportion(frame, "y", psu="psu", strata="stratum").iloc[0]
    p = 6 / 10
    # z per PSU = sum of w (y - p) / sum w
    z_a1, z_a2 = (1 * 0.4 + 1 * -0.6) / 10, 2 * 0.4 / 10
    z_b1, z_b2, z_b3 = 1 * -0.6 / 10, 2 * -0.6 / 10, 3 * 0.4 / 10
    var_a = 2 / 1 * ((z_a1**2 + z_a2**2) - (z_a1 + z_a2) ** 2 / 2)
    var_b = 3 / 2 * ((z_b1**2 + z_b2**2 + z_b3**2) - (z_b1 + z_b2 + z_b3) ** 2 / 3)
    assert row["estimate"] == pytest.approx(p)
    assert row["se"] == pytest.approx(math.sqrt(var_a + var_b))  # sqrt(0.01 + 0.0468)
    n_design = min(p * (1 - p) / (var_a + var_b), 6)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(wilson(p, n_design))
    assert row["n_eff"] == pytest.approx(10**2 / 20)  # Kish n_eff is still reported
    # Domains keep every PSU of the design: PSUs without units of the domain count as z = 0.
    out = survey.weighted_proportion(frame, "y", by="domain", psu="psu", strata="stratum").set_index("domain")
    d = {"a1": 1 * 0.4 / 5, "a2": 2 * 0.4 / 5, "b1": 0.0, "b2": 2 * -0.6 / 5, "b3": 0.0}
    var_d = (2 * ((d["a1"] ** 2 + d["a2"] ** 2) - (d["a1"] + d["a2"]) ** 2 / 2)
             + 1.5 * ((d["b1"] ** 2 + d["b2"] ** 2 + d["b3"] ** 2) - (d["b1"] + d["b2"] + d["b3"]) ** 2 / 3))
    e = {"a1": 1 * -0.6 / 5, "a2": 0.0, "b1": 1 * -0.6 / 5, "b2": 0.0, "b3": 3 * 0.4 / 5}
    var_e = (2 * ((e["a1"] ** 2 + e["a2"] ** 2) - (e["a1"] + e["a2"]) ** 2 / 2)
             + 1.5 * ((e["b1"] ** 2 + e["b2"] ** 2 + e["b3"] ** 2) - (e["b1"] + e["b2"] + e["b3"]) ** 2 / 3))
    assert out.loc["D", "se"] == pytest.approx(math.sqrt(var_d))  # sqrt(0.064)
    assert out.loc["E", "se"] == pytest.approx(math.sqrt(var_e))  # sqrt(0.1152)
    # A stratum with one PSU adds nothing (R survey's lonely.psu = "certainty").
    single = frame.assign(stratum=["A", "A", "A", "B", "B", "C"])
    var_b2 = 2 * ((z_b1**2 + z_b2**2) - (z_b1 + z_b2) ** 2 / 2)
    assert survey.weighted_proportion(single, "y", psu="psu", strata="stratum")["se"].iloc[0] == pytest.approx(
        math.sqrt(var_a + var_b2))


def test_reporting_dark_figure_and_revictimisation():
    events = pd.DataFrame({
        "weight": [10.0, 20.0, 30.0, 40.0, 50.0],
        "crime_type": ["robbery_person", "robbery_person", "fraud", "fraud", "assault"],
        "reported": [1, 1, 0, 0, np.nan],
        "report_file_opened": [1, 0, 0, 0, np.nan],
    })
    assert survey.reporting_rate(events)["estimate"].iloc[0] == pytest.approx(30 / 100)
    # ENVIPE: everything but the one event with a file opened is dark, unknowns included.
    assert survey.dark_figure(events, "envipe")["estimate"].iloc[0] == pytest.approx(140 / 150)
    # DANE: only the crimes known not to be reported.
    assert survey.dark_figure(events, "dane")["estimate"].iloc[0] == pytest.approx(70 / 100)
    robbery = survey.reporting_rate(events, crime_types=["robbery_person"])
    assert robbery["estimate"].iloc[0] == 1.0 and robbery["n"].iloc[0] == 2
    persons = pd.DataFrame({"weight": [1.0, 1.0, 2.0, 4.0], "times_victimised": [0, 1, 2, 3]})
    # Victims: weights 1, 2, 4; repeat victims: 2 + 4.
    assert survey.revictimisation(persons)["estimate"].iloc[0] == pytest.approx(6 / 7)


def test_households_perception_and_trust():
    persons = pd.DataFrame({
        "household_key": ["h1", "h1", "h2", "h3", "h3"],
        "weight": [2.0, 4.0, 5.0, 1.0, 3.0],
        "victim_any": [0, 1, 0, 0, 0],
        "sex": ["F", "M", "F", "F", "M"],
        "unsafe_city": [1, 1, 0, np.nan, 1],
        "trust_police": [1, 3, 2, 4, np.nan],
    })
    # Households: h1 victim (mean weight 3), h2 (5) and h3 (2) not.
    assert survey.households_victimised(persons)["estimate"].iloc[0] == pytest.approx(3 / 10)
    assert survey.victimisation_prevalence(persons)["estimate"].iloc[0] == pytest.approx(4 / 15)
    by_sex = survey.insecurity_perception(persons, by="sex").set_index("sex")["estimate"]
    assert by_sex["F"] == pytest.approx(2 / 7) and by_sex["M"] == pytest.approx(1.0)
    assert survey.trust(persons)["estimate"].iloc[0] == pytest.approx((2 + 5) / 12)
    with pytest.raises(KeyError, match="victim_burglary"):
        survey.victimisation_prevalence(persons, "burglary_residential")


def test_flatten_items():
    frame = pd.DataFrame({"weight": [1.0, 2.0], "items": [{"unsafe_city": 1}, {"unsafe_city": 0, "reported": 1}]})
    flat = survey.flatten_items(frame)
    assert list(flat["unsafe_city"]) == [1, 0]
    assert flat["reported"].isna().tolist() == [True, False]


# --------------------------------------------------------------------------- fear index


FEAR_ITEMS = ["crime_trend_past", "crime_violence_trend", "crime_trend_future", "fear_leaving_home",
              "fear_coming_home_dusk", "fear_walking_alone", "fear_home_night"]


def test_fear_scores_by_hand():
    answers = pd.DataFrame([
        [3, 3, 3, 1, 1, 2, 2],  # no fearful answer: 0 -> low
        [1, 2, 3, 3, 1, 1, 1],  # more crime + fear often once: 2 -> low
        [1, 1, 2, 3, 4, 1, 2],  # 2 + 2 = 4 -> medium
        [1, 1, 1, 4, 4, 3, 2],  # 3 + 3 = 6 -> high
        [1, 1, 1, 4, np.nan, 4, 4],  # 6 of 7 answered, rescaled to 7 -> high
        [1, np.nan, np.nan, 4, 4, 4, 4],  # only 5 answered: below min_answered
    ], columns=FEAR_ITEMS)
    scores = fear.fear_scores(answers)
    assert scores["score"].iloc[:4].tolist() == [0, 2, 4, 6]
    assert scores["score"].iloc[4] == pytest.approx(6 * 7 / 6)
    assert scores["fear_level"].tolist() == ["low", "low", "medium", "high", "high", None]
    # A city with its own scoring: only two items, any fear counts, high from 2 points.
    city = {"items": {"fear_walking_alone": {1: 0, 2: 1, 3: 1, 4: 1}, "fear_home_night": {1: 0, 2: 1, 3: 1, 4: 1}},
            "thresholds": {"medium": 1, "high": 2}, "min_answered": 2}
    assert fear.fear_scores(answers, city)["fear_level"].tolist() == ["high", "low", "medium", "high", "high",
                                                                      "high"]
    with pytest.raises(ValueError, match="min_answered"):
        fear.fear_scores(answers, {"min_answered": 9})


def test_fear_index_weighted_shares():
    answers = pd.DataFrame([[3, 3, 3, 1, 1, 1, 1], [1, 1, 1, 4, 4, 4, 4], [1, 1, 2, 3, 4, 1, 2]],
                           columns=FEAR_ITEMS)
    answers["weight"] = [1.0, 3.0, 6.0]
    answers["district"] = ["north", "north", "south"]
    out = fear.fear_index(answers).set_index("fear_level")
    assert out.loc["low", "estimate"] == pytest.approx(0.1)
    assert out.loc["high", "estimate"] == pytest.approx(0.3)
    assert out.loc["medium", "estimate"] == pytest.approx(0.6)
    by = fear.fear_index(answers, by="district")
    assert by.groupby("district")["estimate"].sum().tolist() == pytest.approx([1.0, 1.0])
    assert set(by.columns) >= {"fear_level", "district", "ci_low", "ci_high", "n_eff", "unreliable"}


# --------------------------------------------------------------------------- real microdata


@pytest.fixture(scope="module")
def envipe_events() -> pd.DataFrame:
    path = realdata("mexico_surveys", "envipe_2021", "envipe2021_TMod_Vic_national.csv")
    return survey.flatten_items(normalise_survey(path, load_survey_profile("envipe")).frame)


@pytest.mark.realdata
def test_envipe_2021_reporting_and_dark_figure(envipe_events):
    assert len(envipe_events) == 37_156
    definition = load_survey_profile("envipe").definitions
    reported = survey.reporting_rate(envipe_events, definition=definition).iloc[0]
    dark = survey.dark_figure(envipe_events, definition).iloc[0]
    # INEGI published 10.1% reported and a 93.3% dark figure for 2020 (tests/test_surveys_inegi.py).
    assert reported["estimate"] == pytest.approx(0.1007, abs=0.0005)
    assert dark["estimate"] == pytest.approx(0.9327, abs=0.0005)
    for row in (reported, dark):
        assert row["ci_low"] < row["estimate"] < row["ci_high"]
        assert row["ci_high"] - row["ci_low"] < 0.015
        assert not row["unreliable"]
    # Total theft of a vehicle is the most reported crime (insurance needs the report).
    by_type = survey.reporting_rate(envipe_events, by="crime_type").set_index("crime_type")["estimate"]
    assert by_type.idxmax() == "vehicle_theft" and by_type.max() > 0.6
    # DANE's rule (a bare rule name: no universe exclusion) is one minus the reporting rate of every event.
    every = survey.reporting_rate(envipe_events)["estimate"].iloc[0]
    assert survey.dark_figure(envipe_events, "dane")["estimate"].iloc[0] == pytest.approx(1 - every)
    # With INEGI's strata (EST_DIS) and PSUs (UPM_DIS) the error grows: the design effect of clustering.
    design = survey.dark_figure(envipe_events, definition, psu="psu", strata="stratum").iloc[0]
    assert design["estimate"] == pytest.approx(dark["estimate"])
    assert 1.1 < design["se"] / dark["se"] < 2.0
    assert design["ci_low"] < dark["ci_low"] and design["ci_high"] > dark["ci_high"]


@pytest.mark.realdata
def test_ensu_2015_mexico_city_feels_unsafe_per_quarter():
    results = {}
    for quarter in (1, 2, 3, 4):
        folder = f"conjunto_de_datos_ensu_0{quarter}_2015"
        name = f"conjunto_de_datos_cb_ensu_0{quarter}_2015"
        path = realdata("mexico_surveys", "ensu_2015", folder, name, "conjunto_de_datos", f"{name}.csv")
        frame = survey.flatten_items(normalise_survey(path, load_survey_profile("ensu")).frame)
        assert frame["wave"].unique().tolist() == [f"ENSU 2015 Q{quarter}"]
        if quarter == 1:  # sanity check against the raw file: 1,388 of 2,025 say unsafe
            assert len(frame) == 2025 and int((frame["unsafe_city"] == 1).sum()) == 1388
        cdmx = survey.insecurity_perception(frame, by="area_code").set_index("area_code").loc["01"]
        results[quarter] = cdmx
        assert 330 <= cdmx["n"] <= 360
        assert cdmx["ci_low"] < cdmx["estimate"] < cdmx["ci_high"]
        assert 0.6 < cdmx["estimate"] < 0.9  # about three in four Mexico City adults felt unsafe in 2015
        assert not cdmx["unreliable"]
    assert len(results) == 4


@pytest.mark.realdata
def test_ecsc_2020_personal_theft_reporting_in_13_cities():
    path = realdata("colombia", "ecsc_2020", "ecsc2020_09_hurto_a_personas.csv")
    events = survey.flatten_items(normalise_survey(path, load_survey_profile("ecsc_hurto_personas")).frame)
    assert len(events) == 5135 and events["area_code"].notna().all()
    cities = events[events["area_code"] != "00000"]
    assert cities["area_code"].nunique() == 13
    overall = survey.reporting_rate(cities).iloc[0]
    assert overall["n"] == 4387
    assert overall["estimate"] == pytest.approx(0.344, abs=0.001)
    assert overall["ci_low"] < overall["estimate"] < overall["ci_high"]
    per_city = survey.reporting_rate(cities, by="area_code")
    assert len(per_city) == 13 and per_city["estimate"].between(0.15, 0.6).all()
    assert survey.dark_figure(cities, "dane")["estimate"].iloc[0] == pytest.approx(1 - overall["estimate"])
    burglary_path = realdata("colombia", "ecsc_2020", "ecsc2020_06_hurto_a_residencia.csv")
    burglary = survey.flatten_items(normalise_survey(burglary_path, load_survey_profile("ecsc_hurto_residencia")).frame)
    both = pd.concat([events, burglary], ignore_index=True)
    by_type = survey.reporting_rate(both[both["area_code"] != "00000"], by="crime_type").set_index("crime_type")
    assert by_type.loc["theft_person", "estimate"] == pytest.approx(overall["estimate"])
    assert by_type.loc["burglary_residential", "n"] == 653
    assert by_type.loc["burglary_residential", "estimate"] == pytest.approx(0.322, abs=0.001)


@pytest.mark.realdata
def test_envipe_2021_mexico_city_persons_and_households():
    path = realdata("mexico_surveys", "envipe_2021", "envipe2021_TPer_Vic2_cdmx.csv")
    persons = survey.flatten_items(normalise_survey(path, load_survey_profile("envipe_persons")).frame)
    homes = survey.flatten_items(normalise_survey(path, load_survey_profile("envipe_households")).frame)
    prevalence = survey.victimisation_prevalence(persons).iloc[0]
    assert prevalence["n"] == 5831 and prevalence["estimate"] == pytest.approx(0.2504, abs=0.001)
    assert prevalence["ci_low"] < prevalence["estimate"] < prevalence["ci_high"]
    by_sex = survey.victimisation_prevalence(persons, by="sex")
    assert set(by_sex["sex"]) == {"F", "M"} and not by_sex["unreliable"].any()
    by_borough = survey.victimisation_prevalence(persons, by="area_code")
    assert len(by_borough) == 16  # the 16 alcaldías
    repeat = survey.revictimisation(persons).iloc[0]
    assert 0.2 < repeat["estimate"] < 0.5 and repeat["n"] == int((persons["times_victimised"] >= 1).sum())
    assert homes["weight"].sum() == pytest.approx(3_132_763)  # FAC_HOG: households of Mexico City
    burglary = survey.households_victimised(homes, "burglary_residential").iloc[0]
    assert burglary["estimate"] == pytest.approx(0.0288, abs=0.001) and not burglary["unreliable"]
