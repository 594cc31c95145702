"""Choropleth classes for maps (mapclassify): quantiles, natural breaks, equal interval, fixed bins.

``natural_breaks`` uses Fisher-Jenks (``mapclassify.FisherJenks``, the exact optimum of Jenks' goodness
of variance fit). Without numba that is O(k n²) in pure Python (3 s for 1,814 colonias), so above
``EXACT_JENKS_MAX`` values it runs on a fixed random sample of 1,000 values
(``mapclassify.FisherJenksSampled``, seeded so a map is reproducible). ``jenks_sampled`` uses
``mapclassify.NaturalBreaks`` (k-means based). Missing values are not classified (class <NA>).
"""

from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass

import mapclassify
import numpy as np
import pandas as pd

SCHEMES = ("quantiles", "natural_breaks", "jenks_sampled", "equal_interval", "fixed")
EXACT_JENKS_MAX = 1000


@dataclass
class Classification:
    """Result of :func:`classify`.

    ``bins``: upper bound of each class (ascending; the last is the maximum, or the user's last bin);
    ``lower``: lower bound of each class (the minimum for the first); ``labels``: legend text
    "lower – upper" per class; ``classes``: class number (0-based, nullable Int64) per input value;
    ``counts``: number of values per class; ``scheme`` and ``k``.
    """

    scheme: str
    k: int
    bins: list[float]
    lower: list[float]
    labels: list[str]
    classes: pd.Series
    counts: list[int]


@contextlib.contextmanager
def _seeded(seed: int = 0):
    """mapclassify samples with numpy's global generator: seed it, then restore the caller's state."""
    state = np.random.get_state()
    np.random.seed(seed)
    try:
        yield
    finally:
        np.random.set_state(state)


def _fisher_jenks(y: np.ndarray, k: int):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Numba not installed": we know, hence the sampling
        if y.size <= EXACT_JENKS_MAX:
            return mapclassify.FisherJenks(y, k=k)
        with _seeded():
            return mapclassify.FisherJenksSampled(y, k=k, pct=EXACT_JENKS_MAX / y.size)


def classify(
    values,
    scheme: str = "quantiles",
    *,
    k: int = 5,
    bins: list[float] | None = None,
    fmt: str = "{:,.1f}",
) -> Classification:
    """Classify ``values`` for a choropleth legend.

    Inputs: ``values`` (Series or array-like; NaN allowed and left unclassified), ``scheme`` one of
    :data:`SCHEMES`, ``k`` number of classes, ``bins`` upper bounds for ``scheme="fixed"`` (values above
    the last bound get an extra class up to the maximum, as mapclassify.UserDefined does), ``fmt`` the
    number format of the legend labels. Output: :class:`Classification`.
    """
    series = pd.to_numeric(pd.Series(values), errors="coerce").astype(float)
    valid = series.notna().to_numpy()
    y = series.to_numpy()[valid]
    if y.size == 0:
        raise ValueError("no values to classify")
    if scheme == "fixed":
        if not bins:
            raise ValueError("scheme='fixed' needs bins (ascending upper bounds)")
        if list(bins) != sorted(bins):
            raise ValueError(f"fixed bins must be ascending, got {bins}")
        result = mapclassify.UserDefined(y, bins=list(bins))
    else:
        distinct = np.unique(y).size
        k_eff = max(1, min(k, distinct))
        if scheme == "quantiles":
            result = mapclassify.Quantiles(y, k=k_eff)
        elif scheme == "natural_breaks":
            result = _fisher_jenks(y, k_eff)
        elif scheme == "jenks_sampled":
            with _seeded():
                result = mapclassify.NaturalBreaks(y, k=k_eff)
        elif scheme == "equal_interval":
            result = mapclassify.EqualInterval(y, k=k_eff)
        else:
            raise ValueError(f"scheme must be one of {SCHEMES}, got {scheme!r}")
    upper = [float(b) for b in result.bins]
    lower = [float(y.min()), *upper[:-1]]
    labels = [f"{fmt.format(lo)} – {fmt.format(hi)}" for lo, hi in zip(lower, upper, strict=True)]
    classes = pd.Series(pd.NA, index=series.index, dtype="Int64")
    classes[valid] = np.asarray(result.yb, dtype=int)
    counts = [int(c) for c in result.counts]
    return Classification(scheme=scheme, k=len(upper), bins=upper, lower=lower, labels=labels,
                          classes=classes, counts=counts)
