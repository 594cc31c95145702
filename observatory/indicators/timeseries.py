"""Monthly series with moving averages, last year's values and an expected band that follows trends.

Expected band (documented in ``docs/indicators-recorded.md``): for month ``t`` the previous
``history`` months (36 by default, at least ``min_history`` = 24, rounded down to whole years)
are fitted with a Poisson log-linear model (a GLM) with a linear trend and one term per calendar
month: ``log E[y] = a + b x time + season(month)``. Its prediction for ``t`` is the expected
count, so a series that keeps falling (or rising) is expected to keep doing so, instead of being
compared with last year's level. Over-dispersion ``phi = max(1, Pearson X2 / (months - 13))`` says
how much more the months vary than Poisson noise. The predictive variance adds the uncertainty
of the fitted trend and season: ``V = phi mu + mu^2 x var(log mu)``, with ``var(log mu)`` from the
GLM's covariance times ``phi``. The band is the central ``level`` (95%) interval of a negative
binomial with mean ``mu`` and variance ``V``; a month whose count lies outside is flagged
``above`` or ``below``.

Partial months: when the data start after the 1st of their first month or end before the last
day of their last month (e.g. data up to 25 September), that month's count covers only part of
it. It is marked ``partial`` and never flagged, and it is left out of every fit.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from scipy import stats

SERIES_COLUMNS = ["month", "count", "ma3", "ma12", "previous_year", "expected", "lower", "upper", "flag",
                  "partial"]
_NO_BAND = (np.nan, np.nan, np.nan)


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


def design_matrix(n: int) -> np.ndarray:
    """Columns: intercept, time (centred, in years), 11 calendar-month contrasts (month 0 = base).

    Position ``i`` of a history that starts at the calendar month of the predicted month has
    calendar position ``i % 12``; the predicted month is row ``n`` of ``design_matrix(n + 1)``.
    """
    i = np.arange(n)
    season = np.zeros((n, 11))
    pos = i % 12
    season[pos > 0, pos[pos > 0] - 1] = 1.0
    return np.column_stack([np.ones(n), i / 12.0, season])


def poisson_glm(y: np.ndarray, x: np.ndarray, *, max_iter: int = 50,
                tol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """Poisson log-linear fit by iteratively reweighted least squares: ``(beta, (X'WX)^-1)``.

    Solves the score equations ``X'(y - mu) = 0``. A calendar month that is 0 in every year drives
    its coefficient towards minus infinity; the iteration cap leaves its mean at practically 0.
    """
    mu = np.maximum(y, 0.5)
    eta = np.log(mu)
    beta = np.zeros(x.shape[1])
    for _ in range(max_iter):
        z = eta + (y - mu) / mu
        sw = np.sqrt(mu)
        new, *_ = np.linalg.lstsq(x * sw[:, None], z * sw, rcond=None)
        eta = np.clip(x @ new, -30.0, 30.0)
        mu = np.exp(eta)
        done = np.max(np.abs(new - beta)) < tol
        beta = new
        if done:
            break
    cov = np.linalg.pinv(x.T @ (x * mu[:, None]))
    return beta, cov


def _band_from(mu: float, var: float, level: float) -> tuple[float, float, float]:
    """Central interval of a negative binomial with mean ``mu`` and variance ``var`` (Poisson if <=)."""
    tail = (1.0 - level) / 2.0
    q = np.array([tail, 1.0 - tail])
    if var <= mu * (1 + 1e-9):
        low, high = stats.poisson.ppf(q, mu)
    else:
        # n = mu^2 / (V - mu), p = mu / V gives mean mu and variance V (not frozen: 1 ms faster).
        low, high = stats.nbinom.ppf(q, mu * mu / (var - mu), mu / var)
    return (mu, float(low), float(high))


def seasonal_band(counts: np.ndarray, t: int, *, history: int = 36, min_history: int = 24,
                  level: float = 0.95) -> tuple[float, float, float]:
    """``(expected, lower, upper)`` for position ``t`` of a monthly series from its past.

    Uses the ``history`` months before ``t`` (rounded down to whole years; NaN band when fewer
    than ``min_history`` usable months). NaN counts (partial or unknown months) are left out of
    the fit. See the module docstring.
    """
    years = min(history, t) // 12
    if years == 0 or years * 12 < min_history:
        return _NO_BAND
    past = np.asarray(counts[t - years * 12:t], dtype=float)
    x_all = design_matrix(years * 12 + 1)
    ok = ~np.isnan(past)
    if ok.sum() < min_history:
        return _NO_BAND
    y, x = past[ok], x_all[:-1][ok]
    if y.sum() == 0:
        return (0.0, 0.0, 0.0)
    beta, cov = poisson_glm(y, x)
    fit = np.exp(np.clip(x @ beta, -30.0, 30.0))
    dof = len(y) - x.shape[1]
    positive = fit > 1e-8
    pearson = float(np.sum((y[positive] - fit[positive]) ** 2 / fit[positive]))
    phi = max(1.0, pearson / dof) if dof > 0 else 1.0
    x_new = x_all[-1]
    mu = float(np.exp(np.clip(x_new @ beta, -30.0, 30.0)))
    if mu < 1e-8:
        return (0.0, 0.0, 0.0)
    var_eta = phi * float(x_new @ cov @ x_new)
    return _band_from(mu, phi * mu + mu * mu * var_eta, level)


def partial_months(months: pd.Series, data_start: dt.date | None, data_end: dt.date | None) -> np.ndarray:
    """True for each month (first day) not fully covered by the data's first and last dates."""
    starts = pd.to_datetime(months)
    ends = starts + pd.offsets.MonthEnd(0)
    partial = np.zeros(len(starts), dtype=bool)
    if data_start is not None:
        partial |= (starts < pd.Timestamp(data_start)).to_numpy()
    if data_end is not None:
        partial |= (ends > pd.Timestamp(data_end)).to_numpy()
    return partial


def monthly_series(monthly: pd.DataFrame, *, history: int = 36, min_history: int = 24, level: float = 0.95,
                   data_start: dt.date | None = None, data_end: dt.date | None = None) -> pd.DataFrame:
    """Monthly counts with the indicators of the Trends page.

    Input: columns ``month`` and ``count`` (e.g. ``queries.counts_by_month``; missing months
    are filled with 0; a suppressed NA count is treated as unknown and gives NaN);
    ``data_start`` / ``data_end``: the first and last dates the data cover (e.g. the dates of the
    first and last incident loaded), so that partly covered months are recognised.
    Output, one row per month: month, count, ma3 and ma12 (trailing moving averages, NaN
    until 3 / 12 months exist), previous_year (the count 12 months before), expected, lower,
    upper (expected band, NaN without enough history and for partial months), flag ("above",
    "below" or ""; never for a partial month), partial (bool).
    """
    data = complete_months(monthly)
    out = data.copy()
    out["partial"] = partial_months(out["month"], data_start, data_end)
    counts = out["count"].to_numpy(dtype=float).copy()
    counts[out["partial"].to_numpy()] = np.nan  # a partial month says nothing about the level
    out["ma3"] = out["count"].rolling(3, min_periods=3).mean()
    out["ma12"] = out["count"].rolling(12, min_periods=12).mean()
    out["previous_year"] = out["count"].shift(12)
    bands = [_NO_BAND if out["partial"].iat[t] else
             seasonal_band(counts, t, history=history, min_history=min_history, level=level)
             for t in range(len(counts))]
    out["expected"] = [b[0] for b in bands]
    out["lower"] = [b[1] for b in bands]
    out["upper"] = [b[2] for b in bands]
    flag = np.where(out["count"] > out["upper"], "above", np.where(out["count"] < out["lower"], "below", ""))
    flag[out["partial"].to_numpy()] = ""
    out["flag"] = pd.Series(flag, index=out.index).astype(str)
    return out[SERIES_COLUMNS]
