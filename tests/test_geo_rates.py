"""Rates per 100,000 and empirical Bayes smoothing on a hand-computed fixture."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point

from observatory.geo.rates import eb_rates, rate_table, spatial_eb_rates

COUNTS = pd.Series([10, 2, 0, 30, 5], index=list("abcde"))
POPULATION = pd.Series([10_000, 500, 2_000, 50_000, np.nan], index=list("abcde"))


def test_rate_per_100k_and_population_flag():
    out = rate_table(COUNTS, POPULATION.replace({2_000: 0}))
    assert out.loc["a", "rate"] == pytest.approx(100.0)
    assert out.loc["b", "rate"] == pytest.approx(400.0)
    assert out.loc["d", "rate"] == pytest.approx(60.0)
    assert np.isnan(out.loc["c", "rate"]) and np.isnan(out.loc["e", "rate"])  # zero and missing population
    assert list(out["population_missing"]) == [False, False, True, False, True]
    with pytest.raises(ValueError, match="length"):
        rate_table([1, 2], [1])


def test_empirical_bayes_by_hand():
    # By hand on a-d (e has no population): m = 42 / 62,500 = 0.000672 (67.2 per 100,000);
    # s² = Σ b (r - m)² / Σ b = 1.24416e-7; prior variance a = s² - m / mean(b) = 1.24416e-7 - 0.000672/15,625
    # = 8.1408e-8; weight w_i = a / (a + m / b_i) = 0.5478, 0.0571, 0.1950, 0.8583;
    # EB_i = w_i r_i + (1 - w_i) m.
    out = eb_rates(COUNTS, POPULATION)
    expected = [85.16795866, 86.20689655, 54.09383625, 61.02024291]
    np.testing.assert_allclose(out["eb_rate"].iloc[:4], expected, rtol=1e-8)
    assert np.isnan(out.loc["e", "eb_rate"]) and out.loc["e", "population_missing"]
    # the smallest population (b: 400 raw) is pulled hardest towards the mean
    shrink = (out["rate"] - out["eb_rate"]).abs() / (out["rate"] - 67.2).abs()
    assert shrink.iloc[:4].idxmax() == "b"


def test_empirical_bayes_without_extra_variation_gives_the_mean():
    # equal raw rates: the prior variance estimate is negative, so every area gets the overall rate
    out = eb_rates([1, 2, 3], [1000, 2000, 3000])
    np.testing.assert_allclose(out["eb_rate"], 100.0)
    zeros = eb_rates([0, 0, 0], [10, 20, 30])
    np.testing.assert_allclose(zeros["eb_rate"], 0.0)


def test_spatial_eb_with_everyone_neighbours_equals_global_eb():
    gdf = gpd.GeoDataFrame(
        {"count": COUNTS.to_numpy(), "pop": POPULATION.to_numpy()},
        geometry=[Point(0, 0), Point(1, 0), Point(0, 1), Point(1, 1), Point(5, 5)],
        index=COUNTS.index,
    )
    # 4 areas with population; k = 3 makes each the neighbour of all others
    spatial = spatial_eb_rates(gdf, "count", "pop", weights="knn", k=3)
    global_ = eb_rates(COUNTS, POPULATION)
    np.testing.assert_allclose(spatial["seb_rate"].iloc[:4], global_["eb_rate"].iloc[:4], rtol=1e-9)
    assert np.isnan(spatial.loc["e", "seb_rate"])
