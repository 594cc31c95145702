"""Read stage: the file into a table of strings, then the profile's columns into canonical fields."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from observatory.ingest import normalise as nz
from observatory.ingest.profiles import Profile
from observatory.ingest.readers import Table, decode, is_spreadsheet, read_bytes, read_table, sniff_delimiter
from observatory.ingest.report import ImportFailed
from observatory.text import fold


def _slow_path(path: Path, profile: Profile) -> Table:
    return read_table(path, encoding=profile.encoding, delimiter=profile.delimiter, skip_lines=profile.skip_lines)


def _clean_lines(lines: list[str], sep: str, width: int) -> bool:
    """True when every line is one well-formed record of ``width`` fields (no quoted line breaks)."""
    counts = np.fromiter((line.count(sep) for line in lines), dtype=np.int64, count=len(lines))
    for i in np.flatnonzero(counts != width - 1):
        try:
            fields = next(csv.reader([lines[i]], delimiter=sep))
        except (csv.Error, StopIteration):
            fields = []
        if len(fields) != width or not lines[i].strip():
            return False
    return not any('"' in line and line.count('"') % 2 for line in lines)


def read_incident_table(path: Path, profile: Profile) -> Table:
    """Read ``path`` as :func:`observatory.ingest.readers.read_table` would, faster on clean files.

    Large exports are parsed with pandas' C tokenizer when every line is one well-formed record
    (checked line by line: field counts, no blank lines, no line breaks inside quotes); any other
    file goes through ``read_table``, which reports each malformed record with its line number.
    Spreadsheets (XLSX, XLS, ODS) are read by ``read_table`` from the profile's ``sheet``.
    """
    if is_spreadsheet(path):
        return read_table(path, skip_lines=profile.skip_lines, sheet=profile.sheet)
    data = read_bytes(path)
    text_, encoding = decode(data, path, profile.encoding)
    lines = text_.splitlines()[profile.skip_lines:]
    while lines and not lines[-1].strip():
        lines.pop()
    if not lines or not lines[0].strip():
        return _slow_path(path, profile)
    sep = profile.delimiter or sniff_delimiter(lines[0])
    header = next(csv.reader([lines[0]], delimiter=sep))
    width = len(header)
    body = lines[1:]
    # a blank line cannot be told from a blank value with one column: let read_table decide
    if width < 2 or not _clean_lines(body, sep, width):
        return _slow_path(path, profile)
    try:
        frame = pd.read_csv(io.StringIO("\n".join(lines)), sep=sep, dtype=object, keep_default_na=False,
                            na_filter=False, engine="c", skip_blank_lines=False)
    except (pd.errors.ParserError, ValueError):
        frame = None
    if frame is None or len(frame) != len(body) or frame.shape[1] != width:
        return _slow_path(path, profile)
    columns = [h.replace("\r", "").strip() for h in header]
    frame.columns = columns
    first = profile.skip_lines + 2
    return Table(path, encoding, sep, columns, frame, list(range(first, first + len(body))), [])


def expected_columns(profile: Profile, name: str) -> str:
    """The header names the profile reads field ``name`` from, for messages (``a or b+c``)."""
    return " or ".join("+".join(v) for v in profile.columns.get(name, ()))


def _variant_values(frame: pd.DataFrame, positions: list[int], profile: Profile) -> pd.Series:
    parts = [nz.clean(frame.iloc[:, p], profile.na_values) for p in positions]
    if len(parts) == 1:
        return parts[0]
    return pd.Series([profile.join_with.join(v) if None not in v else None for v in zip(*parts, strict=True)],
                     index=frame.index, dtype=object)


def map_columns(frame: pd.DataFrame, profile: Profile, path: Path) -> tuple[pd.DataFrame, dict[str, str]]:
    """Canonical fields of ``frame`` (object strings, None when blank) through the profile's variants.

    When several variants of a field are present, each row takes the first non-blank one.
    Returns ``(fields, used)`` where ``used`` names the source column(s) each field came from.
    Raises :class:`ImportFailed` when a required field has no column in the file and no default.
    """
    header: dict[str, int] = {}
    for position, column in enumerate(frame.columns):
        header.setdefault(fold(column), position)
    fields = pd.DataFrame(index=frame.index)
    used: dict[str, str] = {}
    for name, variants in profile.columns.items():
        values = None
        names = []
        for variant in variants:
            positions = [header.get(fold(part)) for part in variant]
            if any(p is None for p in positions):
                continue
            joined = _variant_values(frame, positions, profile)
            values = joined if values is None else values.where(values.notna(), joined)
            names.append("+".join(frame.columns[p] for p in positions))
        if values is not None:
            fields[name] = values
            used[name] = " or ".join(names)
    for name in profile.required:
        if name not in fields and name not in profile.defaults and not (name == "category" and profile.file_labels):
            raise ImportFailed(f"{path}: no column for field {name} (profile {profile.name} expects "
                               f"{expected_columns(profile, name) or 'a column'}); the header is: "
                               f"{', '.join(map(str, frame.columns))}")
    return fields, used


def apply_defaults(fields: pd.DataFrame, profile: Profile, path: Path, label: str | None) -> None:
    """Fill blank fields with the profile's ``[defaults]``; the category with ``label`` or the file's label."""
    fallback = label or profile.label_for_file(path) or profile.defaults.get("category")
    if fallback:
        current = fields["category"] if "category" in fields else nz.missing_series(fields.index)
        fields["category"] = current.where(current.notna(), fallback)
    for name, value in profile.defaults.items():
        if name != "category":
            current = fields[name] if name in fields else nz.missing_series(fields.index)
            fields[name] = current.where(current.notna(), value)
