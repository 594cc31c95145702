"""Getis-Ord Gi* hot and cold spots per area (esda ``G_Local``) with Esri's confidence classes.

Defaults and why
----------------
- ``transform="B"``, ``star=True``: the classic Gi* of Getis & Ord (1995) and of Esri's "Hot Spot
  Analysis": binary weights and the area itself in its own neighbourhood (self-weight 1). esda's own
  default (row-standardised, ``star=False``) is a different statistic; with ``"R"`` and ``star=True``
  esda 2.9 warns and uses each row's largest weight as self-weight, which shrinks the z-scores.
- ``permutations=0``: analytic (normal) p-values from the Gi* z-score, as Esri reports them. Set
  ``permutations=999`` for conditional-permutation p-values (reproducible with ``seed``).
- ``gi_p`` is TWO-SIDED: ``2 * norm.sf(|z|)`` analytically (esda's ``p_norm`` is one-sided, so it is
  doubled), and ``min(1, 2 * p_sim)`` with permutations (esda's ``p_sim`` is the folded, one-tailed
  pseudo p-value in the direction of the observed statistic).
- Classes follow Esri: "hot 99%" when z > 0 and p < 0.01, "hot 95%" when p < 0.05, "hot 90%" when
  p < 0.10 (likewise "cold ..." for z < 0), else "not significant". With analytic p-values these are
  exactly |z| > 2.576, 1.960, 1.645.
- ``fdr=True`` applies the Benjamini-Hochberg False Discovery Rate (``esda.fdr``) separately at each of
  the three levels: an area is "99%" only if its p passes the FDR cut-off for 0.01, and so on. Like
  Esri's FDR option, this never changes ``gi_z`` or ``gi_p``; it only moves areas to a lower confidence
  bin (or to "not significant").
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
from scipy import stats

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


def confidence_classes(z: np.ndarray, p: np.ndarray, *, fdr: bool = False) -> np.ndarray:
    """Esri's seven classes from z-scores (direction) and two-sided p-values.

    With ``fdr`` each level's cut-off is ``esda.fdr(p, level)`` instead of the level itself.
    Missing z or p (e.g. a constant variable) gives "not significant".
    """
    z = np.asarray(z, dtype=float)
    p = np.asarray(p, dtype=float)
    valid = ~(np.isnan(z) | np.isnan(p))
    out = np.full(len(z), "not significant", dtype=object)
    assigned = ~valid
    for label, level in LEVELS:
        cut = fdr_cutoff(p[valid], level) if fdr and valid.any() else level
        hit = valid & ~assigned & (np.where(valid, p, 1.0) < cut)
        out[hit & (z > 0)] = f"hot {label}"
        out[hit & (z < 0)] = f"cold {label}"
        assigned |= hit & (z != 0)
    return out


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
    of conditional permutations; ``seed`` for reproducible permutations; ``fdr`` False Discovery Rate
    binning; ``alpha`` the level of the boolean ``gi_significant`` column.

    Output: DataFrame indexed like ``gdf`` with ``gi`` (the G statistic), ``gi_z`` (analytic z-score),
    ``gi_p`` (two-sided p-value: analytic, or permutation when ``permutations > 0``), ``gi_z_sim``
    (permutation z, NaN without permutations), ``hotspot_class`` (one of :data:`HOTSPOT_CLASSES`) and
    ``gi_significant``. ``attrs["islands"]`` lists areas that had no neighbour and were given their
    nearest one. See the module docstring for the defaults and why.
    """
    y = values_of(gdf, column)
    sw = resolve_weights(gdf, weights, k=k, distance=distance, transform=transform)
    with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
        warnings.simplefilter("ignore")
        # n_jobs=1: the permutation stream is then fixed by the seed alone, and 2 cores gain little.
        w, star_arg = sw.w, star
        base = weights.w if isinstance(weights, SpatialWeights) else weights if isinstance(weights, W) else None
        if star is True and transform.upper() == "B" and base is not None and _no_self_neighbours(base):
            # Keyed by the caller's weights object (resolve_weights hands back a fresh copy each call).
            w, star_arg = copy.copy(_with_self_weight(base)), None
        g = G_Local(y, w, transform=transform.upper(), permutations=int(permutations), star=star_arg,
                    keep_simulations=bool(permutations), n_jobs=1, seed=seed)
    z = np.asarray(g.Zs, dtype=float)
    if permutations:
        p = np.minimum(1.0, 2.0 * np.asarray(g.p_sim, dtype=float))
        z_sim = np.asarray(g.z_sim, dtype=float)
    else:
        p = 2.0 * stats.norm.sf(np.abs(z))
        z_sim = np.full(len(z), np.nan)
    classes = confidence_classes(z, p, fdr=fdr)
    if fdr:
        cut = fdr_cutoff(p[~np.isnan(p)], alpha) if (~np.isnan(p)).any() else alpha
        significant = p < cut
    else:
        significant = p < alpha
    out = pd.DataFrame(
        {
            "gi": np.asarray(g.Gs, dtype=float),
            "gi_z": z,
            "gi_p": p,
            "gi_z_sim": z_sim,
            "hotspot_class": pd.Categorical(classes, categories=HOTSPOT_CLASSES),
            "gi_significant": np.nan_to_num(significant, nan=False).astype(bool),
        },
        index=gdf.index,
    )
    out.attrs["islands"] = list(sw.islands)
    out.attrs["p_value"] = "permutation, two-sided" if permutations else "analytic normal, two-sided"
    return out
