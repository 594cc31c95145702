"""Reading exports as they come: delimited text in any encoding, delimiter and line ending
(Excel's "Unicode Text" UTF-16 export included), and XLSX / XLSM / XLS / ODS spreadsheets.

Every physical record is accounted for: records that cannot be parsed (wrong number of
fields, a truncated last line) are returned as ``bad_rows`` with a readable reason instead of
stopping the import or disappearing. Row numbers are the file's lines, or the spreadsheet's
rows (the header row of a sheet whose header is in row 1 is row 1), so an error can be found
in the file the analyst opens.

Spreadsheets are read with python-calamine (one reader, written in Rust, for XLSX, XLS and ODS;
it reads cached formula results and dates as dates, and needs no per-format code here).
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

csv.field_size_limit(10_000_000)

CANDIDATE_DELIMITERS = (",", ";", "\t", "|")
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls
_UTF16_BOMS = {b"\xff\xfe": "utf-16-le", b"\xfe\xff": "utf-16-be"}


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

    UTF-16 (Excel's "Unicode Text" export) is recognised by its byte-order mark, or without one by
    the NUL byte of every other position. Returns ``(text, encoding_used)``.
    """
    utf16 = encoding if encoding and encoding.lower().replace("_", "-").startswith("utf-16") else _utf16(data)
    if utf16 and not encoding:
        bom = _UTF16_BOMS.get(data[:2])
        body = data[2:] if bom else data
        try:
            return body.decode(bom or utf16), "utf-16"
        except UnicodeDecodeError as exc:
            raise InputFileError(f"{path}: looks like UTF-16 text but byte {exc.start} cannot be decoded") from exc
    if b"\x00" in data[:4096] and not utf16:
        # spreadsheets are recognised by content before this point (is_spreadsheet): a zip here is an archive
        what = ("a zip archive, not a delimited text export: unzip it and import the file inside"
                if data[:4] == _ZIP_MAGIC else "not a delimited text export")
        raise InputFileError(f"{path}: binary file (it contains NUL bytes), {what}")
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


def _utf16(data: bytes) -> str | None:
    """"utf-16-le"/"utf-16-be" for UTF-16 text (BOM, or NULs in every other byte of ASCII-heavy text)."""
    if data[:2] in _UTF16_BOMS:
        return _UTF16_BOMS[data[:2]]
    head = data[:4096]
    if len(head) < 4 or len(head) % 2:
        head = head[:-1]
    if len(head) < 4:
        return None
    odd_nul, even_nul = head[1::2].count(0), head[0::2].count(0)
    half = len(head) // 2
    if odd_nul > 0.9 * half and even_nul == 0:
        return "utf-16-le"
    if even_nul > 0.9 * half and odd_nul == 0:
        return "utf-16-be"
    return None


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
               skip_lines: int = 0, sheet: str | int | None = None) -> Table:
    """Read a delimited file or a spreadsheet into a :class:`Table` of strings.

    ``skip_lines`` lines (spreadsheet rows) before the header are ignored (titles some portals add);
    ``sheet`` chooses a spreadsheet's sheet (see :func:`read_spreadsheet`; ignored for text files).
    Raises :class:`InputFileError` for a file with no header or that is not text nor a spreadsheet.
    """
    path = Path(path)
    if not path.exists():
        raise InputFileError(f"{path}: file not found")
    if is_spreadsheet(path):
        return read_spreadsheet(path, sheet=sheet, skip_lines=skip_lines)
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


# --- spreadsheets -------------------------------------------------------------------------------


def is_spreadsheet(path: str | Path) -> bool:
    """True for an XLSX/XLSM/XLS/ODS file: by its name, or a zip/OLE file with a spreadsheet inside."""
    path = Path(path)
    if path.suffix.lower() in SPREADSHEET_SUFFIXES:
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
    except OSError:
        return False
    if head[:8] == _OLE_MAGIC:
        return True
    if head[:4] != _ZIP_MAGIC:
        return False
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
    except zipfile.BadZipFile:
        return False
    return "xl/workbook.xml" in names or ("content.xml" in names and "mimetype" in names)


def cell_text(value: object) -> str:
    """A spreadsheet cell as the text a CSV export would hold.

    Whole numbers lose the ``.0`` every spreadsheet number carries (area code 5001, not 5001.0);
    dates become ISO ``YYYY-MM-DD``, date-times ``YYYY-MM-DD HH:MM:SS``, times ``HH:MM:SS``;
    blanks become ``""``.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dt.timedelta):  # a duration cell read as a time of day ("20:00")
        seconds = int(value.total_seconds())
        return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
    return _clean(str(value))


def _pick_sheet(book: object, sheets: list[str], sheet: str | int | None, path: Path) -> str:
    """The sheet name to read: ``sheet`` by name or 1-based number, else the only sheet with data."""
    if isinstance(sheet, int) or (isinstance(sheet, str) and sheet.strip().isdigit() and sheet not in sheets):
        number = int(sheet)
        if not 1 <= number <= len(sheets):
            raise InputFileError(f"{path.name}: sheet {number} does not exist (the file has {len(sheets)} sheets: "
                                 f"{', '.join(map(repr, sheets))})")
        return sheets[number - 1]
    if sheet is not None:
        if sheet not in sheets:
            raise InputFileError(f"{path.name}: no sheet named {sheet!r} (sheets: {', '.join(map(repr, sheets))})")
        return sheet
    if len(sheets) == 1:
        return sheets[0]
    sizes = {name: book.get_sheet_by_name(name).height for name in sheets}  # type: ignore[attr-defined]
    with_data = [name for name in sheets if sizes[name] > 1]
    if len(with_data) == 1:
        return with_data[0]
    listed = ", ".join(f"{name!r} ({sizes[name]} rows)" for name in sheets)
    raise InputFileError(f"{path.name}: the workbook has {len(sheets)} sheets ({listed}); choose one with the "
                         "profile key sheet = \"NAME\" or --sheet NAME")


def read_spreadsheet(path: str | Path, *, sheet: str | int | None = None, skip_lines: int = 0) -> Table:
    """Read one sheet of an XLSX/XLSM/XLS/ODS workbook into a :class:`Table` of strings.

    ``sheet``: a sheet name, or its number counting from 1; None reads the only sheet, or the
    only one holding more than one row (several such sheets: :class:`InputFileError` lists them).
    Blank rows above the header are skipped, as are ``skip_lines`` rows; row numbers are the
    sheet's own row numbers (the header's row + 1 for the first record). The table's ``encoding``
    is ``"sheet:NAME"`` (the sheet read) and its ``delimiter`` is ``""``.
    """
    from python_calamine import CalamineWorkbook

    path = Path(path)
    try:
        book = CalamineWorkbook.from_path(str(path))
        sheets = list(book.sheet_names)
    except Exception as exc:  # calamine raises several error classes for broken files
        raise InputFileError(f"{path.name}: cannot be read as a spreadsheet ({exc})") from exc
    if not sheets:
        raise InputFileError(f"{path.name}: the workbook has no sheets")
    name = _pick_sheet(book, sheets, sheet, path)
    # skip_empty_area=False: the first list is row 1 even when the sheet's data starts lower down
    rows = [[cell_text(v) for v in row] for row in book.get_sheet_by_name(name).to_python(skip_empty_area=False)]
    start = skip_lines
    while start < len(rows) and not any(rows[start]):
        start += 1
    if start >= len(rows):
        raise InputFileError(f"{path.name}: sheet {name!r} is empty or has no header row")
    header = list(rows[start])
    while header and not header[-1]:
        header.pop()  # formatting can widen the used area past the last column
    width = len(header)
    records: list[list[str]] = []
    numbers: list[int] = []
    bad: list[BadRow] = []
    for i in range(start + 1, len(rows)):
        row = rows[i]
        if not any(row):
            continue  # blank row: not a record
        if any(row[width:]):
            raw = {header[j] if j < width else f"extra_{j + 1}": v for j, v in enumerate(row) if v}
            bad.append(BadRow(i + 1, f"values beyond the last header column ({width} columns)", raw))
            continue
        records.append((row + [""] * width)[:width])
        numbers.append(i + 1)
    frame = (pd.DataFrame(records, columns=header, dtype=object) if records
             else pd.DataFrame(columns=header, dtype=object))
    return Table(path, f"sheet:{name}", "", header, frame, numbers, bad)
