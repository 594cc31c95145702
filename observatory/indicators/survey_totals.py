"""Estimated totals (e.g. the number of crimes: the sum of the events' expansion weights) with their
design-based variance. Pure; see ``docs/indicators-survey.md``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from observatory.indicators.survey import KISH_WILSON, TAYLOR, _as_list, z_value


def weighted_total(frame: pd.DataFrame, *, weight: str = "weight", by: str | Sequence[str] | None = None,
                   level: float = 0.95, psu: str | None = None, strata: str | None = None) -> pd.DataFrame:
    """Estimated number of units (sum of weights: e.g. crimes), overall or per group, with a normal 95% CI.

    Variance: with ``psu`` (and ``strata``) the with-replacement PSU variance of the total
    ``sum_h n_h/(n_h-1) sum_i (t_hi - mean_h t)^2`` (groups as domains: PSUs without units of a
    group count with t = 0); otherwise the same with every unit its own PSU.
    Output: the ``by`` columns, estimate, ci_low, ci_high, se, cv, n, method.
    """
    keys = _as_list(by)
    data = frame[keys].copy() if keys else pd.DataFrame(index=frame.index)
    data["_w"] = pd.to_numeric(frame[weight], errors="coerce").astype(float)
    data["_h"] = frame[strata].astype(str) if strata else "all"
    data["_psu"] = frame[psu].astype(str) if psu else pd.Series(range(len(frame)), index=frame.index).astype(str)
    data = data[data["_w"].notna() & (data["_w"] > 0)]
    n_h = data.groupby("_h")["_psu"].nunique()
    group = keys or ["_one"]
    if not keys:
        data["_one"] = 0
    per_psu = data.groupby([*group, "_h", "_psu"], observed=True)["_w"].sum().reset_index()
    per_psu["_t2"] = per_psu["_w"] ** 2
    per_h = per_psu.groupby([*group, "_h"], observed=True)[["_w", "_t2"]].sum().reset_index()
    nh = per_h["_h"].map(n_h).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        per_h["_v"] = np.where(nh > 1, nh / (nh - 1) * (per_h["_t2"] - per_h["_w"] ** 2 / nh), 0.0)
    out = data.groupby(group, observed=True).agg(estimate=("_w", "sum"), n=("_w", "size"))
    out["se"] = np.sqrt(per_h.groupby(group, observed=True)["_v"].sum().clip(lower=0)).reindex(out.index)
    z = z_value(level)
    out["ci_low"] = (out["estimate"] - z * out["se"]).clip(lower=0)
    out["ci_high"] = out["estimate"] + z * out["se"]
    out["cv"] = out["se"] / out["estimate"]
    out["method"] = TAYLOR if psu else KISH_WILSON
    out = out.reset_index()
    return out.drop(columns=["_one"]) if not keys else out
