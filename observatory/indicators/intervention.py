"""Before/after evaluation of an intervention against comparison areas.

Windows: the ``months_before`` whole months before the month the intervention starts, and
up to ``months_after`` whole months from the month after it starts (the start month is
partly treated and is left out), cut at ``ended_on`` and at the last month of data.

Two effect measures on the summed counts ``T0, T1`` (treated areas, before / after) and
``C0, C1`` (comparison areas):

- **ratio of ratios** ``RR = (T1 / T0) / (C1 / C0)``: the relative change in the treated
  areas beyond the comparison areas' change (0.8 = 20% fewer incidents than expected).
  With independent Poisson counts ``Var(log RR) = 1/T0 + 1/T1 + 1/C0 + 1/C1``; the interval
  is ``exp(log RR +- z se)``. A 0.5 continuity correction is added to all four counts when
  any is zero. ``expected_after = T0 x C1 / C0`` is what the treated areas would have
  recorded had they followed the comparison trend.
- **difference in differences** of monthly rates per 100,000 (or of monthly counts when no
  population is given): ``(T1/m1 - T0/m0) - (C1/m1 - C0/m0)`` scaled by the groups'
  populations, with Poisson variance ``sum(count / (pop x months)^2)`` and a normal interval.

Assumes parallel trends (the comparison areas show what would have happened) and no
spill-over; choose comparison areas that are similar and not adjacent when possible.
"""

from __future__ import annotations

import datetime as dt
from statistics import NormalDist

import numpy as np
import pandas as pd

PER = 100_000.0


def _windows(months: pd.DatetimeIndex, started_on: dt.date, months_before: int, months_after: int,
             ended_on: dt.date | None) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    start_month = pd.Timestamp(started_on).to_period("M").to_timestamp()
    before = pd.date_range(start_month - pd.DateOffset(months=months_before), periods=months_before, freq="MS")
    after = pd.date_range(start_month + pd.DateOffset(months=1), periods=months_after, freq="MS")
    if ended_on is not None:
        after = after[after <= pd.Timestamp(ended_on).to_period("M").to_timestamp()]
    last = months.max() if len(months) else start_month
    return before[before >= months.min()] if len(months) else before[:0], after[after <= last]


def evaluate_intervention(area_month: pd.DataFrame, treated: list[str], started_on: dt.date, *,
                          comparison: list[str] | None = None, months_before: int = 12, months_after: int = 12,
                          ended_on: dt.date | None = None, population: pd.Series | None = None,
                          level: float = 0.95) -> pd.DataFrame:
    """Effect of an intervention in ``treated`` areas, one row.

    Inputs: ``area_month`` with code, month, count (true counts, e.g.
    ``queries.unsuppressed_counts_by_area_month``, zeros included); ``treated``: area codes;
    ``comparison``: area codes (default every other area in ``area_month``); ``population``:
    optional Series code -> inhabitants for the rate DiD.

    Output columns: months_before, months_after, treated_before, treated_after,
    comparison_before, comparison_after, expected_after, rr, rr_low, rr_high, effect_pct
    ((rr - 1) x 100), p_value (two-sided, log RR), significant, did, did_low, did_high,
    did_unit ("per 100k per month" or "incidents per month").
    """
    data = area_month[["code", "month", "count"]].copy()
    data["month"] = pd.to_datetime(data["month"]).dt.to_period("M").dt.to_timestamp()
    data["count"] = pd.to_numeric(data["count"], errors="coerce").fillna(0).astype(float)
    treated = [str(c) for c in treated]
    if comparison is None:
        comparison = sorted(set(data["code"].astype(str)) - set(treated))
    comparison = [str(c) for c in comparison]
    if not treated or not comparison:
        raise ValueError("an intervention needs at least one treated and one comparison area")
    if set(treated) & set(comparison):
        raise ValueError("treated and comparison areas overlap: " + ", ".join(sorted(set(treated) & set(comparison))))
    months = pd.DatetimeIndex(sorted(data["month"].unique()))
    before, after = _windows(months, started_on, months_before, months_after, ended_on)
    m0, m1 = len(before), len(after)
    if m0 == 0 or m1 == 0:
        raise ValueError(f"no data before ({m0} months) or after ({m1} months) the start on {started_on}")

    def total(codes: list[str], window: pd.DatetimeIndex) -> float:
        return float(data.loc[data["code"].astype(str).isin(codes) & data["month"].isin(window), "count"].sum())

    t0, t1, c0, c1 = total(treated, before), total(treated, after), total(comparison, before), total(comparison, after)
    z = NormalDist().inv_cdf(0.5 + level / 2)
    a, b, c, d = (t0, t1, c0, c1) if min(t0, t1, c0, c1) > 0 else (t0 + 0.5, t1 + 0.5, c0 + 0.5, c1 + 0.5)
    rr = (b / a) / (d / c)
    se = np.sqrt(1 / a + 1 / b + 1 / c + 1 / d)
    log_rr = np.log(rr)
    p_value = 2 * (1 - NormalDist().cdf(abs(log_rr) / se))
    if population is not None:
        pop = population.rename(index=str)
        pop_t, pop_c = float(pop.reindex(treated).sum()), float(pop.reindex(comparison).sum())
        scale_t, scale_c, unit = PER / pop_t, PER / pop_c, "per 100k per month"
    else:
        scale_t = scale_c = 1.0
        unit = "incidents per month"
    did = (t1 / m1 - t0 / m0) * scale_t - (c1 / m1 - c0 / m0) * scale_c
    did_se = np.sqrt(t1 * (scale_t / m1) ** 2 + t0 * (scale_t / m0) ** 2
                     + c1 * (scale_c / m1) ** 2 + c0 * (scale_c / m0) ** 2)
    return pd.DataFrame([{
        "months_before": m0, "months_after": m1, "treated_before": t0, "treated_after": t1,
        "comparison_before": c0, "comparison_after": c1,
        "expected_after": t0 * c1 / c0 if c0 > 0 else np.nan,
        "rr": rr, "rr_low": float(np.exp(log_rr - z * se)), "rr_high": float(np.exp(log_rr + z * se)),
        "effect_pct": (rr - 1) * 100, "p_value": float(p_value), "significant": bool(p_value < 1 - level),
        "did": did, "did_low": did - z * did_se, "did_high": did + z * did_se, "did_unit": unit,
    }])
