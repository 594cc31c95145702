"""Monthly series with moving averages, last year's values and a seasonal expected band.

Expected band (documented in ``docs/indicators-recorded.md``): for month ``t`` the previous
``history`` months (36 by default, at least ``min_history`` = 24) are split into 12-month
blocks counted back from ``t - 1``. Each block ``j`` has a mean level ``A_j``; the seasonal
index of a calendar month is the mean over blocks of ``count / A_j`` for that month. The
expected count is ``A_1 x index(month of t)`` (the last year's level, the usual seasonal
shape). Over-dispersion ``phi = max(1, sum((y - fit)^2 / fit) / dof)`` is estimated from how
well that model fits the history itself (``dof`` = months - 12 indices - (years - 1) levels),
then widened by ``1 + 1/years + 1/12`` for the uncertainty of the estimated index and level.
The band is the central ``level`` (95%) interval of a negative binomial with that mean and
variance ``phi x mean``; a month whose count lies outside is flagged ``above`` or ``below``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

SERIES_COLUMNS = ["month", "count", "ma3", "ma12", "previous_year", "expected", "lower", "upper", "flag"]


def complete_months(monthly: pd.DataFrame, month: str = "month", value: str = "count") -> pd.DataFrame:
    """Sum ``value`` per month and insert missing months as 0 (first to last month present)."""
    data = monthly[[month, value]].copy()
    data[month] = pd.to_datetime(data[month]).dt.to_period("M").dt.to_timestamp()
    data[value] = pd.to_numeric(data[value], errors="coerce")
    sums = data.groupby(month)[value].sum(min_count=1)
    if sums.empty:
        return pd.DataFrame({month: pd.Series(dtype="datetime64[ns]"), value: pd.Series(dtype="float64")})
    index = pd.date_range(sums.index.min(), sums.index.max(), freq="MS")
    out = sums.reindex(index).fillna(0).rename_axis(month).reset_index()
    out[month] = out[month].astype("datetime64[ns]")
    return out


def seasonal_band(counts: np.ndarray, t: int, *, history: int = 36, min_history: int = 24,
                  level: float = 0.95) -> tuple[float, float, float]:
    """``(expected, lower, upper)`` for position ``t`` of a monthly series from its past.

    Uses the ``history`` months before ``t`` (NaN band when fewer than ``min_history``
    months, rounded down to whole years, are available). See the module docstring.
    """
    years = min(history, t) // 12
    if years * 12 < min_history or years == 0:
        return (np.nan, np.nan, np.nan)
    past = counts[t - years * 12:t].astype(float)
    # Block j = 1 is the most recent year; reshape oldest-first, then reverse.
    blocks = past.reshape(years, 12)[::-1]
    levels = blocks.mean(axis=1)
    if np.any(levels <= 0):
        levels = np.where(levels <= 0, np.nan, levels)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratios = blocks / levels[:, None]
    index = np.nanmean(ratios, axis=0) if np.isfinite(ratios).any() else np.ones(12)
    index = np.where(np.isfinite(index), index, 1.0)
    # Position of t within each block: the blocks start at t - 12j, so t's calendar month is column 0.
    expected = float(np.nan_to_num(levels[0], nan=0.0) * index[0])
    fit = np.nan_to_num(levels[:, None], nan=0.0) * index[None, :]
    ok = fit > 0
    # Residual degrees of freedom: 12 seasonal indices and (years - 1) further levels were fitted.
    dof = int(ok.sum()) - 12 - (years - 1)
    phi = float(np.sum((blocks[ok] - fit[ok]) ** 2 / fit[ok]) / dof) if ok.any() and dof > 0 else 1.0
    # Predictive dispersion: the noise of the new month plus that of the estimated level (12
    # months) and seasonal index (``years`` values), each Poisson-like with dispersion phi.
    phi = max(1.0, phi) * (1.0 + 1.0 / years + 1.0 / 12.0)
    tail = (1.0 - level) / 2.0
    if expected <= 0:
        return (0.0, 0.0, 0.0)
    # Negative binomial with mean mu and variance phi * mu: n = mu / (phi - 1), p = 1 / phi.
    dist = stats.nbinom(expected / (phi - 1.0), 1.0 / phi)
    return (expected, float(dist.ppf(tail)), float(dist.ppf(1.0 - tail)))


def monthly_series(monthly: pd.DataFrame, *, history: int = 36, min_history: int = 24,
                   level: float = 0.95) -> pd.DataFrame:
    """Monthly counts with the indicators of the Trends page.

    Input: columns ``month`` and ``count`` (e.g. ``queries.counts_by_month``; missing months
    are filled with 0; a suppressed NA count is treated as unknown and gives NaN).
    Output, one row per month: month, count, ma3 and ma12 (trailing moving averages, NaN
    until 3 / 12 months exist), previous_year (the count 12 months before), expected, lower,
    upper (seasonal band, NaN without enough history), flag ("above", "below" or "").
    """
    data = complete_months(monthly)
    counts = data["count"].to_numpy(dtype=float)
    out = data.copy()
    out["ma3"] = out["count"].rolling(3, min_periods=3).mean()
    out["ma12"] = out["count"].rolling(12, min_periods=12).mean()
    out["previous_year"] = out["count"].shift(12)
    bands = [seasonal_band(counts, t, history=history, min_history=min_history, level=level)
             for t in range(len(counts))]
    out["expected"] = [b[0] for b in bands]
    out["lower"] = [b[1] for b in bands]
    out["upper"] = [b[2] for b in bands]
    flag = np.where(out["count"] > out["upper"], "above", np.where(out["count"] < out["lower"], "below", ""))
    out["flag"] = pd.Series(flag, index=out.index).astype(str)
    return out[SERIES_COLUMNS]
