"""CompStat percent change on periods of unequal length (year to date across 29 February)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from observatory.indicators.compstat import change_test, compstat, percent_change

D = dt.date


def test_year_to_date_on_29_february_compares_rates_per_day():
    # 60 days in 2024 (1 Jan - 29 Feb), 59 in 2023 (1 Jan - 28 Feb): one incident a day in both years.
    current = pd.DataFrame({"occurred_on": pd.date_range("2024-01-01", "2024-02-29"), "category": "robbery",
                            "count": 1})
    previous = pd.DataFrame({"occurred_on": pd.date_range("2023-01-01", "2023-02-28"), "category": "robbery",
                             "count": 1})
    row = compstat(pd.concat([current, previous]), D(2024, 2, 29), periods=("ytd",), total=False).iloc[0]
    assert (row["days"], row["prev_days"]) == (60, 59)
    assert (row["current"], row["previous"], row["change"]) == (60, 59, 1)
    assert row["pct_change"] == pytest.approx(0.0, abs=1e-12)  # raw counts would say +1.69%
    assert row["p_value"] == pytest.approx(change_test(60, 59, 60, 59))
    assert row["direction"] == "none"


def test_percent_change_by_hand():
    assert percent_change(66, 59, 60, 59) == pytest.approx((66 / 60 - 1) * 100)  # +10% per day
    assert percent_change(30, 20) == pytest.approx(50.0)
    assert percent_change(5, 0, 60, 59) != percent_change(5, 0, 60, 59)  # NaN
