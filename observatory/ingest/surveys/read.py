"""Stage 1 of a survey import: read the file and its sibling tables into text columns.

:func:`read_survey` reads the microdata file (any encoding / delimiter, see
``observatory.ingest.readers``) and adds the columns of the profile's ``[[join]]`` tables (ECSC's
dwelling table gives each person the municipality) and their presence flags (a person who appears
in the burglary module was burgled). The helpers below find the profile's columns in the header,
case-insensitively, and fail naming the profile, the field and the header when one is missing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from observatory.ingest.readers import InputFileError, read_table
from observatory.ingest.report import ImportFailed
from observatory.ingest.surveys.profile import Join, SurveyProfile

Rejection = tuple[int, str | None, str, dict[str, Any]]  # (row number, field, reason, raw row)


@dataclass
class SurveyTable:
    """The file as text: every column (joined ones too), row numbers, unreadable lines, flags."""

    frame: pd.DataFrame  # the file's columns plus the joined ones
    raw: pd.DataFrame  # the file's own columns, as stored with a rejected row
    header: dict[str, str]  # upper-case name -> the column's name in ``frame``
    rows: pd.Series  # the file's row number of each row (header = row 1)
    total: int
    rejections: list[Rejection]  # lines the reader could not split into fields
    flags: dict[str, pd.Series]  # presence-flag items from the joins
    warnings: list[str]


def header_of(frame: pd.DataFrame) -> dict[str, str]:
    """Upper-case column name -> the column's name, for case-insensitive look-ups."""
    return {c.upper(): c for c in frame.columns}


def resolve(header: dict[str, str], names: tuple[str, ...]) -> str | None:
    """The actual header name of the first of ``names`` present (case-insensitive)."""
    for name in names:
        if name.upper() in header:
            return header[name.upper()]
    return None


def require(header: dict[str, str], names: tuple[str, ...], profile: SurveyProfile, key: str, path: Path) -> str:
    """Like :func:`resolve`, failing with the profile, the field and the header when none is present."""
    column = resolve(header, names)
    if column is None:
        raise ImportFailed(f"{path}: column {' or '.join(names)} (profile {profile.name}, field {key}) is not in "
                           f"the header; the file has: {', '.join(list(header.values())[:40])}")
    return column


def composite(frame: pd.DataFrame, header: dict[str, str], names: tuple[str, ...], sep: str,
              profile: SurveyProfile, key: str, path: Path) -> pd.Series:
    """The columns ``names`` joined with ``sep`` (e.g. folio-person); None where all are blank."""
    columns = [require(header, (n,), profile, key, path) for n in names]
    parts = [frame[c].astype(str).str.strip() for c in columns]
    out = parts[0]
    for part in parts[1:]:
        out = out + sep + part
    blank = pd.concat([p == "" for p in parts], axis=1).all(axis=1)
    return out.where(~blank, None)


def parse_number(series: pd.Series) -> pd.Series:
    """Numbers from text: decimal point or comma, scientific notation; NaN when not a number."""
    text = series.astype(str).str.strip()
    comma = text.str.contains(",", regex=False) & ~text.str.contains(".", regex=False)
    text = text.where(~comma, text.str.replace(",", ".", regex=False))
    return pd.to_numeric(text, errors="coerce")


# --------------------------------------------------------------------------- joins


def _join_key(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    key = frame[columns[0]].astype(str).str.strip()
    for column in columns[1:]:
        key = key + "-" + frame[column].astype(str).str.strip()
    return key


def _join_columns(frame: pd.DataFrame, header: dict[str, str], join: Join, left_key: pd.Series,
                  right: pd.DataFrame, right_key: pd.Series, profile: SurveyProfile, other: Path,
                  warnings: list[str]) -> None:
    """Copy ``join.columns`` of ``right`` onto ``frame`` by key (blank where unmatched)."""
    right_header = header_of(right)
    for name in join.columns:
        col = require(right_header, (name,), profile, "join.columns", other)
        lookup = pd.Series(right[col].to_numpy(), index=right_key.to_numpy())
        lookup = lookup[~lookup.index.duplicated()]
        frame[col if col.upper() not in header else f"{col}_joined"] = left_key.map(lookup).fillna("")
        unmatched = int((~left_key.isin(lookup.index)).sum())
        if unmatched:
            warnings.append(f"{unmatched} rows have no match in {other.name} on {', '.join(join.on)}")


def _missing_table(frame: pd.DataFrame, join: Join, profile: SurveyProfile, path: Path, warnings: list[str],
                   flags: dict[str, pd.Series]) -> None:
    """A sibling table that is not there: fatal when required, else its items are missing."""
    message = (f"{path}: profile {profile.name} needs the table {' or '.join(join.files)} in the same "
               f"folder (joined on {', '.join(join.on)})")
    if join.required:
        raise ImportFailed(message)
    warnings.append(message + ": not found, its items are missing")
    if join.flag_item:
        flags[join.flag_item] = pd.Series(None, index=frame.index, dtype=object)


def apply_joins(frame: pd.DataFrame, profile: SurveyProfile, path: Path,
                warnings: list[str]) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """Add joined columns to ``frame``; return it with the presence-flag items."""
    flags: dict[str, pd.Series] = {}
    header = header_of(frame)
    for join in profile.joins:
        other = next((path.parent / f for f in join.files if (path.parent / f).exists()), None)
        if other is None:
            _missing_table(frame, join, profile, path, warnings, flags)
            continue
        right = read_table(other, encoding=profile.encoding, delimiter=profile.delimiter).frame
        left_key = _join_key(frame, [require(header, (k,), profile, "join.on", path) for k in join.on])
        right_key = _join_key(right, [require(header_of(right), (k,), profile, "join.on", other) for k in join.on])
        if join.flag_item:
            flags[join.flag_item] = left_key.isin(set(right_key)).astype(int).astype(object)
            continue
        _join_columns(frame, header, join, left_key, right, right_key, profile, other, warnings)
        header = header_of(frame)
    return frame, flags


# --------------------------------------------------------------------------- the stage


def read_survey(path: Path, profile: SurveyProfile) -> SurveyTable:
    """Read ``path`` with the profile's encoding, delimiter and skipped lines, then apply its joins.

    Raises :class:`ImportFailed` naming the file when it cannot be read or a required sibling
    table or join column is missing.
    """
    try:
        table = read_table(path, encoding=profile.encoding, delimiter=profile.delimiter,
                           skip_lines=profile.skip_lines)
    except InputFileError as exc:
        raise ImportFailed(str(exc)) from exc
    warnings: list[str] = []
    rejections: list[Rejection] = [(bad.row_number, None, bad.reason, bad.raw) for bad in table.bad_rows]
    frame = table.frame.copy()
    rows = pd.Series(table.row_numbers, index=frame.index)
    frame, flags = apply_joins(frame, profile, path, warnings)
    return SurveyTable(frame, table.frame, header_of(frame), rows, table.total, rejections, flags, warnings)
