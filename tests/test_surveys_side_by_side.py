"""Perception vs recorded crime per neighbourhood: one period basis, the mismatch flag, the survey-to-recorded
ratio with its interval (delta method by hand), NA public counts stay NA, areas sorted by the fear gap."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from observatory.indicators.side_by_side import months_between, perception_vs_recorded

RECORDED = pd.DataFrame({"code": ["a", "b", "c", "d"], "name": ["A", "B", "C", "D"],
                         "population": [10_000, 20_000, 5_000, 8_000], "count": [30, 12, 40, np.nan]})
SURVEY = pd.DataFrame({"code": ["a", "b", "c", "d"], "estimate": [0.20, 0.10, 0.30, 0.25],
                       "ci_low": [0.15, 0.06, 0.22, 0.18], "ci_high": [0.26, 0.15, 0.39, 0.33],
                       "se": [0.025, 0.02, 0.04, 0.035], "n": [200, 180, 90, 120], "unreliable": [False] * 4})
PERCEPTION = pd.DataFrame({"code": ["a", "b", "c", "d"], "estimate": [0.5, 0.8, 0.4, 0.6],
                           "ci_low": [0.4, 0.7, 0.3, 0.5], "ci_high": [0.6, 0.9, 0.5, 0.7]})


def test_months_between():
    assert months_between("2020-01-01", "2020-12-31") == 12
    assert months_between("2020-07-01", "2020-12-31") == 6
    assert months_between("2019-11-01", "2020-02-29") == 4


def test_same_period_basis_ratio_and_interval_by_hand():
    out = perception_vs_recorded(RECORDED, SURVEY, PERCEPTION, recorded_period=("2020-07-01", "2020-12-31"),
                                 survey_period=("2020-01-01", "2020-12-31")).set_index("code")
    assert not out["period_mismatch"].any()
    assert (out["recorded_months"] == 6).all()
    # Six months of records annualised (x 12 / 6) per 100,000.
    rate_a = 30 * 2 / 10_000 * 1e5
    assert out.loc["a", "recorded_rate"] == pytest.approx(rate_a)
    ratio = 0.20 * 1e5 / rate_a
    se_log = math.sqrt((0.025 / 0.20) ** 2 + 1 / 30)
    assert out.loc["a", "underreporting_ratio"] == pytest.approx(ratio)
    assert out.loc["a", "ratio_low"] == pytest.approx(ratio * math.exp(-1.959964 * se_log), rel=1e-6)
    assert out.loc["a", "ratio_high"] == pytest.approx(ratio * math.exp(1.959964 * se_log), rel=1e-6)
    # A suppressed public count (NA) gives no rate and no ratio, never a ratio computed from 0.
    assert np.isnan(out.loc["d", "recorded_rate"]) and np.isnan(out.loc["d", "underreporting_ratio"])
    assert out.loc["d", "ratio_unreliable"]


def test_sorted_by_where_fear_exceeds_the_records():
    out = perception_vs_recorded(RECORDED, SURVEY, PERCEPTION, recorded_period=("2020-01-01", "2020-12-31"),
                                 survey_period=("2020-01-01", "2020-12-31"))
    # b: highest perception (rank 1.0) and lowest recorded rate (rank 1/3): the largest gap comes first.
    assert out["code"].iloc[0] == "b"
    gaps = out["fear_gap"].dropna().to_numpy()
    assert (np.diff(gaps) <= 0).all()
    perceived = PERCEPTION.set_index("code")["estimate"].rank(pct=True)
    b = out.set_index("code").loc["b"]
    rates = out.set_index("code")["recorded_rate"].rank(pct=True)
    assert b["fear_gap"] == pytest.approx(perceived["b"] - rates["b"])


def test_period_mismatch_is_flagged():
    other_year = perception_vs_recorded(RECORDED, SURVEY, recorded_period=("2023-01-01", "2023-12-31"),
                                        survey_period=("2020-01-01", "2020-12-31"))
    assert other_year["period_mismatch"].all()
    unknown = perception_vs_recorded(RECORDED, SURVEY, recorded_period=("2020-01-01", "2020-12-31"),
                                     survey_period=None)
    assert unknown["period_mismatch"].all()
