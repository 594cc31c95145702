"""Recorded-crime indicators on hand-made fixtures with hand-computed expectations."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pandas as pd
import pytest

from observatory.indicators import (
    category_breakdown,
    compstat,
    compstat_wide,
    hour_weekday_matrix,
    monthly_series,
    period_bounds,
    rank_areas,
    recorded_vs_survey,
    target_progress,
    top_risers,
)

D = dt.date


def two_sided_equal_split(k: int, n: int) -> float:
    """Exact two-sided binomial p-value for p = 1/2, by hand: 2 x P(X >= max(k, n - k))."""
    top = max(k, n - k)
    return min(1.0, 2 * sum(math.comb(n, i) for i in range(top, n + 1)) / 2**n)


# --- CompStat -------------------------------------------------------------------------------------------------


@pytest.fixture
def daily():
    rows = [
        ("2024-03-12", "robbery", 5),   # this week (Mon 11 - Wed 13 March 2024)
        ("2023-03-14", "robbery", 4),   # same weekdays 52 weeks earlier (Mon 13 - Wed 15 March 2023)
        ("2024-02-20", "robbery", 35),  # in the last 28 days
        ("2023-02-20", "robbery", 16),  # in the 28 days a year before
        ("2024-01-10", "robbery", 60),  # year to date
        ("2023-01-10", "robbery", 80),  # previous year to date
        ("2023-03-20", "robbery", 50),  # after every previous window: ignored
        ("2023-03-14", "homicide", 3),
    ]
    return pd.DataFrame(rows, columns=["occurred_on", "category", "count"])


def test_period_bounds_follow_compstat_conventions():
    as_of = D(2024, 3, 13)
    assert period_bounds(as_of, "week") == ((D(2024, 3, 11), as_of), (D(2023, 3, 13), D(2023, 3, 15)))
    assert D(2023, 3, 13).weekday() == 0  # weekdays align
    assert period_bounds(as_of, "28d") == ((D(2024, 2, 15), as_of), (D(2023, 2, 16), D(2023, 3, 15)))
    assert period_bounds(as_of, "ytd") == ((D(2024, 1, 1), as_of), (D(2023, 1, 1), D(2023, 3, 13)))
    assert period_bounds(D(2024, 2, 29), "ytd")[1] == (D(2023, 1, 1), D(2023, 2, 28))


def test_compstat_changes_and_significance(daily):
    table = compstat(daily, D(2024, 3, 13)).set_index(["category", "period"])
    week = table.loc[("robbery", "week")]
    assert (week["current"], week["previous"]) == (5, 4)
    assert week["pct_change"] == pytest.approx(25.0)
    assert week["p_value"] == pytest.approx(1.0)
    assert not week["significant"] and week["direction"] == "none"  # 5 vs 4 is noise

    d28 = table.loc[("robbery", "28d")]
    assert (d28["current"], d28["previous"]) == (40, 20)
    assert d28["pct_change"] == pytest.approx(100.0)
    assert d28["p_value"] == pytest.approx(two_sided_equal_split(40, 60), rel=1e-9)
    assert d28["p_value"] == pytest.approx(0.01349, abs=1e-5)
    assert d28["significant"] and d28["direction"] == "up"

    ytd = table.loc[("robbery", "ytd")]
    # Calendar year to date: 14 March 2023 (in last year's week window) is after 13 March.
    assert (ytd["current"], ytd["previous"]) == (5 + 35 + 60, 16 + 80)
    # 2024 is a leap year: 73 days against 72, so the change is of the per-day rates.
    assert (ytd["days"], ytd["prev_days"]) == (73, 72)
    assert ytd["pct_change"] == pytest.approx((100 / 73 - 96 / 72) / (96 / 72) * 100) and not ytd["significant"]

    hom = table.loc[("homicide", "week")]
    assert (hom["current"], hom["previous"], hom["pct_change"]) == (0, 3, -100.0)
    assert hom["p_value"] == pytest.approx(two_sided_equal_split(0, 3))  # 0.25
    assert table.loc[("homicide", "28d"), "pct_change"] == -100.0
    assert table.loc[("all", "week"), "current"] == 5 and table.loc[("all", "week"), "previous"] == 7

    wide = compstat_wide(compstat(daily, D(2024, 3, 13)))
    assert wide.set_index("category").loc["robbery", "28d_current"] == 40


def test_compstat_zero_against_zero_is_not_a_change():
    frame = pd.DataFrame({"occurred_on": ["2020-01-01"], "category": ["fraud"], "count": [1]})
    row = compstat(frame, D(2024, 3, 13), total=False).iloc[0]
    assert row["current"] == 0 and row["previous"] == 0
    assert math.isnan(row["pct_change"]) and row["p_value"] == 1.0 and not row["significant"]


# --- time series ----------------------------------------------------------------------------------------------


def months(n: int, start: str = "2019-01-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="MS")


def test_series_moving_averages_previous_year_and_exact_seasonal_expectation():
    shape = np.array([80, 85, 90, 100, 110, 120, 125, 120, 110, 100, 90, 70], dtype=float)
    counts = np.tile(shape, 5)
    frame = pd.DataFrame({"month": months(60), "count": counts})
    out = monthly_series(frame.drop(index=[5]))  # a missing month is filled with 0
    assert out.loc[5, "count"] == 0
    full = monthly_series(frame)
    assert math.isnan(full.loc[1, "ma3"]) and full.loc[2, "ma3"] == pytest.approx((80 + 85 + 90) / 3)
    assert full.loc[11, "ma12"] == pytest.approx(shape.mean())
    assert full.loc[20, "previous_year"] == counts[8]
    assert full.loc[:23, "expected"].isna().all()  # fewer than 24 months of history
    # A perfectly repeating year is predicted exactly and nothing is flagged.
    np.testing.assert_allclose(full.loc[24:, "expected"], counts[24:])
    assert (full["flag"] == "").all()


def test_seasonal_band_flags_an_injected_spike():
    rng = np.random.default_rng(7)
    season = 100 + 30 * np.sin(2 * np.pi * np.arange(72) / 12)
    counts = rng.poisson(season).astype(float)
    counts[60] = season[60] * 2.0  # the spike
    counts[66] = season[66] * 0.4  # a collapse
    out = monthly_series(pd.DataFrame({"month": months(72), "count": counts}))
    assert out.loc[60, "flag"] == "above"
    assert out.loc[66, "flag"] == "below"
    assert out.loc[60, "lower"] < out.loc[60, "expected"] < out.loc[60, "upper"] < counts[60]
    others = out.loc[24:].drop(index=[60, 66])
    assert (others["flag"] != "").mean() <= 0.1


# --- hour x weekday, breakdown ----------------------------------------------------------------------------------


def test_hour_weekday_matrix_and_category_breakdown():
    grid = pd.DataFrame({"weekday": [0, 4, 4, 6], "hour": pd.array([0, 22, None, 23], dtype="Int64"),
                         "count": [2, 5, 7, 1]})
    matrix = hour_weekday_matrix(grid)
    assert matrix.shape == (7, 24)
    assert matrix.loc[4, 22] == 5 and matrix.loc[0, 0] == 2 and matrix.loc[3, 3] == 0
    assert float(matrix.sum().sum()) == 8 and matrix.attrs["unknown_hour"] == 7

    monthly = pd.DataFrame({"month": pd.to_datetime(["2024-01-01", "2024-02-01", "2024-04-01", "2024-04-01",
                                                     "2024-05-01"]),
                            "category": ["theft", "theft", "assault", "fraud", "theft"], "count": [10, 20, 5, 1, 4]})
    quarterly = category_breakdown(monthly, freq="quarter", top=2)
    assert list(quarterly.columns) == ["theft", "assault", "other_categories"]
    assert quarterly.loc["2024-01-01"].tolist() == [30, 0, 0]
    assert quarterly.loc["2024-04-01"].tolist() == [4, 5, 1]
    shares = category_breakdown(monthly, freq="year", top=None, shares=True)
    assert shares.sum(axis=1).tolist() == pytest.approx([1.0])


# --- ranking ------------------------------------------------------------------------------------------------------


def test_rank_areas_by_rate_and_significant_change():
    current = pd.DataFrame({"code": ["A", "B", "C", "D"], "population": [10_000, 50_000, 2_000, None],
                            "count": [40, 100, 5, 9]})
    previous = pd.DataFrame({"code": ["A", "B", "C", "D"], "count": [20, 98, 4, 9]})
    ranked = rank_areas(current, previous).set_index("code")
    assert ranked.loc["A", "rate"] == pytest.approx(400.0)
    assert ranked.loc["C", "rate"] == pytest.approx(250.0)
    assert ranked.loc["B", "rate"] == pytest.approx(200.0)
    assert pd.isna(ranked.loc["D", "rate"]) and pd.isna(ranked.loc["D", "rate_rank"])
    assert ranked["rate_rank"].dropna().to_dict() == {"A": 1, "C": 2, "B": 3}
    assert ranked.loc["A", "significant"] and not ranked.loc["C", "significant"]
    assert ranked.loc["A", "change_rank"] == 1
    assert ranked.loc["C", "pct_change"] == pytest.approx(25.0)
    assert top_risers(rank_areas(current, previous))["code"].tolist() == ["A"]


# --- targets --------------------------------------------------------------------------------------------------------


def test_target_progress():
    targets = pd.DataFrame({
        "indicator": ["homicide_rate", "feel_safe", "robbery_rate", "fraud_rate"],
        "scope": "city",
        "baseline_value": [20.0, 40.0, 300.0, 10.0], "baseline_on": [D(2023, 1, 1)] * 4,
        "target_value": [10.0, 60.0, 200.0, 5.0], "target_on": [D(2026, 1, 1)] * 4,
    })
    current = {"homicide_rate": (15.0, D(2024, 1, 1)), "feel_safe": (42.0, D(2024, 7, 2)),
               "robbery_rate": (190.0, D(2024, 1, 1))}
    out = target_progress(targets, current).set_index("indicator")
    assert out.loc["homicide_rate", "progress"] == pytest.approx(0.5)
    assert out.loc["homicide_rate", "expected_progress"] == pytest.approx(365 / 1096)
    assert out.loc["homicide_rate", "status"] == "on track"
    assert out.loc["feel_safe", "progress"] == pytest.approx(0.1)
    assert out.loc["feel_safe", "status"] == "off track"
    assert out.loc["robbery_rate", "status"] == "achieved"
    assert out.loc["fraud_rate", "status"] == "no data"
    assert out.loc["homicide_rate", "remaining"] == pytest.approx(-5.0)


# Intervention evaluation: tests/test_indicators_intervention.py


# --- recorded vs survey ----------------------------------------------------------------------------------------------


def test_recorded_vs_survey_ratio_and_uncertainty():
    recorded = pd.DataFrame({"code": ["A", "B", "C"], "population": [10_000, 20_000, 5_000], "count": [25, 0, 40]})
    survey = pd.DataFrame({"code": ["A", "B", "C"], "estimate": [0.10, 0.05, 0.2], "ci_low": [0.08, 0.03, 0.1],
                           "ci_high": [0.12, 0.07, 0.3], "se": [0.01, 0.01, 0.05], "unreliable": [False, False, True]})
    perception = pd.DataFrame({"code": ["A"], "estimate": [0.6], "ci_low": [0.5], "ci_high": [0.7]})
    out = recorded_vs_survey(recorded, survey, perception, recorded_months=6).set_index("code")
    # 25 incidents in 6 months -> 50 a year in 10,000 people -> 500 per 100k.
    assert out.loc["A", "recorded_rate"] == pytest.approx(500.0)
    assert out.loc["A", "survey_rate"] == pytest.approx(10_000.0)
    assert out.loc["A", "underreporting_ratio"] == pytest.approx(20.0)
    se_log = math.sqrt((0.01 / 0.10) ** 2 + 1 / 25)
    assert out.loc["A", "ratio_low"] == pytest.approx(20 * math.exp(-1.959964 * se_log), rel=1e-5)
    assert out.loc["A", "ratio_high"] == pytest.approx(20 * math.exp(1.959964 * se_log), rel=1e-5)
    assert out.loc["A", "perception"] == 0.6 and math.isnan(out.loc["B", "perception"])
    assert math.isnan(out.loc["B", "underreporting_ratio"]) and out.loc["B", "ratio_unreliable"]
    assert out.loc["C", "ratio_unreliable"] and not out.loc["A", "ratio_unreliable"]
    # Exact Poisson interval of 25 (Garwood): 16.18 .. 36.91, times 2 x 10.
    assert out.loc["A", "recorded_low"] == pytest.approx(16.179 * 20, rel=1e-3)
    assert out.loc["A", "recorded_high"] == pytest.approx(36.905 * 20, rel=1e-3)
