"""Statistics the public sees, derived from published counts only (rates, Gi*, Moran, hot spots)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from observatory.queries.access.release import selected_codes
from observatory.queries.access.roles import is_restricted, threshold
from observatory.queries.filters import Filters

# --- statistics the public sees, derived from published counts only ---------------------------------
#
# For the public every statistic of a map or panel (rates, smoothed rates, Gi*, local Moran, emerging
# hot spots, the heat layer, intervention ratios) is a function of the counts the public query returned,
# never of the true counts: it then tells nothing the published table does not. A suppressed cell (NA, a
# count below k) enters those statistics at (k - 1) / 2, the middle of the values it may hold (0 .. k - 1),
# the same for every cell; its own rate stays NA. When more than WITHHOLD_SHARE of the cells behind a
# statistic are suppressed it is withheld (it would mostly describe the imputation), and for a selection
# with a sensitive category the public gets no hotspot statistic at all (docs/disclosure.md, 6.1).

WITHHOLD_SHARE = 0.5
HOTSPOT_LAYERS: tuple[str, ...] = ("gi", "moran", "emerging", "density")


def suppressed_value(k: int) -> float:
    """The value a suppressed public cell (count 0 .. k-1) takes in public statistics: (k - 1) / 2."""
    return (k - 1) / 2


def published_values(counts: pd.Series, role: str) -> pd.Series:
    """Published counts as floats with suppressed cells (NA) at :func:`suppressed_value`."""
    values = pd.to_numeric(counts, errors="coerce").astype(float)
    k = threshold(role)
    return values.fillna(suppressed_value(k) if k else 0.0)


def selects_sensitive(filters: Filters, categories: pd.DataFrame) -> bool:
    """True when the selection names a sensitive category (or a section holding one).

    "All categories" is not a sensitive selection: the public area tables do not carry the
    sensitive categories (they are published only on the coarse grid).
    """
    if not (filters.categories or filters.sections):
        return False
    sensitive = set(categories.loc[categories["sensitive"].fillna(False).astype(bool), "code"])
    return bool(sensitive & set(selected_codes(filters, categories)))


def too_suppressed(suppressed: pd.Series) -> bool:
    """Whether a public statistic over these cells is withheld: more than WITHHOLD_SHARE suppressed."""
    return bool(len(suppressed)) and float(suppressed.astype(float).mean()) > WITHHOLD_SHARE


def hotspots_withheld(role: str, layer: str, sensitive: bool, suppressed_share: Callable[[], float]) -> str | None:
    """Why the public gets no hotspot statistic on ``layer`` (a notice key), or None.

    ``hotspots_sensitive``: the selection has a sensitive category; ``hotspots_suppressed``: more than
    WITHHOLD_SHARE of the cells behind the statistic are suppressed (``suppressed_share`` is called only
    when needed: it may run a query). The heat layer of the public is area centroids weighted by published
    counts, so only the sensitive rule applies to it. Analysts: always None.
    """
    if is_restricted(role) or layer not in HOTSPOT_LAYERS:
        return None
    if sensitive:
        return "hotspots_sensitive"
    if layer == "density":
        return None
    return "hotspots_suppressed" if float(suppressed_share() or 0.0) > WITHHOLD_SHARE else None
