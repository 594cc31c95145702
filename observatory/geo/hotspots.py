"""Getis-Ord Gi* hot and cold spots per area (esda ``G_Local``) with Esri's confidence classes.

Defaults and why
----------------
- ``transform="B"``, ``star=True``: the classic Gi* of Getis & Ord (1995) and of Esri's "Hot Spot
  Analysis": binary weights and the area itself in its own neighbourhood (self-weight 1).
- The z-score ``gi_z`` is computed here with the textbook formula for general weights (Ord & Getis
  1995, eq. 8): ``z_i = (sum_j w_ij x_j - xbar W_i) / (S sqrt((n S1_i - W_i^2) / (n - 1)))`` with
  ``W_i = sum_j w_ij`` and ``S1_i = sum_j w_ij^2`` (for Gi, ``star=False``, xbar, S and n leave out
  area i). It does not change when a row of weights is multiplied by a constant, so
  row-standardised weights (``transform="R"``, each row including the self-weight divided by its
  sum) give the same z as binary ones. esda's ``Zs`` uses a variance that holds for binary weights
  only and shrinks z by ``sqrt((n/(k+1) - 1)/(n - 1))`` under ``"R"``, which is why it is not used.
- With prebuilt binary weights and analytic p-values (the dashboard's case) the statistic is computed
  here with esda's own formula (``G_Local.calc``: ``W y / sum y``) on weights terms kept per weights
  object: esda would rebuild the weights' sparse matrix on every call, which cost more than the rest.
  A test checks the numbers against esda's.
- ``permutations=0``: analytic (normal) p-values from the Gi* z-score, as Esri reports them. Set
  ``permutations=999`` for conditional-permutation p-values (reproducible with ``seed``); those do
  not depend on the row scaling either.
- ``gi_p`` is TWO-SIDED: ``2 * norm.sf(|z|)`` analytically, and ``min(1, 2 * p_sim)`` with
  permutations (esda's ``p_sim`` is the folded, one-tailed pseudo p-value in the direction of the
  observed statistic).
- ONE significance convention with local Moran's I (:mod:`observatory.geo.moran`): two-sided, at
  ``alpha`` = 5% by default. Classes follow Esri's bins but only at levels no weaker than
  ``alpha``: "hot 99%" when z > 0 and p < 0.01, "hot 95%" when p < 0.05, and "hot 90%" (p < 0.10)
  only when ``alpha >= 0.10``; likewise "cold ..." for z < 0; else "not significant". With
  analytic p-values these are |z| > 2.576, 1.960 (, 1.645).
- ``fdr=True`` applies the Benjamini-Hochberg False Discovery Rate (``esda.fdr``, which returns
  the BH cut-off ``k alpha / n``) separately at each level: an area is "99%" only if its p passes
  the FDR cut-off for 0.01, and so on, and ``gi_significant`` uses the cut-off for ``alpha``. Like
  Esri's FDR option, this never changes ``gi_z`` or ``gi_p``; ``gi_p_fdr`` gives the BH-adjusted
  p-value and ``fdr`` says whether the correction was applied.
"""

from __future__ import annotations

import copy
import warnings
import weakref

import geopandas as gpd
import numpy as np
import pandas as pd
from esda import fdr as fdr_cutoff
from esda.getisord import G_Local
from libpysal.weights import W, fill_diagonal
from scipy import sparse, stats

from observatory.geo.weights import SpatialWeights, resolve_weights

HOTSPOT_CLASSES = ("hot 99%", "hot 95%", "hot 90%", "not significant", "cold 90%", "cold 95%", "cold 99%")
# (confidence label, two-sided significance level), strongest first
LEVELS = (("99%", 0.01), ("95%", 0.05), ("90%", 0.10))


_SELF_WEIGHTED: weakref.WeakKeyDictionary[W, W] = weakref.WeakKeyDictionary()


def _with_self_weight(w: W) -> W:
    """``w`` with self-weight 1 on the diagonal (binary Gi*), built once per weights object.

    esda adds the diagonal itself on every call when it is missing, which costs more than the
    statistic (40 ms for 2,000 areas); given weights that already have it, esda uses them as they
    are (``star=None`` infers Gi* from the non-zero diagonal), so the result is the same.
    """
    filled = _SELF_WEIGHTED.get(w)
    if filled is None:
        filled = _SELF_WEIGHTED[w] = fill_diagonal(w, 1)
    return filled


def _no_self_neighbours(w: W) -> bool:
    """True when no area lists itself as a neighbour (a Gi weights matrix, zero diagonal)."""
    return not any(i in neighbours for i, neighbours in w.neighbors.items())


def values_of(gdf: pd.DataFrame, column: str) -> np.ndarray:
    """The numeric column as floats; a clear error when it is absent or has missing values."""
    if column not in gdf.columns:
        raise KeyError(f"column {column!r} not in data (columns: {list(gdf.columns)})")
    y = pd.to_numeric(gdf[column], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    if np.isnan(y).any():
        bad = list(gdf.index[np.isnan(y)][:5])
        raise ValueError(f"column {column!r} has missing or non-numeric values (e.g. rows {bad}); "
                         "fill counts with 0 before testing")
    return y


def confidence_classes(z: np.ndarray, p: np.ndarray, *, fdr: bool = False, alpha: float = 0.10) -> np.ndarray:
    """Esri's classes from z-scores (direction) and two-sided p-values, at levels <= ``alpha``.

    With ``fdr`` each level's cut-off is ``esda.fdr(p, level)`` instead of the level itself.
    Missing z or p (e.g. a constant variable) gives "not significant". ``alpha`` = 0.10 keeps
    Esri's three bins; :func:`gi_star` passes its own ``alpha`` (5% by default).
    """
    z = np.asarray(z, dtype=float)
    p = np.asarray(p, dtype=float)
    valid = ~(np.isnan(z) | np.isnan(p))
    out = np.full(len(z), "not significant", dtype=object)
    assigned = ~valid
    for label, level in LEVELS:
        if level > alpha + 1e-12:
            continue
        cut = fdr_cutoff(p[valid], level) if fdr and valid.any() else level
        hit = valid & ~assigned & (np.where(valid, p, 1.0) < cut)
        out[hit & (z > 0)] = f"hot {label}"
        out[hit & (z < 0)] = f"cold {label}"
        assigned |= hit & (z != 0)
    return out


def bh_adjusted(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values (``p < alpha`` iff the BH test rejects); NaN stays NaN."""
    p = np.asarray(p, dtype=float)
    out = np.full(len(p), np.nan)
    ok = ~np.isnan(p)
    if ok.any():
        out[ok] = stats.false_discovery_control(p[ok], method="bh")
    return out


def significant_at(p: np.ndarray, alpha: float, *, fdr: bool = False) -> np.ndarray:
    """``p < alpha`` (two-sided p-values), or ``p < esda.fdr(p, alpha)`` with ``fdr``; NaN is False."""
    p = np.asarray(p, dtype=float)
    ok = ~np.isnan(p)
    cut = fdr_cutoff(p[ok], alpha) if fdr and ok.any() else alpha
    return ok & (np.where(ok, p, 1.0) < cut)


def _gi_terms(w: W, star: bool) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    """(weights matrix with the Gi* self-weight or without the diagonal, row sums W_i, row sums
    of squares S1_i) of ``w``: what the z-score needs of the weights, whatever the values."""
    m = w.sparse.tocsr().astype(float)
    diag = m.diagonal()
    m = m - sparse.diags(diag)
    if star:
        self_w = np.where(diag > 0, diag, m.max(axis=1).toarray().ravel())
        m = m + sparse.diags(self_w)
    m = m.tocsr()
    wsum = np.asarray(m.sum(axis=1)).ravel()
    s1 = np.asarray(m.multiply(m).sum(axis=1)).ravel()
    return m, wsum, s1


def _z_of(y: np.ndarray, lag: np.ndarray, wsum: np.ndarray, s1: np.ndarray, star: bool) -> np.ndarray:
    n = len(y)
    with np.errstate(divide="ignore", invalid="ignore"):
        if star:
            xbar = np.full(n, y.mean())
            sd = np.full(n, np.sqrt(max((y**2).mean() - y.mean() ** 2, 0.0)))
            var_part = (n * s1 - wsum**2) / (n - 1)
        else:
            # Gi leaves area i out of the mean and the spread (Getis & Ord 1992).
            xbar = (y.sum() - y) / (n - 1)
            sd = np.sqrt(np.maximum(((y**2).sum() - y**2) / (n - 1) - xbar**2, 0.0))
            var_part = ((n - 1) * s1 - wsum**2) / (n - 2)
        z = (lag - xbar * wsum) / (sd * np.sqrt(var_part))
    return np.where(np.isfinite(z), z, np.nan)


def gi_z_scores(y: np.ndarray, w: W, *, star: bool = True) -> np.ndarray:
    """Textbook Getis-Ord z-scores (module docstring) for any non-negative weights ``w``.

    For Gi* (``star``) the self-weight is the weight on the diagonal of ``w`` or, when there is
    none, the row's largest weight (1 for binary weights); for Gi the diagonal is ignored.
    Invariant to multiplying any row by a constant. NaN where the variance is 0.
    """
    y = np.asarray(y, dtype=float)
    m, wsum, s1 = _gi_terms(w, star)
    return _z_of(y, m @ y, wsum, s1, star)


# Binary Gi/Gi* terms of a caller's weights object, built once: a dashboard computes Gi* on the
# same weights for every view, and libpysal rebuilds its sparse matrix whenever a transform is set.
_BINARY_TERMS: weakref.WeakKeyDictionary[W, dict] = weakref.WeakKeyDictionary()


def _analytic_binary(y: np.ndarray, base: W, w: W, star: bool) -> tuple[np.ndarray, np.ndarray]:
    """(G statistic, z-score) with binary weights and analytic inference: esda ``G_Local.calc``'s
    statistic ``(W y) / (sum y - y_i [Gi])`` and the textbook z, on the terms of ``w`` (``base``
    set to binary) kept per ``base``."""
    kept = _BINARY_TERMS.setdefault(base, {})
    if star not in kept:
        kept[star] = _gi_terms(w, star)
    m, wsum, s1 = kept[star]
    lag = m @ y
    with np.errstate(divide="ignore", invalid="ignore"):
        statistic = lag / (y.sum() - (0.0 if star else y))
    return statistic, _z_of(y, lag, wsum, s1, star)


def _esda_gi(y: np.ndarray, sw: SpatialWeights, base: W | None, star: bool, transform: str, permutations: int,
             seed: int | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(G statistic, z-score, two-sided p, permutation z) from esda ``G_Local``."""
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        # n_jobs=1: the permutation stream is then fixed by the seed alone, and 2 cores gain little.
        w, star_arg = sw.w, star
        if star is True and transform.upper() == "B" and base is not None and _no_self_neighbours(base):
            # Keyed by the caller's weights object (resolve_weights hands back a fresh copy each call).
            w, star_arg = copy.copy(_with_self_weight(base)), None
        g = G_Local(y, w, transform=transform.upper(), permutations=int(permutations), star=star_arg,
                    keep_simulations=bool(permutations), n_jobs=1, seed=seed)
    # Not esda's Zs: its variance holds for binary weights only (module docstring).
    z = gi_z_scores(y, w, star=bool(star))
    if permutations:
        p = np.minimum(1.0, 2.0 * np.asarray(g.p_sim, dtype=float))
        z_sim = np.asarray(g.z_sim, dtype=float)
    else:
        p = 2.0 * stats.norm.sf(np.abs(z))
        z_sim = np.full(len(z), np.nan)
    return np.asarray(g.Gs, dtype=float), z, p, z_sim


def gi_star(
    gdf: gpd.GeoDataFrame,
    column: str,
    *,
    weights: str | SpatialWeights | W = "queen",
    k: int = 8,
    distance: float | None = None,
    transform: str = "B",
    star: bool = True,
    permutations: int = 0,
    seed: int | None = None,
    fdr: bool = False,
    alpha: float = 0.05,
) -> pd.DataFrame:
    """Getis-Ord Gi* (or Gi with ``star=False``) for each row of ``gdf``.

    Inputs: ``gdf`` with geometries and a numeric ``column`` (counts or rates, no missing values);
    ``weights`` a kind ("queen", "rook", "knn" with ``k``, "distance" with ``distance`` in metres) or
    prebuilt weights; ``transform`` "B" or "R"; ``permutations`` 0 for analytic p-values or the number
    of conditional permutations; ``seed`` for reproducible permutations; ``fdr`` Benjamini-Hochberg
    False Discovery Rate; ``alpha`` the two-sided significance level (5%) of ``gi_significant`` and
    the weakest class shown.

    Output: DataFrame indexed like ``gdf`` with ``gi`` (the G statistic), ``gi_z`` (textbook z-score,
    the same for binary and row-standardised weights), ``gi_p`` (two-sided p-value: analytic, or
    permutation when ``permutations > 0``), ``gi_z_sim`` (permutation z, NaN without permutations),
    ``hotspot_class`` (one of :data:`HOTSPOT_CLASSES`), ``gi_significant``, ``gi_p_fdr``
    (BH-adjusted p) and ``fdr`` (whether the correction was applied); attrs ``alpha``, ``fdr``.
    ``attrs["islands"]`` lists areas that had no neighbour and were given their nearest one.
    See the module docstring for the defaults and why.
    """
    y = values_of(gdf, column)
    sw = resolve_weights(gdf, weights, k=k, distance=distance, transform=transform)
    base = weights.w if isinstance(weights, SpatialWeights) else weights if isinstance(weights, W) else None
    if not permutations and transform.upper() == "B" and base is not None:
        # The dashboard's case (prebuilt binary weights, analytic p): the same numbers as below,
        # without esda rebuilding the weights' sparse matrix on every call.
        statistic, z = _analytic_binary(y, base, sw.w, bool(star))
        p, z_sim = 2.0 * stats.norm.sf(np.abs(z)), np.full(len(z), np.nan)
    else:
        statistic, z, p, z_sim = _esda_gi(y, sw, base, star, transform, permutations, seed)
    classes = confidence_classes(z, p, fdr=fdr, alpha=alpha)
    significant = significant_at(p, alpha, fdr=fdr)
    out = pd.DataFrame(
        {
            "gi": np.asarray(statistic, dtype=float),
            "gi_z": z,
            "gi_p": p,
            "gi_z_sim": z_sim,
            "hotspot_class": pd.Categorical(classes, categories=HOTSPOT_CLASSES),
            "gi_significant": significant,
            "gi_p_fdr": bh_adjusted(p),
            "fdr": bool(fdr),
        },
        index=gdf.index,
    )
    out.attrs["islands"] = list(sw.islands)
    out.attrs["p_value"] = "permutation, two-sided" if permutations else "analytic normal, two-sided"
    out.attrs["alpha"] = alpha
    out.attrs["fdr"] = bool(fdr)
    return out
