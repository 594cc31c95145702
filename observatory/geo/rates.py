"""Crime rates per 100,000 residents, raw and empirical Bayes smoothed (esda.smoothing).

Small populations make raw rates jumpy (one incident in 300 residents is 333 per 100,000). Empirical
Bayes (Marshall 1991, as in esda ``Empirical_Bayes``) shrinks each area's rate towards the city-wide
rate, more strongly where the population is small; the spatial variant (``Spatial_Empirical_Bayes``)
shrinks towards the rate of the area's neighbourhood (its spatial weights neighbours and itself).

Areas with a missing, zero or negative population get ``rate`` NaN and ``population_missing`` True;
they are left out of the smoothing (they would otherwise divide by zero) and keep NaN smoothed rates.
When the rates vary less than Poisson noise alone would make them (Marshall's prior variance estimate
is negative), the prior variance is taken as 0 and every area gets the overall rate, as Marshall (1991)
and esda's spatial variant do.

Uncertainty of a smoothed rate: the empirical Bayes model is Poisson-gamma. The areas' true rates
follow a gamma prior with Marshall's mean ``m`` and variance ``v`` (shape ``alpha = m^2 / v``, rate
``beta = m / v``, per resident); given ``y`` incidents among ``pop`` residents an area's rate is
``Gamma(shape = alpha + y, rate = beta + pop)`` a posteriori. Its mean is exactly the EB rate, and
the central ``level`` (95%) interval of that gamma is ``eb_low`` .. ``eb_high`` (per 100,000). With
``v = 0`` the model says every area has the city rate and the interval collapses onto it. The
spatial variant does the same with each area's local prior (its neighbours and itself).
The raw rate itself comes from :func:`observatory.indicators.rates.rate_per_100k`, the project's one
rate function.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
from esda.smoothing import Empirical_Bayes, Spatial_Empirical_Bayes
from libpysal.weights import W
from scipy import sparse, stats

from observatory.geo.weights import SpatialWeights, build_weights
from observatory.indicators.rates import PER, rate_per_100k


def _as_float(values, name: str) -> pd.Series:
    series = pd.Series(values)
    return pd.to_numeric(series, errors="coerce").astype(float).rename(name)


def rate_table(counts, population) -> pd.DataFrame:
    """Rates per 100,000 residents as a table.

    Inputs: ``counts`` and ``population``, aligned Series (or array-likes of equal length); counts are
    incidents in the period, population residents. Output: DataFrame (index of ``counts``) with
    ``count``, ``population``, ``rate`` (:func:`observatory.indicators.rates.rate_per_100k`: NaN where
    population is missing or <= 0) and ``population_missing`` (bool). Rates are not annualised.
    """
    count = _as_float(counts, "count")
    pop = _as_float(population, "population")
    if len(count) != len(pop):
        raise ValueError(f"counts ({len(count)}) and population ({len(pop)}) differ in length")
    pop.index = count.index
    missing = pop.isna() | (pop <= 0)
    rate = rate_per_100k(count.to_numpy(), pop.to_numpy())
    return pd.DataFrame({"count": count, "population": pop, "rate": rate, "population_missing": missing})


def gamma_interval(count, population, prior_mean, prior_var, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Central ``level`` interval (per 100,000) of the Poisson-gamma posterior of each area's rate.

    ``prior_mean`` / ``prior_var``: the gamma prior's mean and variance per resident (scalars or one
    per area). Where ``prior_var`` is 0 the interval is the prior mean itself (module docstring).
    """
    y = np.asarray(count, dtype=float)
    b = np.asarray(population, dtype=float)
    m = np.broadcast_to(np.asarray(prior_mean, dtype=float), y.shape)
    v = np.broadcast_to(np.asarray(prior_var, dtype=float), y.shape)
    tail = (1.0 - level) / 2.0
    low, high = m.copy(), m.copy()
    ok = (v > 0) & (m > 0)
    shape = m[ok] ** 2 / v[ok] + y[ok]
    rate = m[ok] / v[ok] + b[ok]
    low[ok] = stats.gamma.ppf(tail, shape, scale=1.0 / rate)
    high[ok] = stats.gamma.ppf(1.0 - tail, shape, scale=1.0 / rate)
    return low * PER, high * PER


def local_prior(count: np.ndarray, population: np.ndarray, w: W) -> tuple[np.ndarray, np.ndarray]:
    """Each area's local prior mean and variance per resident, as esda's spatial EB computes them.

    Over the area and its neighbours (binary membership): mean ``m_i = sum e / sum b``, variance
    ``sum b (r - m_i)^2 / sum b - m_i / mean(b)``, set to 0 where negative.
    """
    e = np.asarray(count, dtype=float)
    b = np.asarray(population, dtype=float)
    member = w.sparse.tocsr().astype(bool).astype(float)
    member = ((member + sparse.identity(len(e), format="csr")) > 0).astype(float)
    b_sum = member @ b
    m = (member @ e) / b_sum
    r = e / b
    # sum_j b_j (r_j - m_i)^2 = sum b r^2 - 2 m_i sum b r + m_i^2 sum b
    spread = (member @ (b * r**2) - 2 * m * (member @ (b * r)) + m**2 * b_sum) / b_sum
    size = np.asarray(member.sum(axis=1)).ravel()
    return m, np.maximum(spread - m / (b_sum / size), 0.0)


def eb_rates(counts, population, *, level: float = 0.95) -> pd.DataFrame:
    """Global empirical Bayes smoothed rates per 100,000 (esda ``Empirical_Bayes``) with intervals.

    Inputs/outputs as :func:`rate_table`, plus ``eb_rate`` (per 100,000; NaN where population is
    missing) and ``eb_low`` / ``eb_high``, the central ``level`` posterior interval (module
    docstring). Needs at least two areas with a population.
    """
    out = rate_table(counts, population)
    ok = ~out["population_missing"].to_numpy()
    out["eb_rate"] = np.nan
    out["eb_low"] = np.nan
    out["eb_high"] = np.nan
    if ok.sum() >= 2:
        e = out["count"].to_numpy()[ok].reshape(-1, 1)
        b = out["population"].to_numpy()[ok].reshape(-1, 1)
        mean_rate = e.sum() / b.sum()
        # Marshall's prior variance; esda does not clamp it, so a negative one (rates vary less than
        # Poisson noise alone would make them) is set to 0 here: every area then gets the mean rate.
        prior_var = (b * (e / b - mean_rate) ** 2).sum() / b.sum() - mean_rate / b.mean()
        if mean_rate == 0 or prior_var <= 0:
            smoothed = np.full(len(e), mean_rate)
            prior_var = 0.0
        else:
            with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
                warnings.simplefilter("ignore")
                smoothed = np.asarray(Empirical_Bayes(e, b).r, dtype=float).ravel()
        out.loc[ok, "eb_rate"] = smoothed * PER
        low, high = gamma_interval(e.ravel(), b.ravel(), mean_rate, prior_var, level)
        out.loc[ok, "eb_low"] = low
        out.loc[ok, "eb_high"] = high
    return out


def spatial_eb_rates(
    gdf: gpd.GeoDataFrame,
    count_column: str,
    population_column: str,
    *,
    weights: str | SpatialWeights | W = "queen",
    k: int = 8,
    distance: float | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Spatial empirical Bayes rates per 100,000 (esda ``Spatial_Empirical_Bayes``) with intervals.

    Inputs: ``gdf`` with a count and a population column; ``weights`` as in
    :func:`observatory.geo.weights.build_weights` (built on the areas that have a population).
    Output: as :func:`eb_rates` with ``seb_rate``, ``seb_low``, ``seb_high`` instead of ``eb_*``,
    indexed like ``gdf``.
    """
    out = rate_table(gdf[count_column], gdf[population_column])
    ok = ~out["population_missing"].to_numpy()
    out["seb_rate"] = np.nan
    out["seb_low"] = np.nan
    out["seb_high"] = np.nan
    out.attrs["islands"] = []
    if ok.sum() >= 2:
        sub = gdf.loc[ok]
        if isinstance(weights, str):
            sw = build_weights(sub, weights, k=k, distance=distance, transform="B")
        else:
            sw = weights if isinstance(weights, SpatialWeights) else SpatialWeights(weights, "custom",
                                                                                      list(sub.index))
            if sw.n != len(sub):
                raise ValueError(f"weights cover {sw.n} areas but {len(sub)} areas have a population")
        e = out["count"].to_numpy()[ok].reshape(-1, 1)
        b = out["population"].to_numpy()[ok].reshape(-1, 1)
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore")
            smoothed = np.asarray(Spatial_Empirical_Bayes(e, b, sw.w).r, dtype=float).ravel()
        out.loc[ok, "seb_rate"] = smoothed * PER
        local_mean, local_var = local_prior(e.ravel(), b.ravel(), sw.w)
        low, high = gamma_interval(e.ravel(), b.ravel(), local_mean, local_var, level)
        out.loc[ok, "seb_low"] = low
        out.loc[ok, "seb_high"] = high
        out.attrs["islands"] = list(sw.islands)
    return out
