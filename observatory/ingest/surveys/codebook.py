"""Part of stage 2 (normalise): the profile's codebook applied, one canonical item at a time.

For each ``[items.<item>]`` of the profile, :func:`item_values` finds its column (the first
release variant present, or all the combined columns), maps the source codes onto the item's
values, combines several columns (``any``: the largest, ``sum``: the total) and checks every value
against the item's value set. A code not in the codebook, or a value outside the value set, is
stored as missing and counted in a warning naming the column and the first row: the respondent
is kept.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from observatory.ingest.report import ImportFailed
from observatory.ingest.surveys.items import ITEMS, check_value
from observatory.ingest.surveys.profile import ItemMap, SurveyProfile, code_key
from observatory.ingest.surveys.read import parse_number, resolve


def is_missing(value: object) -> bool:
    """None, pandas' NA or NaN."""
    return value is None or value is pd.NA or (isinstance(value, float | np.floating) and math.isnan(value))


def _present_columns(header: dict[str, str], spec: ItemMap, profile: SurveyProfile, path: Path) -> list[str] | None:
    """The item's columns in the file; None for an optional item whose columns are absent."""
    present = [resolve(header, (c,)) for c in spec.columns]
    if spec.combine == "first":
        present = [c for c in present if c is not None][:1]
    if not any(present) or (spec.combine != "first" and None in present):
        if spec.optional:
            return None
        missing = [c for c, p in zip(spec.columns, present, strict=True) if p is None]
        raise ImportFailed(f"{path}: column {' or '.join(missing or spec.columns)} (profile {profile.name}, "
                           f"item {spec.item}) is not in the header")
    return present  # type: ignore[return-value]  # no None left: checked above


def _mapped(raw: pd.Series, keys: pd.Series, spec: ItemMap) -> tuple[pd.Series, pd.Series]:
    """``(values, known)``: the codebook's value of each cell, and which cells it knows."""
    if spec.codes is not None:
        codes = spec.codes
        return keys.map(lambda k: codes.get(k)).astype(object), keys.isin(list(codes))
    if ITEMS[spec.item].kind == "category":
        return raw.astype(object), raw != ""
    mapped = parse_number(raw).astype(object)
    return mapped, mapped.notna()


def _column_values(frame: pd.DataFrame, column: str, spec: ItemMap, warnings: list[str],
                   row_numbers: list[int]) -> pd.Series:
    """One column through the codebook: unknown codes and ``missing`` codes None, blanks ``blank``."""
    raw = frame[column].astype(str).str.strip()
    blank = raw == ""
    keys = raw.map(code_key)
    is_missing_code = keys.isin(spec.missing) if spec.missing else pd.Series(False, index=raw.index)
    mapped, known = _mapped(raw, keys, spec)
    unknown = ~known & ~blank & ~is_missing_code
    if unknown.any():
        first = row_numbers[int(np.flatnonzero(unknown.to_numpy())[0])]
        codes = Counter(raw[unknown]).most_common(5)
        warnings.append(f"column {column} (item {spec.item}): {int(unknown.sum())} rows with values not in the "
                        f"codebook {dict(codes)}, stored as missing (first at row {first})")
    out = mapped.where(known & ~is_missing_code, None)
    return out.where(~blank, spec.blank)


def _combined(values: list[pd.Series], combine: str) -> pd.Series:
    """Several columns as one item: ``any`` the largest value, ``sum`` the total (None when all missing)."""
    if len(values) == 1:
        return values[0]
    numeric = pd.concat([pd.to_numeric(v, errors="coerce") for v in values], axis=1)
    result = numeric.max(axis=1) if combine == "any" else numeric.sum(axis=1, min_count=1)
    return result.astype(object).where(result.notna(), None)


def _checked(result: pd.Series, spec: ItemMap, present: list[str], warnings: list[str],
             row_numbers: list[int]) -> list[object]:
    """Every value in the item's value set; values outside it become None, counted in one warning."""
    checked: list[object] = []
    bad: list[int] = []
    reason = ""
    for position, value in enumerate(result):
        if is_missing(value):
            checked.append(None)
            continue
        try:
            checked.append(check_value(spec.item, value))
        except ValueError as exc:
            bad.append(position)
            reason = str(exc)
            checked.append(None)
    if bad:
        warnings.append(f"column {', '.join(c for c in present if c)} (item {spec.item}): {len(bad)} values outside "
                        f"the item's value set, stored as missing (first at row {row_numbers[bad[0]]}: {reason})")
    return checked


def item_values(frame: pd.DataFrame, header: dict[str, str], spec: ItemMap, profile: SurveyProfile,
                path: Path, warnings: list[str], row_numbers: list[int]) -> pd.Series | None:
    """The canonical values of item ``spec`` for every row of ``frame`` (None: an optional item absent).

    ``row_numbers`` are the file's row numbers of ``frame``'s rows, for the warnings.
    """
    if spec.combine == "constant":
        return pd.Series([spec.constant] * len(frame), index=frame.index, dtype=object)
    present = _present_columns(header, spec, profile, path)
    if present is None:
        return None
    values = [_column_values(frame, column, spec, warnings, row_numbers) for column in present]
    checked = _checked(_combined(values, spec.combine), spec, present, warnings, row_numbers)
    return pd.Series(checked, index=frame.index, dtype=object)


def none_if_missing(value: object) -> object:
    """None for a missing value (pandas holds blanks of string columns as NaN, which PostgreSQL would
    store as the text 'NaN'), else the value."""
    return None if is_missing(value) else value


def plain(value: object) -> object:
    """A JSON-ready Python scalar (NumPy numbers and whole floats as int)."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return int(value) if float(value).is_integer() else float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
