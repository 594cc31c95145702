"""Emerging hot spots: Mann-Kendall trend and the category rules on a planted 8 x 8 lattice."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from scipy import stats
from shapely.geometry import box

from observatory.geo.emerging import EMERGING_CATEGORIES, emerging_hotspots, mann_kendall

MONTHS = pd.period_range("2015-01", "2016-12", freq="M")  # 24 months


def mk_by_hand(y: np.ndarray) -> tuple[float, float]:
    """Mann-Kendall S, tie-corrected Var(S) and two-sided p (no continuity correction)."""
    n = len(y)
    s = sum(np.sign(y[j] - y[i]) for i in range(n) for j in range(i + 1, n))
    _, ties = np.unique(y, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - (ties * (ties - 1) * (2 * ties + 5)).sum()) / 18
    return s, 2 * stats.norm.sf(abs(s) / np.sqrt(var))


def test_mann_kendall_equals_s_test():
    rng = np.random.default_rng(0)
    y = rng.poisson(5, 36).astype(float) + np.arange(36) * 0.2  # ties present -> asymptotic p
    tau, p = mann_kendall(y)
    _, p_hand = mk_by_hand(y)
    assert p == pytest.approx(p_hand, rel=1e-9)
    assert tau > 0
    assert np.isnan(mann_kendall([3, 3, 3, 3])[1])


SIDE = 15
BLOCKS = {  # top-left (row, col) of 3 x 3 planted blocks on a 15 x 15 lattice of 1 km squares
    "persistent": (1, 1),
    "intensifying": (1, 11),
    "diminishing": (11, 1),
    "new": (11, 11),
    "sporadic": (6, 6),
}


def planted_counts() -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
    cells = [(r, c) for r in range(SIDE) for c in range(SIDE)]
    areas = gpd.GeoDataFrame(
        geometry=[box(c * 1000, -r * 1000, c * 1000 + 1000, -r * 1000 + 1000) for r, c in cells],
        index=[f"r{r}c{c}" for r, c in cells],
        crs="EPSG:32614",
    )
    t = np.arange(len(MONTHS))
    series = {name: np.full(len(t), 5.0) + (np.arange(len(t)) % 3) for name in areas.index}
    patterns = {
        "persistent": np.full(len(t), 40.0),
        "intensifying": 30.0 + 2.0 * t,
        "diminishing": 90.0 - 2.0 * t,
        "new": np.where(t == t[-1], 80.0, 5.0),
        "sporadic": np.where(t % 4 == 3, 60.0, 5.0),  # hot every 4th month, including the last
    }
    for kind, (r0, c0) in BLOCKS.items():
        for r in range(r0, r0 + 3):
            for c in range(c0, c0 + 3):
                series[f"r{r}c{c}"] = patterns[kind]
    rows = [
        {"area": name, "month": str(month), "count": float(values[i])}
        for name, values in series.items()
        for i, month in enumerate(MONTHS)
    ]
    return pd.DataFrame(rows), areas


def test_planted_categories():
    counts, areas = planted_counts()
    result = emerging_hotspots(counts, areas)
    assert list(result.index) == list(areas.index)
    assert set(result["category"].cat.categories) == set(EMERGING_CATEGORIES)
    for kind, (r0, c0) in BLOCKS.items():
        centre = f"r{r0 + 1}c{c0 + 1}"  # its whole Gi* window (itself and 8 neighbours) is planted
        assert result.loc[centre, "category"] == kind, (kind, result.loc[centre].to_dict())
    far = ["r0c7", "r7c0", "r14c7", "r3c3"]
    assert (result.loc[far, "category"] == "none").all()
    assert result.loc["r2c12", "trend"] == "up" and result.loc["r12c2", "trend"] == "down"
    assert result.loc["r2c2", "trend"] == "none" and result.loc["r2c2", "hot_share"] == 1.0
    assert result.attrs["periods"][0] == "2015-01" and len(result.attrs["periods"]) == 24


def test_missing_months_are_zero_and_unknown_areas_rejected():
    counts, areas = planted_counts()
    sparse = counts[counts["count"] > 0]
    dropped = sparse[~((sparse["area"] == "r3c0") & (sparse["month"] == "2015-06"))]
    result = emerging_hotspots(dropped, areas)
    assert len(result.attrs["periods"]) == 24
    bad = pd.concat([counts, pd.DataFrame([{"area": "nowhere", "month": "2015-01", "count": 1.0}])])
    with pytest.raises(ValueError, match="nowhere"):
        emerging_hotspots(bad, areas)
