"""Emerging hot spots: each area's monthly trend combined with its Gi* hot-spot history.

A simplified, documented version of Esri's "Emerging Hot Spot Analysis" on areas (not space-time
cubes).

Trend: the Mann-Kendall test of the area's monthly counts against time, computed as Kendall's tau
between the period number and the counts (``scipy.stats.kendalltau``). Its statistic is Mann-Kendall's
S; scipy's normal approximation uses the tie-corrected variance of S (no continuity correction), and
an exact distribution for short series without ties. The trend is "up" / "down" when the two-sided
p < ``alpha`` (default 0.05), else "none".

Hot-spot history: Gi* (classic: binary weights, self included, analytic p-values, see
:mod:`observatory.geo.hotspots`) of each period's counts; an area is *hot* in a period when its class is
"hot 90%" or stronger (Esri's rule for this tool, so here Gi* is run with ``alpha=0.10``; the hot-spot
map itself shows only classes significant at 5%). The *current* class is Gi* of the last
``current_periods`` periods summed.

Categories (first matching rule):
- "none": not hot now.
- "new": hot now and never hot in an earlier period.
- "intensifying": hot now, hot in at least ``persistence`` (90%) of all periods, significant upward trend.
- "persistent": hot now, hot in at least 90% of periods, no significant trend.
- "diminishing": hot now, hot in at least 90% of periods, significant downward trend.
- "sporadic": hot now, hot in some earlier period but in less than 90% of periods.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
from libpysal.weights import W
from scipy import stats

from observatory.geo.hotspots import gi_star
from observatory.geo.weights import SpatialWeights, resolve_weights

EMERGING_CATEGORIES = ("new", "intensifying", "persistent", "diminishing", "sporadic", "none")


def mann_kendall(values) -> tuple[float, float]:
    """Mann-Kendall trend test of a series in time order: returns (tau, two-sided p).

    Constant or shorter-than-3 series return (nan, nan): no trend can be tested.
    """
    y = np.asarray(values, dtype=float)
    if y.size < 3 or np.allclose(y, y[0]):
        return float("nan"), float("nan")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = stats.kendalltau(np.arange(y.size), y)
    return float(res.statistic), float(res.pvalue)


def _periods(values: pd.Series) -> pd.Index:
    """All periods in order: a full monthly range when the labels are months, else the sorted labels."""
    try:
        months = pd.PeriodIndex(pd.to_datetime(values.astype(str)), freq="M")
        return pd.period_range(months.min(), months.max(), freq="M")
    except (ValueError, TypeError):
        return pd.Index(sorted(values.unique()))


def count_matrix(
    counts: pd.DataFrame, areas: pd.Index, *, area_col: str = "area", period_col: str = "month",
    count_col: str = "count",
) -> pd.DataFrame:
    """Areas x periods matrix of counts (missing combinations are 0), rows in ``areas`` order."""
    for col in (area_col, period_col, count_col):
        if col not in counts.columns:
            raise KeyError(f"column {col!r} not in counts (columns: {list(counts.columns)})")
    frame = counts[[area_col, period_col, count_col]].copy()
    periods = _periods(frame[period_col])
    if isinstance(periods, pd.PeriodIndex):
        frame[period_col] = pd.PeriodIndex(pd.to_datetime(frame[period_col].astype(str)), freq="M")
    unknown = set(frame[area_col]) - set(areas)
    if unknown:
        raise ValueError(f"counts name areas not in the area layer: {sorted(map(str, unknown))[:5]}")
    matrix = frame.pivot_table(index=area_col, columns=period_col, values=count_col, aggfunc="sum",
                               fill_value=0, observed=True)
    return matrix.reindex(index=areas, columns=periods, fill_value=0).astype(float)


def emerging_hotspots(
    counts: pd.DataFrame,
    areas: gpd.GeoDataFrame,
    *,
    area_col: str = "area",
    period_col: str = "month",
    count_col: str = "count",
    weights: str | SpatialWeights | W = "queen",
    k: int = 8,
    distance: float | None = None,
    current_periods: int = 1,
    persistence: float = 0.9,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Emerging hot-spot category per area (rules in the module docstring).

    Inputs: ``counts`` long DataFrame (area id in ``area_col`` matching ``areas.index``, period in
    ``period_col`` (month labels such as "2016-03" or dates, or any sortable label), ``count_col``);
    ``areas`` GeoDataFrame of all areas; weights options as in ``gi_star``.
    Output: DataFrame indexed like ``areas`` with ``mk_tau``, ``mk_p``, ``trend`` ("up"/"down"/"none"),
    ``hot_periods`` (number of periods hot), ``hot_share``, ``current_class`` (Gi* class now) and
    ``category`` (one of :data:`EMERGING_CATEGORIES`).
    """
    matrix = count_matrix(counts, areas.index, area_col=area_col, period_col=period_col, count_col=count_col)
    n_periods = matrix.shape[1]
    if n_periods < 2:
        raise ValueError("emerging hot spots need at least 2 periods")
    if not 1 <= current_periods <= n_periods:
        raise ValueError(f"current_periods must be between 1 and {n_periods}")
    sw = resolve_weights(areas, weights, k=k, distance=distance, transform="B")
    frame = gpd.GeoDataFrame(matrix.reset_index(drop=True), geometry=areas.geometry.values, crs=areas.crs)
    frame.columns = [*[f"p{i}" for i in range(n_periods)], "geometry"]
    hot = np.zeros((len(areas), n_periods), dtype=bool)
    for i in range(n_periods):
        cls = gi_star(frame, f"p{i}", weights=sw, alpha=0.10)["hotspot_class"].astype(str)
        hot[:, i] = cls.str.startswith("hot").to_numpy()
    frame["current"] = matrix.iloc[:, -current_periods:].sum(axis=1).to_numpy()
    current = gi_star(frame, "current", weights=sw, alpha=0.10)["hotspot_class"].astype(str).to_numpy()
    trend = [mann_kendall(row) for row in matrix.to_numpy()]
    tau = np.array([t for t, _ in trend])
    p = np.array([q for _, q in trend])
    direction = np.where(~np.isnan(p) & (p < alpha), np.where(tau > 0, "up", "down"), "none")
    hot_now = np.char.startswith(current.astype(str), "hot")
    hot_before = hot[:, :-current_periods].any(axis=1)
    share = hot.mean(axis=1)
    steady = share >= persistence
    category = np.select(
        [~hot_now, ~hot_before, steady & (direction == "up"), steady & (direction == "none"),
         steady & (direction == "down")],
        ["none", "new", "intensifying", "persistent", "diminishing"],
        default="sporadic",
    )
    out = pd.DataFrame(
        {
            "mk_tau": tau,
            "mk_p": p,
            "trend": direction,
            "hot_periods": hot.sum(axis=1),
            "hot_share": share,
            "current_class": current,
            "category": pd.Categorical(category, categories=EMERGING_CATEGORIES),
        },
        index=areas.index,
    )
    out.attrs["islands"] = list(sw.islands)
    out.attrs["periods"] = [str(c) for c in matrix.columns]
    return out
