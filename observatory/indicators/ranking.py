"""Neighbourhood ranking by rate per 100,000 and by change (with significance).

Rates are ``count / population x 100,000`` over the same period for every area (not
annualised unless ``annualise_months`` is given). A change between two periods of equal
length is tested with the exact conditional binomial test of
:func:`observatory.indicators.compstat.change_test`. Ranks are 1 = highest; areas without a
population get no rate rank. Rates are derived from true counts: for the public, hide the
rate wherever the count itself is suppressed (a rate times the population gives it back).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from observatory.indicators.compstat import change_test, percent_change
from observatory.indicators.rates import rate_per_100k


def rank_areas(current: pd.DataFrame, previous: pd.DataFrame | None = None, *, key: str = "code",
               alpha: float = 0.05, min_count: int = 0, annualise_months: float | None = None) -> pd.DataFrame:
    """Rank areas by rate and by change.

    Inputs: ``current`` with ``key``, ``name`` (optional), ``population`` and ``count`` (true
    counts, e.g. ``queries.unsuppressed_counts_by_area``); ``previous`` with ``key`` and
    ``count`` for the comparison period (same length). ``min_count``: areas whose current and
    previous counts are both below it get no change rank (too small to compare).

    Output, sorted by ``rate_rank``: the input columns, rate, rate_rank, and with
    ``previous``: previous, change, pct_change, p_value, significant, change_rank (1 =
    largest significant-first rise: significant rises ordered by size, then the rest).
    """
    out = current.copy()
    out["count"] = pd.to_numeric(out["count"], errors="coerce").fillna(0).astype("int64")
    out["rate"] = rate_per_100k(out["count"], out.get("population", pd.Series(np.nan, index=out.index)),
                                annualise_months)
    out["rate_rank"] = out["rate"].rank(ascending=False, method="min").astype("Int64")
    if previous is not None:
        prev = previous.set_index(key)["count"]
        out["previous"] = out[key].map(prev).fillna(0).astype("int64")
        out["change"] = out["count"] - out["previous"]
        out["pct_change"] = [percent_change(c, p) for c, p in zip(out["count"], out["previous"], strict=True)]
        out["p_value"] = [change_test(c, p) for c, p in zip(out["count"], out["previous"], strict=True)]
        out["significant"] = out["p_value"] < alpha
        eligible = (out["count"] >= min_count) | (out["previous"] >= min_count)
        # Significant rises first (by size), then every other area by its change.
        score = out["change"].astype(float) + np.where(out["significant"] & (out["change"] > 0), 1e12, 0.0)
        out["change_rank"] = score.where(eligible).rank(ascending=False, method="min").astype("Int64")
    return out.sort_values(["rate_rank", key], na_position="last").reset_index(drop=True)


def top_risers(ranking: pd.DataFrame, n: int = 10, significant_only: bool = True) -> pd.DataFrame:
    """The ``n`` areas that rose most (by ``change_rank``), only significant rises by default."""
    data = ranking[ranking["change"] > 0]
    if significant_only:
        data = data[data["significant"]]
    return data.sort_values("change_rank").head(n).reset_index(drop=True)
