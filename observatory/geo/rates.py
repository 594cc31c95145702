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
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
from esda.smoothing import Empirical_Bayes, Spatial_Empirical_Bayes
from libpysal.weights import W

from observatory.geo.weights import SpatialWeights, build_weights

PER = 100_000


def _as_float(values, name: str) -> pd.Series:
    series = pd.Series(values)
    return pd.to_numeric(series, errors="coerce").astype(float).rename(name)


def rate_per_100k(counts, population) -> pd.DataFrame:
    """Rate per 100,000 residents.

    Inputs: ``counts`` and ``population``, aligned Series (or array-likes of equal length); counts are
    incidents in the period, population residents. Output: DataFrame (index of ``counts``) with
    ``count``, ``population``, ``rate`` = count / population x 100,000 (NaN where population is
    missing or <= 0) and ``population_missing`` (bool). Rates are not annualised.
    """
    count = _as_float(counts, "count")
    pop = _as_float(population, "population")
    if len(count) != len(pop):
        raise ValueError(f"counts ({len(count)}) and population ({len(pop)}) differ in length")
    pop.index = count.index
    missing = pop.isna() | (pop <= 0)
    rate = (count / pop.where(~missing)) * PER
    return pd.DataFrame({"count": count, "population": pop, "rate": rate, "population_missing": missing})


def eb_rates(counts, population) -> pd.DataFrame:
    """Global empirical Bayes smoothed rates per 100,000 (esda ``Empirical_Bayes``).

    Inputs/outputs as :func:`rate_per_100k`, plus ``eb_rate`` (per 100,000; NaN where population is
    missing). Needs at least two areas with a population.
    """
    out = rate_per_100k(counts, population)
    ok = ~out["population_missing"].to_numpy()
    out["eb_rate"] = np.nan
    if ok.sum() >= 2:
        e = out["count"].to_numpy()[ok].reshape(-1, 1)
        b = out["population"].to_numpy()[ok].reshape(-1, 1)
        mean_rate = e.sum() / b.sum()
        # Marshall's prior variance; esda does not clamp it, so a negative one (rates vary less than
        # Poisson noise alone would make them) is set to 0 here: every area then gets the mean rate.
        prior_var = (b * (e / b - mean_rate) ** 2).sum() / b.sum() - mean_rate / b.mean()
        if mean_rate == 0 or prior_var <= 0:
            smoothed = np.full(len(e), mean_rate)
        else:
            with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
                warnings.simplefilter("ignore")
                smoothed = np.asarray(Empirical_Bayes(e, b).r, dtype=float).ravel()
        out.loc[ok, "eb_rate"] = smoothed * PER
    return out


def spatial_eb_rates(
    gdf: gpd.GeoDataFrame,
    count_column: str,
    population_column: str,
    *,
    weights: str | SpatialWeights | W = "queen",
    k: int = 8,
    distance: float | None = None,
) -> pd.DataFrame:
    """Spatial empirical Bayes rates per 100,000 (esda ``Spatial_Empirical_Bayes``).

    Inputs: ``gdf`` with a count and a population column; ``weights`` as in
    :func:`observatory.geo.weights.build_weights` (built on the areas that have a population).
    Output: as :func:`eb_rates` with ``seb_rate`` instead of ``eb_rate``, indexed like ``gdf``.
    """
    out = rate_per_100k(gdf[count_column], gdf[population_column])
    ok = ~out["population_missing"].to_numpy()
    out["seb_rate"] = np.nan
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
        out.attrs["islands"] = list(sw.islands)
    return out
