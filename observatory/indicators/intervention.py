"""Before/after evaluation of an intervention against comparison areas.

Windows: the ``months_before`` whole months before the month the intervention starts, and
up to ``months_after`` whole months from the month after it starts (the start month is
partly treated and is left out), cut at ``ended_on`` and at the last month of data.

Comparison group: by default every other area EXCEPT the treated areas' neighbours (given as
``neighbours``: a libpysal ``W`` or a dict code -> neighbour codes). Crime pushed out of the
treated areas (displacement) or deterred beyond them (diffusion) shows first next door, so
neighbours would bias the comparison; they are left out and listed in ``excluded_neighbours``.

Two effect measures on the summed counts ``T0, T1`` (treated areas, before / after) and
``C0, C1`` (comparison areas):

- **ratio of ratios** ``RR = (T1 / T0) / (C1 / C0)``: the relative change in the treated
  areas beyond the comparison areas' change (0.8 = 20% fewer incidents than expected).
  ``expected_after = T0 x C1 / C0`` is what the treated areas would have recorded had they
  followed the comparison trend. A 0.5 continuity correction is added to all four counts
  when any is zero.
- **difference in differences** of monthly rates per 100,000 (or of monthly counts when no
  population is given): ``(T1/m1 - T0/m0) - (C1/m1 - C0/m0)`` scaled by the groups'
  populations.

Inference (quasi-Poisson). ``RR`` is the interaction of a log-linear model of the areas' before
and after counts, ``log E[y_a,p] = area_a + period_p + log RR x (treated and after)``. Pure
Poisson counts would give ``Var(log RR) = 1/T0 + 1/T1 + 1/C0 + 1/C1``, but areas' counts change
from one year to the next far more than Poisson noise (local trends, one-off events): on Mexico
City's 72 police sectors a third of placebo "interventions" came out significant at 5%. So the
variance is multiplied by the dispersion ``phi = max(1, X2 / (A - 2))``, with ``X2`` the Pearson
chi-square of that model over the ``A`` areas used (how much the areas' before/after split varies
beyond chance), and the interval and p-value use Student's t with ``A - 2`` degrees of freedom
(McCullagh & Nelder's quasi-likelihood). With fewer than 3 areas the dispersion cannot be
estimated and no p-value or interval is given. The DiD variance (Poisson, ``sum(count / (pop x
months)^2)``) gets the same ``phi`` and t quantile.

Assumes parallel trends (the comparison areas show what would have happened).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats

from observatory.indicators.rates import PER

Neighbours = Mapping[str, Iterable[str]]


def _windows(months: pd.DatetimeIndex, started_on: dt.date, months_before: int, months_after: int,
             ended_on: dt.date | None) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    start_month = pd.Timestamp(started_on).to_period("M").to_timestamp()
    before = pd.date_range(start_month - pd.DateOffset(months=months_before), periods=months_before, freq="MS")
    after = pd.date_range(start_month + pd.DateOffset(months=1), periods=months_after, freq="MS")
    if ended_on is not None:
        after = after[after <= pd.Timestamp(ended_on).to_period("M").to_timestamp()]
    last = months.max() if len(months) else start_month
    return before[before >= months.min()] if len(months) else before[:0], after[after <= last]


def comparison_group(codes: Iterable[str], treated: Iterable[str], neighbours=None, *,
                     comparison: Iterable[str] | None = None) -> tuple[list[str], list[str]]:
    """``(used, excluded)``: the comparison areas and the treated areas' neighbours left out.

    ``codes``: every area with data; ``neighbours``: a libpysal ``W`` (its ``neighbors``) or a
    dict code -> neighbour codes, or None (no buffer). An explicit ``comparison`` list is used as
    given, minus any neighbour of a treated area (those are reported as excluded).
    """
    treated = {str(c) for c in treated}
    table = getattr(neighbours, "neighbors", neighbours) or {}
    table = {str(k): {str(v) for v in vs} for k, vs in table.items()}
    buffer = set().union(*(table.get(t, set()) for t in treated)) - treated if treated else set()
    pool = sorted({str(c) for c in codes} - treated) if comparison is None else [str(c) for c in comparison]
    used = [c for c in pool if c not in buffer]
    excluded = [c for c in pool if c in buffer]
    return used, excluded


def quasi_poisson_dispersion(before: pd.Series, after: pd.Series, treated: Iterable[str]) -> tuple[float, int]:
    """``(phi, dof)`` of the before/after split of each area's counts (see module docstring).

    ``before`` / ``after``: counts per area code (same index). The fitted after-share of an area
    is its group's pooled share (treated or comparison). Areas with no incident in either window
    carry no information and are left out. ``phi`` is NaN when ``dof < 1``.
    """
    n = before + after
    keep = n > 0
    b, a, n = before[keep].astype(float), after[keep].astype(float), n[keep].astype(float)
    is_t = b.index.isin(list(treated))
    share = np.where(is_t, a[is_t].sum() / max(n[is_t].sum(), 1.0), a[~is_t].sum() / max(n[~is_t].sum(), 1.0))
    mu1, mu0 = n * share, n * (1 - share)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(mu1 > 0, (a - mu1) ** 2 / mu1, 0.0) + np.where(mu0 > 0, (b - mu0) ** 2 / mu0, 0.0)
    dof = int(keep.sum()) - 2
    if dof < 1:
        return float("nan"), dof
    return max(1.0, float(terms.sum()) / dof), dof


def _area_totals(data: pd.DataFrame, window: pd.DatetimeIndex, codes: list[str]) -> pd.Series:
    """Counts per area code summed over the months of ``window`` (0 for an area without rows)."""
    inside = data[data["month"].isin(window)]
    return inside.groupby("code")["count"].sum().reindex(codes, fill_value=0.0).astype(float)


def _did(t: tuple[float, float], c: tuple[float, float], months: tuple[int, int], pop_t: float | None,
         pop_c: float | None) -> tuple[float, float, str]:
    """DiD of monthly rates (or counts) and its Poisson standard error (before dispersion)."""
    (t0, t1), (c0, c1), (m0, m1) = t, c, months
    if pop_t is not None and pop_c is not None:
        scale_t, scale_c, unit = PER / pop_t, PER / pop_c, "per 100k per month"
    else:
        scale_t = scale_c = 1.0
        unit = "incidents per month"
    did = (t1 / m1 - t0 / m0) * scale_t - (c1 / m1 - c0 / m0) * scale_c
    se = np.sqrt(t1 * (scale_t / m1) ** 2 + t0 * (scale_t / m0) ** 2
                 + c1 * (scale_c / m1) ** 2 + c0 * (scale_c / m0) ** 2)
    return float(did), float(se), unit


def evaluate_intervention(area_month: pd.DataFrame, treated: list[str], started_on: dt.date, *,
                          comparison: list[str] | None = None, neighbours=None, months_before: int = 12,
                          months_after: int = 12, ended_on: dt.date | None = None,
                          population: pd.Series | None = None, level: float = 0.95) -> pd.DataFrame:
    """Effect of an intervention in ``treated`` areas, one row (method in the module docstring).

    Inputs: ``area_month`` with code, month, count (true counts, e.g.
    ``queries.unsuppressed_counts_by_area_month``, zeros included); ``treated``: area codes;
    ``comparison``: area codes (default every other area in ``area_month``); ``neighbours``: a
    libpysal ``W`` or dict code -> neighbour codes, whose members next to a treated area are
    left out of the comparison group; ``population``: optional Series code -> inhabitants for
    the rate DiD.

    Output columns: months_before, months_after, treated_before, treated_after,
    comparison_before, comparison_after, expected_after, rr, rr_low, rr_high, effect_pct
    ((rr - 1) x 100), p_value (two-sided, quasi-Poisson t test of log RR), significant,
    dispersion (phi), dispersion_dof, inference (a sentence), did, did_low, did_high, did_unit
    ("per 100k per month" or "incidents per month"), comparison_areas and excluded_neighbours
    (tuples of codes), n_comparison.
    """
    data = area_month[["code", "month", "count"]].copy()
    data["code"] = data["code"].astype(str)
    data["month"] = pd.to_datetime(data["month"]).dt.to_period("M").dt.to_timestamp()
    data["count"] = pd.to_numeric(data["count"], errors="coerce").fillna(0).astype(float)
    treated = [str(c) for c in treated]
    if comparison is not None and set(treated) & {str(c) for c in comparison}:
        overlap = sorted(set(treated) & {str(c) for c in comparison})
        raise ValueError("treated and comparison areas overlap: " + ", ".join(overlap))
    comparison, excluded = comparison_group(data["code"].unique(), treated, neighbours, comparison=comparison)
    if not treated or not comparison:
        raise ValueError("an intervention needs at least one treated and one comparison area"
                         + (f" ({len(excluded)} neighbours of the treated areas were left out)" if excluded else ""))
    months = pd.DatetimeIndex(sorted(data["month"].unique()))
    before, after = _windows(months, started_on, months_before, months_after, ended_on)
    m0, m1 = len(before), len(after)
    if m0 == 0 or m1 == 0:
        raise ValueError(f"no data before ({m0} months) or after ({m1} months) the start on {started_on}")
    codes = treated + comparison
    y0, y1 = _area_totals(data, before, codes), _area_totals(data, after, codes)
    t0, t1 = float(y0[treated].sum()), float(y1[treated].sum())
    c0, c1 = float(y0[comparison].sum()), float(y1[comparison].sum())
    phi, dof = quasi_poisson_dispersion(y0, y1, treated)
    q = float(stats.t.ppf(0.5 + level / 2, dof)) if dof >= 1 else np.nan
    a, b, c, d = (t0, t1, c0, c1) if min(t0, t1, c0, c1) > 0 else (t0 + 0.5, t1 + 0.5, c0 + 0.5, c1 + 0.5)
    rr = (b / a) / (d / c)
    log_rr = float(np.log(rr))
    se = float(np.sqrt(phi * (1 / a + 1 / b + 1 / c + 1 / d)))
    p_value = float(2 * stats.t.sf(abs(log_rr) / se, dof)) if dof >= 1 else np.nan
    pops = (None, None)
    if population is not None:
        pop = population.rename(index=str)
        pops = (float(pop.reindex(treated).sum()), float(pop.reindex(comparison).sum()))
    did, did_se, unit = _did((t0, t1), (c0, c1), (m0, m1), *pops)
    did_se *= float(np.sqrt(phi))
    inference = (f"quasi-Poisson, dispersion {phi:.2f} from {dof + 2} areas, t with {dof} d.f." if dof >= 1
                 else "not enough areas to estimate overdispersion (at least 3 needed): no p-value")
    return pd.DataFrame([{
        "months_before": m0, "months_after": m1, "treated_before": t0, "treated_after": t1,
        "comparison_before": c0, "comparison_after": c1,
        "expected_after": t0 * c1 / c0 if c0 > 0 else np.nan,
        "rr": rr, "rr_low": float(np.exp(log_rr - q * se)), "rr_high": float(np.exp(log_rr + q * se)),
        "effect_pct": (rr - 1) * 100, "p_value": p_value,
        "significant": bool(p_value < 1 - level) if dof >= 1 else False,
        "dispersion": phi, "dispersion_dof": dof, "inference": inference,
        "did": did, "did_low": did - q * did_se, "did_high": did + q * did_se, "did_unit": unit,
        "comparison_areas": tuple(comparison), "excluded_neighbours": tuple(excluded),
        "n_comparison": len(comparison),
    }])
