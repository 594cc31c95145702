"""Reading delimited text exports as they come: any encoding, delimiter and line ending.

Every physical record is accounted for: records that cannot be parsed (wrong number of
fields, a truncated last line) are returned as ``bad_rows`` with a readable reason instead of
stopping the import or disappearing.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

csv.field_size_limit(10_000_000)

CANDIDATE_DELIMITERS = (",", ";", "\t", "|")


class InputFileError(ValueError):
    """A file that cannot be read at all; the message names the file."""


@dataclass
class BadRow:
    row_number: int  # line of the record in the file; the header is line 1
    reason: str
    raw: dict[str, str]


@dataclass
class Table:
    """The records of one file as strings, with their line numbers."""

    path: Path
    encoding: str
    delimiter: str
    columns: list[str]
    frame: pd.DataFrame  # one column per header, every value a str ("" when blank)
    row_numbers: list[int]  # line of each frame row in the file
    bad_rows: list[BadRow] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Records read, good and bad."""
        return len(self.frame) + len(self.bad_rows)


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is a ``.gz`` file."""
    data = Path(path).read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise InputFileError(f"{path}: the file looks gzip-compressed but cannot be decompressed ({exc})") from exc
    return data


def decode(data: bytes, path: Path, encoding: str | None = None) -> tuple[str, str]:
    """Decode ``data``: the given encoding, else UTF-8 (with or without BOM), else cp1252/Latin-1.

    Returns ``(text, encoding_used)``.
    """
    if b"\x00" in data[:4096]:
        raise InputFileError(f"{path}: binary file (it contains NUL bytes), not a delimited text export")
    if encoding:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as exc:
            raise InputFileError(
                f"{path}: cannot be read as {encoding} (byte {exc.start}); omit the encoding to detect it"
            ) from exc
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252"), "cp1252"
    except UnicodeDecodeError:
        return data.decode("latin-1"), "latin-1"


def sniff_delimiter(header_line: str) -> str:
    """The candidate delimiter that occurs most often in the header line (``,`` on a tie)."""
    counts = {d: header_line.count(d) for d in CANDIDATE_DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] > 0 else ","


def _normalise_line_ends(text: str) -> str:
    """CRLF and old-Mac CR line ends become LF; a lone CR elsewhere (inside a quoted field) is dropped.

    Without this, ``csv`` counts INEGI's ``"01\\r"`` codes as extra lines and row numbers drift.
    """
    if "\n" not in text:
        return text.replace("\r", "\n")
    return text.replace("\r\n", "\n").replace("\r", "")


def _clean(value: str) -> str:
    # INEGI's open-data CSVs carry a carriage return inside quoted codes ("01\r").
    return value.replace("\r", "").strip()


def read_table(path: str | Path, *, encoding: str | None = None, delimiter: str | None = None,
               skip_lines: int = 0) -> Table:
    """Read a delimited file into a :class:`Table` of strings.

    ``skip_lines`` lines before the header are ignored (titles some portals add).
    Raises :class:`InputFileError` for a file with no header or that is not text.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: file not found")
    text, used = decode(read_bytes(path), path, encoding)
    text = _normalise_line_ends(text)
    lines = text.splitlines(keepends=True)
    body = "".join(lines[skip_lines:])
    first = body.split("\n", 1)[0]
    if not first.strip():
        raise InputFileError(f"{path}: the file is empty or has no header line")
    sep = delimiter or sniff_delimiter(first)
    reader = csv.reader(io.StringIO(body, newline="\n"), delimiter=sep)
    try:
        header = [_clean(h) for h in next(reader)]
    except (csv.Error, StopIteration) as exc:
        raise InputFileError(f"{path}: cannot read the header line ({exc})") from exc
    width = len(header)
    rows: list[list[str]] = []
    numbers: list[int] = []
    bad: list[BadRow] = []
    line_no = skip_lines + reader.line_num
    while True:
        start = line_no + 1
        try:
            record = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            bad.append(BadRow(start, f"unreadable record: {exc}", {}))
            line_no = skip_lines + reader.line_num
            continue
        line_no = skip_lines + reader.line_num
        if not record or all(not v.strip() for v in record):
            continue  # blank line: not a record
        if len(record) != width:
            raw = {header[i] if i < width else f"extra_{i + 1}": v for i, v in enumerate(record)}
            what = "too few" if len(record) < width else "too many"
            bad.append(BadRow(start, f"{what} fields: {len(record)} instead of {width} "
                                     "(truncated line or unquoted delimiter)", raw))
            continue
        rows.append([_clean(v) for v in record])
        numbers.append(start)
    frame = pd.DataFrame(rows, columns=header, dtype=object) if rows else pd.DataFrame(columns=header, dtype=object)
    return Table(path, used, sep, header, frame, numbers, bad)
