"""The one rate_per_100k, and the posterior interval of empirical Bayes rates (hand computation)."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from esda.smoothing import Spatial_Empirical_Bayes
from scipy import stats
from shapely.geometry import Point

from observatory import geo, indicators
from observatory.geo.rates import eb_rates, spatial_eb_rates
from observatory.geo.weights import build_weights
from observatory.indicators.rates import rate_per_100k

COUNTS = pd.Series([10, 2, 0, 30, 5], index=list("abcde"))
POPULATION = pd.Series([10_000, 500, 2_000, 50_000, np.nan], index=list("abcde"))


def test_one_rate_per_100k_never_a_silent_zero():
    assert rate_per_100k(7, 3_500) == pytest.approx(200.0)
    assert np.isnan(rate_per_100k(7, 0)) and np.isnan(rate_per_100k(7, None)) and np.isnan(rate_per_100k(7, -1))
    out = rate_per_100k(COUNTS, POPULATION)
    assert list(out.index) == list("abcde")
    np.testing.assert_allclose(out.iloc[[0, 1, 2, 3]], [100.0, 400.0, 0.0, 60.0])
    assert np.isnan(out["e"])
    assert rate_per_100k(np.array([6]), np.array([10_000]), annualise_months=6)[0] == pytest.approx(120.0)
    nullable = rate_per_100k(pd.Series([1, 2]), pd.Series([10, pd.NA], dtype="Int64"))
    assert nullable.iloc[0] == pytest.approx(10_000.0) and np.isnan(nullable.iloc[1])
    assert np.isnan(rate_per_100k(np.array([1], dtype=object), np.array(["n/a"], dtype=object))[0])
    # the same function everywhere in the project
    assert geo.rate_per_100k is indicators.rate_per_100k is rate_per_100k
    from observatory.indicators import ranking

    assert ranking.rate_per_100k is rate_per_100k


def test_eb_interval_is_the_gamma_posterior_by_hand():
    out = eb_rates(COUNTS, POPULATION)
    e = COUNTS.iloc[:4].to_numpy(float)
    b = POPULATION.iloc[:4].to_numpy(float)
    m = e.sum() / b.sum()  # 0.000672 per resident
    v = (b * (e / b - m) ** 2).sum() / b.sum() - m / b.mean()  # Marshall's prior variance, 8.1408e-8
    assert v == pytest.approx(8.1408e-8, rel=1e-4)
    shape, rate = m**2 / v + e, m / v + b
    np.testing.assert_allclose(out["eb_rate"].iloc[:4], shape / rate * 1e5, rtol=1e-9)  # posterior mean = EB
    np.testing.assert_allclose(out["eb_low"].iloc[:4], stats.gamma.ppf(0.025, shape, scale=1 / rate) * 1e5,
                               rtol=1e-9)
    np.testing.assert_allclose(out["eb_high"].iloc[:4], stats.gamma.ppf(0.975, shape, scale=1 / rate) * 1e5,
                               rtol=1e-9)
    assert (out["eb_low"].iloc[:4] < out["eb_rate"].iloc[:4]).all()
    assert (out["eb_rate"].iloc[:4] < out["eb_high"].iloc[:4]).all()
    # the small area b is the least certain: widest interval relative to its rate
    width = (out["eb_high"] - out["eb_low"]).iloc[:4]
    assert width.idxmax() == "b"
    assert np.isnan(out.loc["e", "eb_low"]) and np.isnan(out.loc["e", "eb_high"])
    narrower = eb_rates(COUNTS, POPULATION, level=0.5)
    assert (narrower["eb_high"] - narrower["eb_low"]).iloc[:4].lt(width).all()


def test_eb_interval_collapses_when_there_is_no_extra_variation():
    out = eb_rates([1, 2, 3], [1000, 2000, 3000])
    np.testing.assert_allclose(out[["eb_low", "eb_rate", "eb_high"]].to_numpy(), 100.0)


def test_spatial_eb_interval_uses_each_local_prior():
    pts = [Point(0, 0), Point(1, 0), Point(2, 0), Point(3, 0), Point(4, 0), Point(5, 0)]
    gdf = gpd.GeoDataFrame({"count": [3, 40, 5, 12, 1, 30], "pop": [2_000, 9_000, 1_500, 6_000, 800, 7_000]},
                           geometry=pts)
    sw = build_weights(gdf, "knn", k=2)
    out = spatial_eb_rates(gdf, "count", "pop", weights=sw)
    e, b = gdf["count"].to_numpy(float), gdf["pop"].to_numpy(float)
    ref = np.asarray(Spatial_Empirical_Bayes(e.reshape(-1, 1), b.reshape(-1, 1), sw.w).r).ravel()
    np.testing.assert_allclose(out["seb_rate"], ref * 1e5, rtol=1e-9)
    for i in range(len(gdf)):
        group = [i, *sw.w.neighbors[i]]
        m = e[group].sum() / b[group].sum()
        v = max((b[group] * (e[group] / b[group] - m) ** 2).sum() / b[group].sum() - m / b[group].mean(), 0.0)
        if v == 0:
            assert out["seb_low"].iloc[i] == pytest.approx(m * 1e5)
            continue
        shape, rate = m**2 / v + e[i], m / v + b[i]
        assert out["seb_rate"].iloc[i] == pytest.approx(shape / rate * 1e5, rel=1e-9)
        assert out["seb_low"].iloc[i] == pytest.approx(stats.gamma.ppf(0.025, shape, scale=1 / rate) * 1e5, rel=1e-9)
        assert out["seb_high"].iloc[i] == pytest.approx(stats.gamma.ppf(0.975, shape, scale=1 / rate) * 1e5, rel=1e-9)
