"""Progress towards the city plan's targets (``IndicatorTarget`` rows).

``progress = (baseline - current) / (baseline - target)``: 0 at the baseline, 1 when the
target is reached, negative when the indicator moved away from it; it works for targets
below the baseline (reduce homicides) and above it (raise the share who feel safe).
``expected_progress`` is the share of the time from baseline date to target date that has
elapsed at the current value's date (a straight-line trajectory). Status: ``achieved``
(progress >= 1), ``on track`` (progress >= expected_progress), ``off track``, or
``no data`` (no current value).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

import numpy as np
import pandas as pd


def target_progress(targets: pd.DataFrame, current: pd.DataFrame | Mapping[str, tuple[float, dt.date]]
                    ) -> pd.DataFrame:
    """Progress of every target.

    Inputs: ``targets`` with indicator, scope, baseline_value, baseline_on, target_value,
    target_on (``queries.targets``); ``current``: a DataFrame with indicator, scope
    (optional, default "city"), current_value, current_on, or a mapping indicator ->
    (value, date). Output: the target columns plus current_value, current_on, progress,
    expected_progress, status, remaining (target - current, in the indicator's units).
    """
    if isinstance(current, Mapping):
        current = pd.DataFrame([{"indicator": k, "current_value": v[0], "current_on": v[1]}
                                for k, v in current.items()])
    cur = current.copy()
    if "scope" not in cur.columns:
        cur["scope"] = "city"
    out = targets.copy()
    if "scope" not in out.columns:
        out["scope"] = "city"
    out = out.merge(cur[["indicator", "scope", "current_value", "current_on"]], on=["indicator", "scope"],
                    how="left")
    base = out["baseline_value"].astype(float)
    goal = out["target_value"].astype(float)
    value = pd.to_numeric(out["current_value"], errors="coerce").astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        progress = np.where(goal != base, (base - value) / (base - goal), np.where(value == goal, 1.0, 0.0))
    out["progress"] = np.where(value.notna(), progress, np.nan)
    start = pd.to_datetime(out["baseline_on"])
    end = pd.to_datetime(out["target_on"])
    when = pd.to_datetime(out["current_on"])
    span = (end - start).dt.days.astype(float)
    elapsed = (when - start).dt.days.astype(float)
    out["expected_progress"] = np.clip(np.where(span > 0, elapsed / span, 1.0), 0.0, 1.0)
    out.loc[value.isna(), "expected_progress"] = np.nan
    status = np.where(value.isna(), "no data",
                      np.where(out["progress"] >= 1.0 - 1e-12, "achieved",
                               np.where(out["progress"] >= out["expected_progress"] - 1e-12, "on track",
                                        "off track")))
    out["status"] = status
    out["remaining"] = goal - value
    return out
