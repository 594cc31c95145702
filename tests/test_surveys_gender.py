"""Gender lens: recorded sexual / domestic violence from the counts the viewer's query returns (NA stays NA),
survey victimisation and fear of women vs men with intervals and the difference, checked by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from observatory.indicators import gender, survey


def test_recorded_counts_rates_and_withheld_months():
    months = pd.DataFrame({"month": ["2024-01", "2024-02", "2024-01", "2024-02", "2024-01"],
                           "category": ["domestic_violence", "domestic_violence", "rape", "rape", "theft"],
                           "count": pd.array([12, 9, 3, pd.NA, 400], dtype="Int64")})
    out = gender.recorded_gender_violence(months, 150_000).set_index("category")
    assert out.loc["domestic_violence", "count"] == 21
    assert out.loc["domestic_violence", "rate"] == pytest.approx(21 / 150_000 * 1e5)
    # A withheld month: no partial sum, no rate.
    assert pd.isna(out.loc["rape", "count"]) and pd.isna(out.loc["rape", "rate"])
    assert out.loc["sexual_assault", "count"] == 0  # absent: none recorded
    assert "theft" not in out.index


def _persons(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 800
    sex = rng.choice(["F", "M"], size=n)
    frame = pd.DataFrame({"sex": sex, "weight": rng.uniform(50, 150, size=n),
                          "victim_any": (rng.random(n) < np.where(sex == "F", 0.3, 0.2)).astype(float)})
    for item in ("crime_trend_past", "crime_violence_trend", "crime_trend_future"):
        frame[item] = rng.choice([1, 2, 3], size=n).astype(float)
    for item in ("fear_leaving_home", "fear_coming_home_dusk", "fear_walking_alone", "fear_home_night"):
        frame[item] = rng.choice([1, 2, 3, 4], size=n, p=[0.2, 0.3, 0.3, 0.2]).astype(float)
    return frame


def test_survey_women_vs_men_by_hand():
    persons = _persons()
    out = gender.survey_by_sex(persons)
    vict = out[out["indicator"] == "victimisation"].set_index("sex")
    for sex in ("F", "M"):
        rows = persons[persons["sex"] == sex]
        expected = (rows["weight"] * rows["victim_any"]).sum() / rows["weight"].sum()
        assert vict.loc[sex, "estimate"] == pytest.approx(expected)
        assert vict.loc[sex, "ci_low"] < expected < vict.loc[sex, "ci_high"]
        assert vict.loc[sex, "n"] == len(rows) and vict.loc[sex, "method"] == "kish_wilson"
    diff = vict.loc["F-M"]
    se = math.hypot(vict.loc["F", "se"], vict.loc["M", "se"])
    assert diff["estimate"] == pytest.approx(vict.loc["F", "estimate"] - vict.loc["M", "estimate"])
    assert diff["ci_low"] == pytest.approx(diff["estimate"] - 1.959964 * se, rel=1e-6)
    assert bool(diff["significant"]) == (abs(diff["estimate"]) / se > 1.959964)
    fear_high = out[out["indicator"] == "fear_high"].set_index("sex")
    from observatory.indicators import fear

    levels = fear.fear_scores(persons)["fear_level"]
    women = persons["sex"] == "F"
    expected = persons.loc[women & (levels == "high"), "weight"].sum() / persons.loc[women & levels.notna(),
                                                                                      "weight"].sum()
    assert fear_high.loc["F", "estimate"] == pytest.approx(expected)


def test_survey_without_sex_gives_nothing():
    assert gender.survey_by_sex(_persons().assign(sex=None)).empty
    assert survey.design_columns(_persons()) == {}
