"""Neighbourhood ranking by rate per 100,000 and by change, ordered by evidence.

Rates are :func:`observatory.indicators.rates.rate_per_100k` over the period (not annualised
unless ``annualise_months`` is given). A change between two periods is tested with the exact
conditional test of two Poisson counts (:func:`observatory.indicators.compstat.change_test`),
with the periods' lengths in days as exposures when the periods are given.

ONE ordering of changes (:func:`rank_changes`, also behind ``rank_areas``'s ``change_rank`` and
:func:`top_risers`), "by evidence":

1. first the areas whose change in the chosen direction is statistically significant (rises for
   ``direction="up"``, falls for ``"down"``),
2. then every other area;

within each group by the change of the rate per 100,000 (largest rise, or largest fall, first),
areas without population after those with a rate, then by the change in incidents. So a small,
non-significant jump never sits above a significant rise. Periods of unequal length are compared
per day: the previous period's count and rate are rescaled to the current period's length.

Rates are derived from true counts: for the public, hide the rate wherever the count itself is
suppressed (a rate times the population gives it back).
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from observatory.indicators.compstat import change_test, percent_change
from observatory.indicators.rates import rate_per_100k

DIRECTIONS = ("up", "down")
Period = tuple[dt.date, dt.date]


def _days(period: Period | None) -> float:
    if period is None:
        return 1.0
    start, end = (pd.Timestamp(d) for d in period)
    if end < start:
        raise ValueError(f"period ends ({end.date()}) before it starts ({start.date()})")
    return float((end - start).days + 1)


def _evidence_rank(frame: pd.DataFrame, direction: str, eligible: pd.Series) -> pd.Series:
    """1 = strongest evidence of a change in ``direction`` (module docstring); NA where not eligible."""
    sign = 1.0 if direction == "up" else -1.0
    moved = np.sign(frame["change_per_day"]) == sign
    keys = pd.DataFrame({
        "group": np.where(frame["significant"] & moved, 0, 1),
        "no_rate": frame["rate_change"].isna().astype(int),
        "rate": -sign * frame["rate_change"].fillna(0.0),
        "count": -sign * frame["change_per_day"],
    }, index=frame.index)[eligible]
    order = keys.sort_values(["group", "no_rate", "rate", "count"], kind="stable").index
    rank = pd.Series(pd.NA, index=frame.index, dtype="Int64")
    rank[order] = np.arange(1, len(order) + 1)
    return rank


def _changes(out: pd.DataFrame, previous: pd.DataFrame, key: str, t1: float, t0: float, alpha: float,
             annualise_months: float | None) -> pd.DataFrame:
    prev = previous.assign(**{key: previous[key].astype(str)}).set_index(key)["count"]
    out["previous"] = out[key].astype(str).map(prev).fillna(0).astype("int64")
    out["change"] = out["count"] - out["previous"]
    # the previous count rescaled to the current period's length (equal periods: unchanged)
    out["change_per_day"] = out["count"] - out["previous"] * t1 / t0
    out["pct_change"] = [percent_change(c, p, t1, t0) for c, p in zip(out["count"], out["previous"], strict=True)]
    out["previous_rate"] = rate_per_100k(out["previous"] * t1 / t0, out["population"], annualise_months)
    out["rate_change"] = out["rate"] - out["previous_rate"]
    out["p_value"] = [change_test(c, p, t1, t0) for c, p in zip(out["count"], out["previous"], strict=True)]
    out["significant"] = out["p_value"] < alpha
    return out


def rank_changes(current: pd.DataFrame, previous: pd.DataFrame, *, key: str = "code",
                 period: Period | None = None, previous_period: Period | None = None, direction: str = "up",
                 alpha: float = 0.05, min_count: int = 0, annualise_months: float | None = None) -> pd.DataFrame:
    """Areas sorted by the evidence of a rise (``direction="up"``) or a fall (``"down"``).

    Inputs: ``current`` with ``key``, ``name`` (optional), ``population`` (optional) and ``count``
    (true counts, e.g. ``queries.unsuppressed_counts_by_area``) for ``period`` = (start, end),
    inclusive dates; ``previous`` with ``key`` and ``count`` for ``previous_period``. Without the
    periods they are taken as equally long. ``min_count``: areas whose current and previous counts
    are both below it are left out (too small to compare).

    Output, in ranking order: the input columns, rate, previous (count), change (incidents),
    pct_change (per day), previous_rate (per 100,000, rescaled to the current period's length),
    rate_change, p_value, significant, direction ("up"/"down" when significant, else "none"),
    rank (1 = first), start, end, prev_start, prev_end (the period bounds to state on the page,
    NaT when not given). ``attrs``: period, previous_period, direction, alpha.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    t1, t0 = _days(period), _days(previous_period)
    if (period is None) != (previous_period is None):
        raise ValueError("give both periods or neither")
    out = current.copy()
    out["count"] = pd.to_numeric(out["count"], errors="coerce").fillna(0).astype("int64")
    if "population" not in out:
        out["population"] = np.nan
    out["rate"] = rate_per_100k(out["count"], out["population"], annualise_months)
    out = _changes(out, previous, key, t1, t0, alpha, annualise_months)
    out["direction"] = np.where(out["significant"], np.where(out["change_per_day"] > 0, "up", "down"), "none")
    eligible = (out["count"] >= min_count) | (out["previous"] >= min_count)
    out["rank"] = _evidence_rank(out, direction, eligible)
    out = out[eligible].sort_values("rank").reset_index(drop=True)
    bounds = (period or (None, None)) + (previous_period or (None, None))
    for name, value in zip(("start", "end", "prev_start", "prev_end"), bounds, strict=True):
        out[name] = pd.Timestamp(value) if value is not None else pd.NaT
    out.attrs.update(period=period, previous_period=previous_period, direction=direction, alpha=alpha)
    return out.drop(columns="change_per_day")


def rank_areas(current: pd.DataFrame, previous: pd.DataFrame | None = None, *, key: str = "code",
               alpha: float = 0.05, min_count: int = 0, annualise_months: float | None = None) -> pd.DataFrame:
    """Rank areas by rate and (with ``previous``) by change.

    Inputs as :func:`rank_changes` (periods of equal length). Output, sorted by ``rate_rank``: the
    input columns, rate, rate_rank (1 = highest; none without population), and with ``previous``
    the columns of :func:`rank_changes` with its ``rank`` (direction "up") as ``change_rank``.
    """
    out = current.copy()
    out["count"] = pd.to_numeric(out["count"], errors="coerce").fillna(0).astype("int64")
    out["rate"] = rate_per_100k(out["count"], out.get("population", pd.Series(np.nan, index=out.index)),
                                annualise_months)
    out["rate_rank"] = out["rate"].rank(ascending=False, method="min").astype("Int64")
    if previous is not None:
        changes = rank_changes(current, previous, key=key, alpha=alpha, annualise_months=annualise_months)
        changes = changes.set_index(changes[key].astype(str))
        cols = ["previous", "change", "pct_change", "previous_rate", "rate_change", "p_value", "significant",
                "direction"]
        codes = out[key].astype(str)
        for col in cols:
            out[col] = codes.map(changes[col]).to_numpy()
        out["significant"] = out["significant"].astype(bool)
        eligible = (out["count"] >= min_count) | (out["previous"] >= min_count)
        out["change_rank"] = pd.array(codes.map(changes["rank"]).where(eligible.to_numpy()), dtype="Int64")
    return out.sort_values(["rate_rank", key], na_position="last").reset_index(drop=True)


def top_risers(ranking: pd.DataFrame, n: int = 10, significant_only: bool = True) -> pd.DataFrame:
    """The ``n`` areas that rose most (by ``change_rank`` or ``rank``), only significant rises by default."""
    order = "change_rank" if "change_rank" in ranking else "rank"
    data = ranking[ranking["change"] > 0]
    if significant_only:
        data = data[data["significant"]]
    return data.sort_values(order).head(n).reset_index(drop=True)
