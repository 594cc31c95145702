"""What a headline figure covers: the city, a district or one area, and its residents.

**The rule for unassigned incidents** (incidents with no usable location, or outside every area of
the primary layer): they count in the city's totals and the city's rates, and are left out of every
area and district figure. A robbery reported without an address still happened in the city and
its residents are still the population at risk (as NYPD's city-wide CompStat counts every
complaint, placed or not), but nobody can say which neighbourhood it belongs to. So:

* city total = every incident matching the filters; city rate = city total / city population;
* district and area totals = incidents placed in those areas; their rates use their own residents;
* the sum of the area counts is therefore the city total minus the unassigned incidents (the Datos
  page lists how many there are and why).

Populations are the residents of the primary layer's areas. A scope whose areas do not all have a
population has no rate (NaN): a partial sum would understate the residents and overstate the rate.
Pure functions, no I/O.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from observatory.indicators.rates import rate_per_100k


def scope_population(areas: pd.DataFrame, districts: tuple[str, ...] = (), codes: tuple[str, ...] = ()) -> float:
    """Residents of the scope: every area (the city), the areas of ``districts`` or the areas ``codes``.

    Input: a frame of the primary layer's areas with ``population`` (and ``district``, ``code`` for
    those scopes). Output: the sum of their populations, NaN when the scope has no area or any of its
    areas has no (positive) population.
    """
    if areas is None or len(areas) == 0:
        return float("nan")
    chosen = pd.Series(True, index=areas.index)
    if districts:
        chosen &= areas["district"].astype(str).isin([str(d) for d in districts])
    if codes:
        chosen &= areas["code"].astype(str).isin([str(c) for c in codes])
    population = pd.to_numeric(areas.loc[chosen, "population"], errors="coerce")
    if population.empty or population.isna().any() or (population <= 0).any():
        return float("nan")
    return float(population.sum())


def scope_rate(count, areas: pd.DataFrame, districts: tuple[str, ...] = (), codes: tuple[str, ...] = ()) -> float:
    """Rate per 100,000 of ``count`` incidents over the residents of the scope (see the module rule).

    ``count`` is the role's published total (None or NA when it is suppressed: then NaN).
    """
    if count is None or pd.isna(count):
        return float("nan")
    return rate_per_100k(float(count), scope_population(areas, districts, codes))


def shares(counts: pd.Series, total) -> pd.Series:
    """Each count's share of ``total`` (0-1); NaN where the count is NA (suppressed) or the total is
    unknown or zero. The total is the scope's own published total, never the sum of the counts
    shown (suppressed cells would be missing from it and every share would be overstated)."""
    values = pd.to_numeric(counts, errors="coerce").astype("float64")
    if total is None or pd.isna(total) or not float(total) > 0:
        return pd.Series(np.nan, index=values.index, dtype="float64")
    return values / float(total)
