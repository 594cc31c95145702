"""One ranking of areas by evidence of change, with its period bounds (hand-made fixture)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from observatory.indicators.compstat import change_test
from observatory.indicators.ranking import rank_areas, rank_changes, top_risers

D = dt.date
CURRENT = pd.DataFrame({"code": ["A", "B", "C", "D", "E"], "name": ["Alfa", "Bravo", "Charlie", "Delta", "Echo"],
                        "population": [10_000, 200_000, 1_000, None, 10_000], "count": [40, 230, 5, 60, 10]})
PREVIOUS = pd.DataFrame({"code": ["A", "B", "C", "D", "E"], "count": [20, 200, 1, 30, 40]})
PERIOD = (D(2024, 1, 1), D(2024, 3, 31))
PREVIOUS_PERIOD = (D(2023, 1, 1), D(2023, 3, 31))  # 91 vs 90 days


def test_significant_rises_first_then_by_rate_change():
    out = rank_changes(CURRENT, PREVIOUS)
    by_code = out.set_index("code")
    # by hand: p-values of the exact conditional test, equal periods
    for code, c, p in [("A", 40, 20), ("B", 230, 200), ("C", 5, 1), ("D", 60, 30), ("E", 10, 40)]:
        assert by_code.loc[code, "p_value"] == pytest.approx(change_test(c, p))
    assert by_code["significant"].to_dict() == {"A": True, "B": False, "C": False, "D": True, "E": True}
    # rate changes per 100,000: A +200, B +15, C +400, D none (no population), E -300
    assert by_code.loc["A", "rate_change"] == pytest.approx(200.0)
    assert by_code.loc["B", "rate_change"] == pytest.approx(15.0)
    assert by_code.loc["C", "rate_change"] == pytest.approx(400.0)
    assert np.isnan(by_code.loc["D", "rate_change"])
    # significant rises (A by its rate, then D without a rate), then the rest by rate change: C, B, E
    assert out["code"].tolist() == ["A", "D", "C", "B", "E"]
    assert out["rank"].tolist() == [1, 2, 3, 4, 5]
    assert by_code["direction"].to_dict() == {"A": "up", "B": "none", "C": "none", "D": "up", "E": "down"}
    # ...whereas by absolute rise B (+30) and D (+30) would sit above A (+20)
    assert by_code.loc["B", "change"] > by_code.loc["A", "change"]


def test_decreases_and_period_bounds():
    out = rank_changes(CURRENT, PREVIOUS, direction="down", period=PERIOD, previous_period=PREVIOUS_PERIOD)
    assert out["code"].tolist() == ["E", "B", "A", "C", "D"]
    first = out.iloc[0]
    assert (first["start"], first["end"]) == (pd.Timestamp("2024-01-01"), pd.Timestamp("2024-03-31"))
    assert (first["prev_start"], first["prev_end"]) == (pd.Timestamp("2023-01-01"), pd.Timestamp("2023-03-31"))
    assert out.attrs["period"] == PERIOD and out.attrs["direction"] == "down"
    # 91 days against 90: the previous count is rescaled to 91 days
    e = out.set_index("code").loc["E"]
    assert e["pct_change"] == pytest.approx((10 / 91 - 40 / 90) / (40 / 90) * 100)
    assert e["previous_rate"] == pytest.approx(40 * 91 / 90 / 10_000 * 1e5)
    assert e["p_value"] == pytest.approx(change_test(10, 40, 91, 90))
    with pytest.raises(ValueError, match="direction"):
        rank_changes(CURRENT, PREVIOUS, direction="sideways")


def test_rank_areas_and_top_risers_use_the_same_order():
    ranked = rank_areas(CURRENT, PREVIOUS).set_index("code")
    assert ranked["rate_rank"].dropna().to_dict() == {"C": 1, "A": 2, "B": 3, "E": 4}  # 500, 400, 115, 100
    assert ranked["change_rank"].to_dict() == {"A": 1, "D": 2, "C": 3, "B": 4, "E": 5}
    assert top_risers(rank_areas(CURRENT, PREVIOUS))["code"].tolist() == ["A", "D"]
    assert top_risers(rank_changes(CURRENT, PREVIOUS), significant_only=False)["code"].tolist() == ["A", "D", "C", "B"]
    small = rank_changes(CURRENT, PREVIOUS, min_count=10)
    assert "C" not in set(small["code"])
