"""Recorded crime and the victimisation survey side by side, per neighbourhood.

For each area: the recorded rate per 100,000 over the survey's reference period, the
survey's victimisation rate per 100,000 (a weighted share of persons from
``observatory.indicators.survey``, x 100,000) with its interval, a perception indicator,
and the implied under-reporting ratio ``survey_rate / recorded_rate`` (how many
victimisations the survey implies for each recorded incident).

Uncertainty of the ratio: by the delta method on the log scale,
``se(log ratio)^2 = (se_survey / p)^2 + 1 / count`` (Poisson count), when the survey output
carries ``se``; otherwise conservatively ``[survey_low / recorded_high, survey_high /
recorded_low]`` from the two 95% intervals (recorded: exact Poisson interval). Caveats: the
survey counts victims (prevalence) while records count incidents, the survey's population
(adults) and area may differ from the recorded one, and a ratio on an ``unreliable``
survey estimate is flagged unreliable too.
"""

from __future__ import annotations

from statistics import NormalDist

import numpy as np
import pandas as pd
from scipy import stats

PER = 100_000.0


def poisson_interval(count: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Exact (Garwood) interval for a Poisson mean given observed ``count``."""
    count = np.asarray(count, dtype=float)
    tail = (1 - level) / 2
    low = np.where(count > 0, stats.chi2.ppf(tail, 2 * count) / 2, 0.0)
    high = stats.chi2.ppf(1 - tail, 2 * count + 2) / 2
    return low, high


def recorded_vs_survey(recorded: pd.DataFrame, survey: pd.DataFrame, perception: pd.DataFrame | None = None, *,
                       key: str = "code", recorded_months: float = 12.0, reference_months: float = 12.0,
                       level: float = 0.95) -> pd.DataFrame:
    """Join recorded rates and survey estimates per area.

    Inputs: ``recorded`` with ``key``, population and count (incidents over
    ``recorded_months``; true counts from ``queries.unsuppressed_counts_by_area``);
    ``survey`` with ``key``, estimate (share in [0, 1]), ci_low, ci_high and optionally se,
    n, unreliable (engineer C's estimator output grouped by area); ``perception`` likewise
    (e.g. share feeling unsafe). The recorded count is rescaled to ``reference_months``.

    Output per area of ``recorded``: key, name (if given), population, count, recorded_rate,
    recorded_low, recorded_high, survey_rate, survey_low, survey_high, survey_unreliable,
    perception, perception_low, perception_high, underreporting_ratio, ratio_low,
    ratio_high, ratio_unreliable. Rates are per 100,000 inhabitants over the reference period.
    """
    z = NormalDist().inv_cdf(0.5 + level / 2)
    base_cols = [c for c in (key, "name", "population", "count") if c in recorded.columns]
    out = recorded[base_cols].copy()
    pop = pd.to_numeric(out["population"], errors="coerce").astype(float).to_numpy()
    # A suppressed (NA) public count stays NA: its rate and ratio are NA, never computed from 0.
    count = pd.to_numeric(out["count"], errors="coerce").astype(float).to_numpy()
    scale = reference_months / float(recorded_months)
    low, high = poisson_interval(np.nan_to_num(count, nan=0.0), level)
    low, high = np.where(np.isnan(count), np.nan, low), np.where(np.isnan(count), np.nan, high)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(pop > 0, scale / pop * PER, np.nan)
    out["recorded_rate"] = count * factor
    out["recorded_low"] = low * factor
    out["recorded_high"] = high * factor

    sv = survey.set_index(key)
    keys = out[key]

    def col(frame: pd.DataFrame, name: str) -> np.ndarray:
        if name not in frame.columns:
            return np.full(len(keys), np.nan)
        return pd.to_numeric(keys.map(frame[name]), errors="coerce").astype(float).to_numpy()

    p, p_low, p_high, p_se = col(sv, "estimate"), col(sv, "ci_low"), col(sv, "ci_high"), col(sv, "se")
    out["survey_rate"] = p * PER
    out["survey_low"] = p_low * PER
    out["survey_high"] = p_high * PER
    unreliable = keys.map(sv["unreliable"]) if "unreliable" in sv.columns else pd.Series(False, index=out.index)
    out["survey_unreliable"] = unreliable.fillna(True).astype(bool).to_numpy() | np.isnan(p)
    if perception is not None:
        pv = perception.set_index(key)
        out["perception"] = col(pv, "estimate")
        out["perception_low"] = col(pv, "ci_low")
        out["perception_high"] = col(pv, "ci_high")
    else:
        out["perception"] = out["perception_low"] = out["perception_high"] = np.nan
    rec = out["recorded_rate"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(rec > 0, out["survey_rate"].to_numpy() / rec, np.nan)
        se_log = np.sqrt((p_se / p) ** 2 + 1.0 / count)
        delta_ok = np.isfinite(se_log) & (p > 0) & (count > 0)
        cons_low = out["survey_low"].to_numpy() / out["recorded_high"].to_numpy()
        cons_high = np.where(out["recorded_low"].to_numpy() > 0,
                             out["survey_high"].to_numpy() / out["recorded_low"].to_numpy(), np.inf)
        out["ratio_low"] = np.where(delta_ok, ratio * np.exp(-z * se_log), cons_low)
        out["ratio_high"] = np.where(delta_ok, ratio * np.exp(z * se_log), cons_high)
    out["underreporting_ratio"] = ratio
    out["ratio_unreliable"] = out["survey_unreliable"].to_numpy() | ~np.isfinite(ratio) | ~(count >= 10)
    order = [*base_cols, "recorded_rate", "recorded_low", "recorded_high", "survey_rate", "survey_low",
             "survey_high", "survey_unreliable", "perception", "perception_low", "perception_high",
             "underreporting_ratio", "ratio_low", "ratio_high", "ratio_unreliable"]
    return out[order]


def months_between(start: pd.Timestamp | str, end: pd.Timestamp | str) -> int:
    """Whole calendar months from the month of ``start`` to the month of ``end``, inclusive."""
    a, b = pd.Timestamp(start), pd.Timestamp(end)
    return (b.year - a.year) * 12 + b.month - a.month + 1


def perception_vs_recorded(recorded: pd.DataFrame, survey: pd.DataFrame, perception: pd.DataFrame | None = None,
                           *, recorded_period: tuple, survey_period: tuple | None, key: str = "code",
                           reference_months: float = 12.0, level: float = 0.95) -> pd.DataFrame:
    """Survey and recorded crime per area on one period basis, with the dark figure per area.

    ``recorded`` (key, name, population, count over ``recorded_period`` = (first day, last day);
    for the public the published, perturbed counts: NA stays NA) is annualised to
    ``reference_months`` (the survey's reference period, 12 for a yearly victimisation survey).
    ``survey`` holds the weighted victimisation share per area (estimate, ci_low, ci_high, se,
    unreliable), ``perception`` a perception share per area (e.g. feels unsafe / high fear).
    Output: the columns of :func:`recorded_vs_survey` plus ``recorded_months``,
    ``period_mismatch`` (True when the recorded years are not the survey's reference years: the
    two then describe different periods) and ``fear_gap`` (the area's perception rank minus its
    recorded-rate rank, in [-1, 1]: high where people fear much more than is recorded), sorted by
    ``fear_gap`` (largest first).
    """
    months = months_between(*recorded_period)
    out = recorded_vs_survey(recorded, survey, perception, key=key, recorded_months=months,
                             reference_months=reference_months, level=level)
    out["recorded_months"] = months
    if survey_period is None or any(pd.isna(v) for v in survey_period):
        mismatch = True  # the survey's period is unknown: say so rather than assume it matches
    else:
        years = lambda p: set(range(pd.Timestamp(p[0]).year, pd.Timestamp(p[1]).year + 1))  # noqa: E731
        mismatch = years(recorded_period) != years(survey_period)
    out["period_mismatch"] = bool(mismatch)
    perceived = out["perception"].rank(pct=True)
    rate = out["recorded_rate"].rank(pct=True)
    out["fear_gap"] = perceived - rate
    return out.sort_values("fear_gap", ascending=False, na_position="last").reset_index(drop=True)
