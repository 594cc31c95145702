"""The one rate per 100,000 residents of the project.

``rate_per_100k(count, population)`` = count / population x 100,000 over the same period,
NaN (never 0) where the population is missing, zero or negative: an area without population
has no rate, and a silent 0 would rank it as the safest place in the city. Rates are not
annualised unless ``annualise_months`` is given (then scaled from that many months to 12).
Every rate on a card, map, table or CSV comes from here (``geo.rates`` builds on it).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PER = 100_000.0


def _floats(values) -> np.ndarray:
    """1-D float array; None, pd.NA and non-numeric text become NaN."""
    try:
        return np.atleast_1d(np.asarray(values, dtype=float))
    except (TypeError, ValueError):
        objects = np.atleast_1d(np.asarray(values, dtype=object))
        return pd.to_numeric(pd.Series(objects), errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def rate_per_100k(count, population, annualise_months: float | None = None):
    """Rate per 100,000 inhabitants; NaN where the population is missing or not positive.

    ``count`` and ``population``: scalars, arrays or aligned Series (a Series keeps its index);
    missing counts stay NaN. With ``annualise_months`` the rate of that many months is scaled to
    12 months. Returns a float for scalar input, a Series for Series input, else an ndarray.
    """
    c, p = _floats(count), _floats(population)
    if len(p) != len(c) and len(p) != 1 and len(c) != 1:
        raise ValueError(f"counts ({len(c)}) and population ({len(p)}) differ in length")
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(p > 0, c / p * PER, np.nan)
    if annualise_months:
        rate = rate * 12.0 / float(annualise_months)
    if np.ndim(count) == 0 and np.ndim(population) == 0:
        return float(rate[0])
    if isinstance(count, pd.Series):
        return pd.Series(rate, index=count.index, name="rate")
    return rate
