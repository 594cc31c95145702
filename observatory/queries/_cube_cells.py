"""The incident cube's ``GROUP BY``: the cells of selected rows, and tables derived from kept cells.

A cell is one group of a grouping: each key's value, the sum of its rows' counts and the sum of
their noise keys (:mod:`observatory.queries.cellkey`). Within one callback
(``cube.pinned``) the cells of each aggregate are kept, and a later aggregate of the same rows
is derived from them instead of the rows when it can be:

- a **coarser** table (its keys a subset of the kept ones) is the kept cells summed up;
- a **narrower** table (fewer categories) is the kept cells of those categories, summed up, when
  the kept table has the category among its keys and was read for every category (or a superset).

Both give the very groups and integer sums a scan of the rows gives: a group of the derived table
has a row exactly when one of the kept cells it adds up does, and sums of integers held in
float64 are exact far beyond any city's incident count.

Why the second: the public's selections name every non-sensitive category (the sensitive ones
are published only on the coarse grid), so each public table masked nearly every row of the
window by category and then gathered the survivors; reading the window without that mask, grouped
by category too, costs about half, and the category table and total of the same window then
come from those cells.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd

from observatory.queries.filters import Filters

Cells = tuple[list[np.ndarray], np.ndarray, np.ndarray]

CATEGORY = "category_id"
# A grouping with more possible cells than this is grouped by sorting (np.unique), not counting.
MAX_COUNTED_CELLS = 4_000_000
# Widen a category selection to every category when the selected categories hold at least this
# share of the cube's rows: reading the whole window then costs no more than masking it.
WIDEN_SHARE = 0.5


def category_set(categories: pd.DataFrame, filters: Filters) -> frozenset[int] | None:
    """Ids of the categories ``filters`` select (codes OR sections), None when they select all."""
    if not (filters.categories or filters.sections):
        return None
    hit = categories["code"].isin(filters.categories) | categories["iccs_section"].isin(filters.sections)
    return frozenset(int(i) for i in categories.loc[hit, "id"])


def without_categories(filters: Filters) -> Filters:
    """``filters`` with no category or section restriction (the rows a widened scan reads)."""
    if not (filters.categories or filters.sections):
        return filters
    return dataclasses.replace(filters, categories=(), sections=())


def widens(share: float, wanted: frozenset[int] | None, columns: tuple[str, ...]) -> bool:
    """Whether to read every category (grouped by category too) instead of masking ``wanted``:
    when the selected categories hold at least :data:`WIDEN_SHARE` of the rows (``share``) and the
    grouping stays small with the category added (already a key, or at most one other key)."""
    if wanted is None or not wanted or share < WIDEN_SHARE:
        return False
    return CATEGORY in columns or len(columns) <= 1


def widened_columns(columns: tuple[str, ...]) -> tuple[str, ...]:
    """``columns`` with the category among them (appended when absent)."""
    return columns if CATEGORY in columns else (*columns, CATEGORY)


def derive(kept: tuple[str, ...], kept_set: frozenset[int] | None, cells: Cells, columns: tuple[str, ...],
           wanted: frozenset[int] | None) -> Cells | None:
    """The cells of grouping ``columns`` over categories ``wanted`` from kept ``cells`` (grouped by
    ``kept`` over categories ``kept_set``; None = every category), or None when they do not hold it."""
    if not set(columns) <= set(kept):
        return None
    values, sums, key_sums = cells
    if wanted != kept_set:
        narrower = wanted is not None and (kept_set is None or wanted <= kept_set)
        if not narrower or CATEGORY not in kept:
            return None
        keep = np.isin(values[kept.index(CATEGORY)], np.fromiter(wanted, dtype=np.int64, count=len(wanted)))
        values, sums, key_sums = [v[keep] for v in values], sums[keep], key_sums[keep]
    if not columns:
        return [], np.array([sums.sum()]), np.array([key_sums.sum()])
    if tuple(columns) == tuple(kept):
        return values, sums, key_sums  # already these groups, in key order
    return grouped([values[kept.index(c)] for c in columns], sums, key_sums)


def group_codes(columns: list[np.ndarray]) -> tuple[np.ndarray, list[int], list[int]]:
    """One integer per row identifying its group: mixed-radix over each key's observed range."""
    combined: np.ndarray | None = None
    lows, spans = [], []
    for values in columns:
        values = values.astype(np.int64, copy=False)
        low = int(values.min()) if values.size else 0
        span = (int(values.max()) - low + 1) if values.size else 1
        combined = (values - low) if combined is None else combined * span + (values - low)
        lows.append(low)
        spans.append(span)
    return (np.zeros(0, dtype=np.int64) if combined is None else combined), lows, spans


def _domain_codes(columns: list[np.ndarray], domains: list[tuple[int, int]]) -> np.ndarray:
    """:func:`group_codes` over known ranges ``domains`` (low, span): no pass to find each key's
    own range, and the narrow columns are widened once, in place."""
    combined = columns[0].astype(np.intp)
    if domains[0][0]:
        combined -= domains[0][0]
    for values, (low, span) in zip(columns[1:], domains[1:], strict=True):
        combined *= span
        combined += values
        if low:
            combined -= low
    return combined


def grouped(columns: list[np.ndarray], counts: np.ndarray, noise: np.ndarray,
            domains: list[tuple[int, int]] | None = None) -> Cells:
    """Groups of the rows (or finer cells) whose key values are ``columns``, sorted by the keys:
    each key's value per group, and the sums of ``counts`` and of ``noise`` (empty: zeros).

    ``domains``: each key's (lowest value, number of values) over every row it can hold (the
    cube's); used when the rows are many against the cells they span, where finding the rows' own
    ranges would cost more than counting over the whole one.
    """
    rows = columns[0].size if columns else 0
    whole = int(np.prod([span for _, span in domains], dtype=np.float64)) if domains else 0
    if domains and whole <= MAX_COUNTED_CELLS and rows * 4 >= whole:
        combined, lows, spans = _domain_codes(columns, domains), [d[0] for d in domains], [d[1] for d in domains]
    else:
        combined, lows, spans = group_codes(columns)
    cells = int(np.prod(spans, dtype=np.float64))
    if cells <= MAX_COUNTED_CELLS:
        groups = np.flatnonzero(np.bincount(combined, minlength=cells))
        inverse, size = combined, cells
    else:
        groups, inverse = np.unique(combined, return_inverse=True)
        size = groups.size
    sums = np.bincount(inverse, weights=counts, minlength=size)
    key_sums = np.bincount(inverse, weights=noise, minlength=size) if noise.size else np.zeros(size)
    if cells <= MAX_COUNTED_CELLS:
        sums, key_sums = sums[groups], key_sums[groups]
    remainder = groups
    decoded = []
    for low, span in zip(reversed(lows), reversed(spans), strict=True):
        decoded.append(remainder % span + low)
        remainder = remainder // span
    return decoded[::-1], sums, key_sums
