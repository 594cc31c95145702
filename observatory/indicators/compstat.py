"""CompStat table: week-to-date, last 28 days and year-to-date against a year before.

Conventions (NYPD CompStat 2.0, Esri Crime Reduction Statistics):

- ``week``: Monday of the week of ``as_of`` up to ``as_of``; compared with the same weekdays
  52 weeks (364 days) earlier, so Mondays are compared with Mondays.
- ``28d``: the 28 days ending on ``as_of``; compared with the 28 days ending 364 days earlier.
- ``ytd``: 1 January up to ``as_of``; compared with 1 January of the previous year up to the
  same calendar date (29 February maps to 28 February).

Significance: for two Poisson counts ``c1`` (current) and ``c0`` (previous) observed over
exposures ``t1`` and ``t0`` (days), conditionally on ``n = c1 + c0`` the current count is
``Binomial(n, t1 / (t1 + t0))`` under "no change in rate". The two-sided exact p-value of
``scipy.stats.binomtest`` decides whether the change is ``significant`` at ``alpha``. So 5 vs 4
(p = 1.0) is not significant, whereas 40 vs 20 (p = 0.013) is.

Percent change compares rates per day, like the test: ``(c1 / t1 - c0 / t0) / (c0 / t0) x 100``.
Periods differ in length only for the year to date across a leap day (on 29 February 2024 the
current period has 60 days, the previous 59): 60 incidents against 59 is then 0%, not +1.7%.
``change`` stays the plain difference of counts.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from scipy.stats import binomtest

PERIODS = ("week", "28d", "ytd")
ALL = "all"


def period_bounds(as_of: dt.date, period: str) -> tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]:
    """``((start, end), (prev_start, prev_end))``, inclusive dates, of ``period`` ending ``as_of``."""
    as_of = pd.Timestamp(as_of).date()
    if period == "week":
        start = as_of - dt.timedelta(days=as_of.weekday())
        shift = dt.timedelta(days=364)
        return (start, as_of), (start - shift, as_of - shift)
    if period == "28d":
        start = as_of - dt.timedelta(days=27)
        shift = dt.timedelta(days=364)
        return (start, as_of), (start - shift, as_of - shift)
    if period == "ytd":
        prev_end = (as_of.replace(year=as_of.year - 1) if not (as_of.month == 2 and as_of.day == 29)
                    else dt.date(as_of.year - 1, 2, 28))
        return (dt.date(as_of.year, 1, 1), as_of), (dt.date(as_of.year - 1, 1, 1), prev_end)
    raise ValueError(f"unknown period {period!r}; expected one of {PERIODS}")


def change_test(current: int, previous: int, t_current: float = 1.0, t_previous: float = 1.0) -> float:
    """Two-sided exact conditional p-value that two Poisson rates are equal.

    ``current`` and ``previous`` are counts over exposures ``t_current`` and ``t_previous``
    (any unit, e.g. days). Returns 1.0 when both counts are zero.
    """
    n = int(current) + int(previous)
    if n == 0:
        return 1.0
    return float(binomtest(int(current), n, t_current / (t_current + t_previous)).pvalue)


def percent_change(current: float, previous: float, t_current: float = 1.0, t_previous: float = 1.0) -> float:
    """Percent change of the rate per unit of exposure: ``(c1/t1 - c0/t0) / (c0/t0) * 100``.

    With the default equal exposures this is ``(current - previous) / previous * 100``; NaN when
    ``previous`` is 0.
    """
    if not previous:
        return float("nan")
    before = previous / t_previous
    return float((current / t_current - before) / before * 100.0)


def compstat(daily: pd.DataFrame, as_of: dt.date, *, periods: tuple[str, ...] = PERIODS, alpha: float = 0.05,
             categories: list[str] | None = None, total: bool = True) -> pd.DataFrame:
    """The CompStat table from daily counts.

    Input ``daily``: columns ``occurred_on`` (date or datetime), ``category`` (code) and
    ``count`` (as from ``queries.counts_by_day(..., role="analyst")``; it must cover the
    previous year's periods too). ``categories``: rows to show (default: every category in
    ``daily``); ``total`` adds a row ``category == "all"``.

    Output, one row per category and period: category, period, start, end, prev_start,
    prev_end, days, prev_days, current, previous (counts), change (difference), pct_change (of
    the per-day rates; NaN when previous is 0), p_value (exact conditional test), significant
    (p < alpha), direction ("up", "down" or "none": only a significant change has a direction).
    """
    data = daily.copy()
    data["occurred_on"] = pd.to_datetime(data["occurred_on"]).dt.normalize()
    data["count"] = pd.to_numeric(data["count"], errors="coerce").fillna(0)
    cats = list(categories) if categories is not None else sorted(data["category"].dropna().unique())
    groups: list[tuple[str, pd.DataFrame]] = [(c, data[data["category"] == c]) for c in cats]
    if total:
        groups.append((ALL, data if categories is None else data[data["category"].isin(cats)]))
    rows = []
    for period in periods:
        (start, end), (prev_start, prev_end) = period_bounds(as_of, period)
        t1 = (end - start).days + 1
        t0 = (prev_end - prev_start).days + 1
        for cat, frame in groups:
            days = frame["occurred_on"]
            current = int(frame.loc[(days >= pd.Timestamp(start)) & (days <= pd.Timestamp(end)), "count"].sum())
            previous = int(frame.loc[(days >= pd.Timestamp(prev_start)) & (days <= pd.Timestamp(prev_end)),
                                     "count"].sum())
            p = change_test(current, previous, t1, t0)
            significant = p < alpha
            direction = ("up" if current * t0 > previous * t1 else "down") if significant else "none"
            rows.append({"category": cat, "period": period, "start": start, "end": end, "prev_start": prev_start,
                         "prev_end": prev_end, "days": t1, "prev_days": t0, "current": current, "previous": previous,
                         "change": current - previous, "pct_change": percent_change(current, previous, t1, t0),
                         "p_value": p, "significant": significant, "direction": direction})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["pct_change"] = out["pct_change"].astype("float64")
    out["p_value"] = np.clip(out["p_value"].astype("float64"), 0.0, 1.0)
    return out


def compstat_wide(table: pd.DataFrame) -> pd.DataFrame:
    """One row per category with ``<period>_current``, ``_previous``, ``_pct_change``,
    ``_significant`` columns (the layout of a printed CompStat sheet)."""
    wide = table.pivot(index="category", columns="period",
                       values=["current", "previous", "pct_change", "p_value", "significant"])
    wide.columns = [f"{period}_{value}" for value, period in wide.columns]
    order = [f"{p}_{v}" for p in PERIODS if p in set(table["period"])
             for v in ("current", "previous", "pct_change", "p_value", "significant")]
    return wide[order].reset_index()
