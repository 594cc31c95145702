"""Local Moran's I (Anselin 1995) clusters and outliers per area (esda ``Moran_Local``).

Defaults: row-standardised weights (``transform="R"``, the LISA convention of GeoDa and esda), 999
conditional permutations. Quadrants are esda's: 1 high-high, 2 low-high, 3 low-low, 4 high-low (value
vs. spatial lag of the standardised variable).

Significance: ONE convention with Gi* (:mod:`observatory.geo.hotspots`), two-sided at ``alpha`` = 5%.
esda's ``p_sim`` (kept as ``moran_p_folded``) is the folded pseudo p-value, one-tailed in the direction
of the observed statistic, as GeoDa reports it; comparing it with 0.05 is a 10% two-sided test. So
``moran_p`` = ``min(1, 2 p_sim)``, the two-sided permutation p-value, and an area is significant when
``moran_p < alpha`` (i.e. ``p_sim < alpha / 2``). ``fdr=True`` uses the Benjamini-Hochberg cut-off
``esda.fdr(moran_p, alpha)`` instead; ``moran_p_fdr`` is the BH-adjusted p-value.
"""

from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
from libpysal.weights import W

from observatory.geo.crand import local_moran_fast
from observatory.geo.hotspots import bh_adjusted, significant_at, values_of
from observatory.geo.weights import SpatialWeights, resolve_weights

MORAN_CLUSTERS = ("high-high", "low-low", "high-low", "low-high", "not significant")
_QUADRANT_LABEL = {1: "high-high", 2: "low-high", 3: "low-low", 4: "high-low"}


def local_moran(
    gdf: gpd.GeoDataFrame,
    column: str,
    *,
    weights: str | SpatialWeights | W = "queen",
    k: int = 8,
    distance: float | None = None,
    transform: str = "R",
    permutations: int = 999,
    seed: int | None = None,
    alpha: float = 0.05,
    fdr: bool = False,
    rows: list[int] | None = None,
) -> pd.DataFrame:
    """Local Moran's I of ``column`` for each row of ``gdf``.

    Inputs: as :func:`observatory.geo.hotspots.gi_star` (weights kind or prebuilt weights, ``k``,
    ``distance`` in metres), ``permutations`` (> 0, conditional randomisation), ``seed`` for
    reproducibility, ``alpha`` two-sided significance level, ``fdr`` to use the Benjamini-Hochberg
    cut-off ``esda.fdr(p, alpha)``.

    Output: DataFrame indexed like ``gdf`` with ``moran_i`` (local I), ``moran_z`` (permutation
    z-score), ``moran_p`` (two-sided pseudo p-value), ``moran_p_folded`` (esda's ``p_sim``),
    ``moran_p_fdr`` (BH-adjusted ``moran_p``), ``quadrant`` (1..4), ``cluster`` (one of
    :data:`MORAN_CLUSTERS`; significant areas get their quadrant's label), ``moran_significant`` and
    ``fdr`` (whether the correction was applied); attrs ``alpha``, ``fdr``.
    ``attrs["islands"]`` lists areas given their nearest neighbour.

    ``rows`` (positions): permutation inference for these areas only, e.g. the one a profile shows.
    Their p-values and clusters are those of the full computation (each area's simulations are its
    own, drawn from the shared permutations); the other areas get NaN p-values and "not
    significant". Not with ``fdr``: the Benjamini-Hochberg cut-off needs every area's p-value.
    """
    if permutations < 1:
        raise ValueError("local Moran's I here uses permutation inference: permutations must be >= 1")
    if rows is not None and fdr:
        raise ValueError("local Moran's I with fdr needs every area's p-value: leave rows unset")
    y = values_of(gdf, column)
    if isinstance(weights, str):
        sw = resolve_weights(gdf, weights, k=k, distance=distance, transform=transform)
    else:
        # Prebuilt weights are used as they are (their arrays prepared once per object, ``crand``).
        sw = weights if isinstance(weights, SpatialWeights) else SpatialWeights(w=weights, kind="custom",
                                                                                 ids=list(gdf.index))
        if sw.n != len(gdf):
            raise ValueError(f"weights cover {sw.n} areas but the data have {len(gdf)} rows")
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        # esda's Moran_Local, numbers and all, without its per-area Python loop (observatory.geo.crand).
        lm = local_moran_fast(y, sw.w, int(permutations), seed, transform,
                              None if rows is None else np.asarray(rows, dtype=np.int64))
    folded = np.asarray(lm.p_sim, dtype=float)
    p = np.minimum(1.0, 2.0 * folded)  # two-sided, like Gi*'s (module docstring)
    significant = significant_at(p, alpha, fdr=fdr)
    if np.allclose(y, y[0]):
        significant[:] = False  # a constant variable has no clusters (esda returns NaN I's)
    quadrant = np.asarray(lm.q, dtype=int)
    cluster = np.where(significant, [_QUADRANT_LABEL.get(q, "not significant") for q in quadrant],
                       "not significant")
    out = pd.DataFrame(
        {
            "moran_i": np.asarray(lm.Is, dtype=float),
            "moran_z": np.asarray(lm.z_sim, dtype=float),
            "moran_p": p,
            "moran_p_folded": folded,
            "moran_p_fdr": bh_adjusted(p),
            "quadrant": quadrant,
            "cluster": pd.Categorical(cluster, categories=MORAN_CLUSTERS),
            "moran_significant": significant,
            "fdr": bool(fdr),
        },
        index=gdf.index,
    )
    out.attrs["islands"] = list(sw.islands)
    out.attrs["alpha"] = alpha
    out.attrs["fdr"] = bool(fdr)
    return out
