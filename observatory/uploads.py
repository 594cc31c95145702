"""Checking files uploaded through the browser before an importer reads them.

The analyst page hands the uploaded bytes to :func:`store_upload`, which

1. refuses anything larger than ``OBSERVATORY_MAX_UPLOAD_MB`` (default 100 MB) before decoding,
2. sniffs the real type from the bytes (not from the name): delimited text, gzip, zip,
   GeoJSON, GeoPackage; a binary file renamed ``.csv`` is refused,
3. guards against decompression bombs: gzip and zip contents are decompressed in a stream
   and refused past ``OBSERVATORY_MAX_UNCOMPRESSED_MB`` (default 1000 MB) or a compression
   ratio above 200:1, counting every member of a multi-member gzip file; zips with more than
   50 members, nested archives, absolute paths, ``..`` or links are refused,
4. bounds the shape of what the importers will parse (``observatory.upload_scan``): delimited
   text with a line over 1 MiB or over 2000 columns, and JSON nested deeper than 64 levels,
   are refused with a sentence before pandas or GDAL see them,
5. writes the file under a safe name in a fresh folder and returns the path the importer
   (``ingest_incidents``, ``ingest_survey``, ``import_boundaries``) should read. When a check
   fails after the folder was made, the folder is deleted before the refusal is raised.

:func:`resolve_profile` turns the upload form's profile choice into what the importer gets:
a built-in profile name, or an uploaded profile file saved beside the data. Never a path on
the server: the form cannot be used to probe which files exist or to read their keys.

Every refusal is an :class:`UploadRejected` whose message names the file and says why.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import re
import shutil
import stat
import tempfile
import tomllib
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import yaml

from observatory.upload_scan import (
    MAX_JSON_DEPTH,
    TextShape,
    UploadRejected,
    check_text,
    file_chunks,
    gunzip_chunks,
    json_depth,
    memory_chunks,
)

PURPOSES = ("incidents", "survey", "boundaries")
TEXT_SUFFIXES = (".csv", ".txt", ".tsv", ".dat")
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods")
BOUNDARY_SUFFIXES = (".geojson", ".json", ".gpkg", ".shp")
SHAPEFILE_PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg", ".qix", ".sbn", ".sbx", ".xml")
MAX_MEMBERS = 50
MAX_RATIO = 200
_CHUNK = 1 << 20


@dataclass(frozen=True)
class UploadLimits:
    """Size limits in bytes: the upload itself, and its content once decompressed."""

    max_bytes: int
    max_uncompressed: int
    max_ratio: int = MAX_RATIO


def default_limits() -> UploadLimits:
    """Limits from ``OBSERVATORY_MAX_UPLOAD_MB`` (100) and ``OBSERVATORY_MAX_UNCOMPRESSED_MB`` (1000)."""
    mb = 1 << 20
    return UploadLimits(max_bytes=int(float(os.environ.get("OBSERVATORY_MAX_UPLOAD_MB", "100")) * mb),
                        max_uncompressed=int(float(os.environ.get("OBSERVATORY_MAX_UNCOMPRESSED_MB", "1000")) * mb))


def safe_name(filename: str) -> str:
    """The base name of ``filename`` reduced to letters, digits, ``.``, ``_`` and ``-`` (at most 120)."""
    base = PurePosixPath(str(filename).replace("\\", "/")).name
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", base).lstrip(".")[:120]
    return cleaned or "upload"


def decode_dash_contents(contents: str, filename: str, limits: UploadLimits | None = None) -> bytes:
    """The bytes of a ``dcc.Upload`` ``contents`` value (``data:<type>;base64,<data>``).

    The size is checked from the base64 length before decoding, so an oversized upload
    never occupies memory twice.
    """
    limits = limits or default_limits()
    _, sep, payload = (contents or "").partition(";base64,")
    if not sep:
        raise UploadRejected(f"{filename}: the upload is not base64 data")
    if len(payload) * 3 // 4 > limits.max_bytes:
        raise UploadRejected(f"{filename}: larger than the {limits.max_bytes // (1 << 20)} MB upload limit")
    try:
        return base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise UploadRejected(f"{filename}: the upload is corrupt ({exc})") from exc


def sniff(data: bytes) -> str:
    """The type of a file from its first bytes.

    One of ``gzip``, ``zip``, ``spreadsheet`` (XLSX, XLSM, ODS, XLS), ``gpkg``, ``geojson``,
    ``text`` (delimited text without NUL bytes, or UTF-16 with a byte-order mark), ``binary``.
    """
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":  # OLE2: an Excel 97-2003 workbook
        return "spreadsheet"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "spreadsheet" if _is_office_zip(data) else "zip"
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):  # Excel's "Unicode Text": UTF-16 with a byte-order mark
        return "text"
    if data[:16] == b"SQLite format 3\x00":
        return "gpkg"
    if b"\x00" in data[:65536]:
        return "binary"
    head = data[:65536].lstrip(b"\xef\xbb\xbf \t\r\n")
    if head[:1] == b"{" and b'"type"' in head[:4096]:
        return "geojson"
    return "text"


def _is_office_zip(data: bytes) -> bool:
    """An XLSX/XLSM workbook (``[Content_Types].xml``) or an ODS spreadsheet (its ``mimetype`` member)."""
    if b"mimetypeapplication/vnd.oasis.opendocument.spreadsheet" in data[:120]:
        return True
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "[Content_Types].xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, ValueError):
        return False


def _as_utf8_chunks(data: bytes, name: str) -> Iterator[bytes]:
    """The text of an upload for the line and column checks: UTF-16 (with BOM) re-encoded as UTF-8."""
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return memory_chunks(data.decode("utf-16").encode("utf-8"))
        except UnicodeDecodeError as exc:
            raise UploadRejected(f"{name}: UTF-16 text that cannot be decoded ({exc})") from exc
    return memory_chunks(data)


def _check_gzip(data: bytes, name: str, limits: UploadLimits) -> None:
    # Every member, streamed with a bounded output per step: a 10 KB bomb never expands in memory,
    # and a bomb hidden in the second member of `cat a.gz bomb.gz` counts too.
    cap = min(limits.max_uncompressed, max(len(data), 1) * limits.max_ratio)
    shape: TextShape | None = TextShape(name)
    head, bad_shape = b"", None
    try:
        for out in gunzip_chunks(data, name, cap):
            if not head:
                head = out[:65536]
                if sniff(head) != "text":
                    raise UploadRejected(f"{name}: the compressed file is not a delimited text export")
            if shape is not None:
                try:
                    shape.feed(out)
                except UploadRejected as exc:  # keep counting: a bomb is the first thing to report
                    bad_shape, shape = exc, None
    except UploadRejected as exc:
        if "decompresses to more than" in str(exc):
            raise UploadRejected(f"{exc} (limit {limits.max_uncompressed // (1 << 20)} MB, "
                                 f"ratio {limits.max_ratio}:1)") from None
        raise
    if sniff(head) != "text":
        raise UploadRejected(f"{name}: the compressed file is not a delimited text export")
    if bad_shape is not None:
        raise bad_shape
    assert shape is not None
    shape.finish()


def _check_json(data: bytes, name: str) -> None:
    # Depth first, without parsing: json.loads on 100 000 nested brackets raises RecursionError.
    depth = json_depth(data)
    if depth > MAX_JSON_DEPTH:
        raise UploadRejected(f"{name}: the GeoJSON nests {depth} levels deep (at most {MAX_JSON_DEPTH}); "
                             "it is not a map layer")
    try:
        json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UploadRejected(f"{name}: not valid GeoJSON ({exc})") from exc


def _zip_members(archive: zipfile.ZipFile, name: str, limits: UploadLimits, compressed_size: int) -> list:
    members = [m for m in archive.infolist() if not m.is_dir()]
    if not members:
        raise UploadRejected(f"{name}: the zip file is empty")
    if len(members) > MAX_MEMBERS:
        raise UploadRejected(f"{name}: the zip file has {len(members)} files (at most {MAX_MEMBERS})")
    declared = 0
    for m in members:
        path = PurePosixPath(m.filename.replace("\\", "/"))
        if path.is_absolute() or ".." in path.parts or re.match(r"^[A-Za-z]:", m.filename):
            raise UploadRejected(f"{name}: unsafe path {m.filename!r} inside the zip file")
        if stat.S_ISLNK(m.external_attr >> 16):
            raise UploadRejected(f"{name}: {m.filename!r} inside the zip file is a link")
        if path.suffix.lower() in (".zip", ".gz", ".7z", ".rar", ".tar", ".bz2", ".xz"):
            raise UploadRejected(f"{name}: archives inside archives are not accepted ({m.filename})")
        declared += m.file_size
    cap = min(limits.max_uncompressed, max(compressed_size, 1) * limits.max_ratio)
    if declared > cap:
        raise UploadRejected(f"{name}: the zip file expands to {declared:,} bytes, more than "
                             f"{limits.max_ratio} times its size or {limits.max_uncompressed >> 20} MB")
    return members


def _open_zip(data: bytes, name: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UploadRejected(f"{name}: not a readable zip file ({exc})") from exc


def _check_zip(data: bytes, name: str, limits: UploadLimits) -> None:
    with _open_zip(data, name) as archive:
        _zip_members(archive, name, limits, len(data))


def _extract_zip(data: bytes, name: str, folder: Path, purpose: str, limits: UploadLimits) -> Path:
    with _open_zip(data, name) as archive:
        members = _zip_members(archive, name, limits, len(data))
        cap = min(limits.max_uncompressed, max(len(data), 1) * limits.max_ratio)
        written = 0
        paths: list[Path] = []
        for m in members:
            target = folder / safe_name(m.filename)
            # Count real bytes: a member's declared size can lie.
            try:
                with archive.open(m) as src, open(target, "wb") as dst:
                    while chunk := src.read(_CHUNK):
                        written += len(chunk)
                        if written > cap:
                            raise UploadRejected(f"{name}: the zip content exceeds {cap // (1 << 20)} MB")
                        dst.write(chunk)
            except (zipfile.BadZipFile, zlib.error, EOFError, RuntimeError, NotImplementedError) as exc:
                raise UploadRejected(f"{name}: cannot extract {m.filename!r} ({exc})") from exc
            paths.append(target)
    return _pick_main_file(paths, name, purpose)


def _pick_main_file(paths: list[Path], name: str, purpose: str) -> Path:
    if purpose == "boundaries":
        for suffix in (".shp", ".gpkg", ".geojson", ".json"):
            found = [p for p in paths if p.suffix.lower() == suffix]
            if len(found) == 1:
                if suffix == ".shp" and not any(p.suffix.lower() == ".dbf" for p in paths):
                    raise UploadRejected(f"{name}: the shapefile has no .dbf file (attributes) in the zip")
                if suffix in (".geojson", ".json"):
                    _check_json(found[0].read_bytes(), f"{name}: {found[0].name}")
                return found[0]
        raise UploadRejected(f"{name}: the zip must hold one shapefile (.shp, .shx, .dbf, .prj), GeoPackage or GeoJSON")
    texts = [p for p in paths if p.suffix.lower() in TEXT_SUFFIXES]
    if len(texts) != 1:
        raise UploadRejected(f"{name}: the zip must hold exactly one .csv/.txt/.tsv file (found {len(texts)})")
    with open(texts[0], "rb") as fh:
        if sniff(fh.read(65536)) != "text":
            raise UploadRejected(f"{name}: {texts[0].name} inside the zip is not a delimited text export")
    check_text(file_chunks(texts[0]), f"{name}: {texts[0].name}")
    return texts[0]


def check_upload(filename: str, data: bytes, purpose: str, limits: UploadLimits | None = None) -> str:
    """Validate an upload without writing it; returns its sniffed type (see :func:`sniff`).

    Raises :class:`UploadRejected` for an oversized, unexpected, corrupt or bomb-like file.
    """
    limits = limits or default_limits()
    name = safe_name(filename)
    if purpose not in PURPOSES:
        raise ValueError(f"unknown upload purpose {purpose!r}; expected one of {PURPOSES}")
    if not data:
        raise UploadRejected(f"{name}: the file is empty")
    if len(data) > limits.max_bytes:
        raise UploadRejected(f"{name}: {len(data) // (1 << 20)} MB is larger than the "
                             f"{limits.max_bytes // (1 << 20)} MB upload limit")
    kind = sniff(data)
    allowed = {"incidents": ("text", "gzip", "zip", "spreadsheet"), "survey": ("text", "gzip", "zip", "spreadsheet"),
               "boundaries": ("geojson", "gpkg", "zip")}[purpose]
    if kind not in allowed:
        what = "binary file" if kind == "binary" else f"{kind} file"
        expected = ("a delimited text export (.csv, .txt; gzip or zip accepted) or a spreadsheet (.xlsx, .ods, .xls)"
                    if purpose != "boundaries"
                    else "GeoJSON, GeoPackage or a zipped shapefile")
        raise UploadRejected(f"{name}: this is a {what}, expected {expected}")
    if kind == "gzip":
        _check_gzip(data, name, limits)
    elif kind == "zip":
        _check_zip(data, name, limits)
    elif kind == "geojson":
        _check_json(data, name)
    elif kind == "spreadsheet" and data[:2] == b"PK":
        _check_zip(data, name, limits)  # an XLSX/ODS is a zip: the same expansion bounds
    elif kind == "text":
        check_text(_as_utf8_chunks(data, name), name)
    return kind


def store_upload(filename: str, data: bytes, purpose: str, *, folder: str | Path | None = None,
                 limits: UploadLimits | None = None) -> Path:
    """Validate ``data`` and write it (or the one useful file of a zip) into a new folder.

    Inputs: the browser's file name, its bytes, the purpose (``incidents``, ``survey`` or
    ``boundaries``), an optional parent folder (default: the system's temporary folder).
    Output: the path to hand to the importer. The caller deletes the folder afterwards.
    """
    limits = limits or default_limits()
    kind = check_upload(filename, data, purpose, limits)
    name = safe_name(filename)
    target_dir = Path(tempfile.mkdtemp(prefix="upload-", dir=folder))
    try:
        if kind == "zip":
            return _extract_zip(data, name, target_dir, purpose, limits)
        suffix = {"gpkg": ".gpkg", "geojson": ".geojson", "gzip": ".csv.gz"}.get(kind, "")
        if kind == "spreadsheet":  # the reader picks the workbook format by its extension or content
            suffix = Path(name).suffix.lower() if Path(name).suffix.lower() in SPREADSHEET_SUFFIXES else ".xlsx"
        stem = name if not suffix or name.lower().endswith(suffix) else Path(name).stem + suffix
        path = target_dir / stem
        path.write_bytes(data)
        return path
    except BaseException:
        # A refused zip (or a full disk) must not leave its extracted members behind.
        shutil.rmtree(target_dir, ignore_errors=True)
        raise


# --- the profile of an upload ---------------------------------------------------------------------

MAX_PROFILE_BYTES = 256 << 10
PROFILE_SUFFIXES = (".toml", ".yaml", ".yml")


def _parse_profile_upload(data: bytes, name: str, suffix: str) -> None:
    # Parsed here so a hostile file fails with a sentence: deep nesting raises RecursionError in both
    # parsers, and YAML aliases can multiply a small file into a huge structure ("billion laughs").
    try:
        text = data.decode("utf-8-sig")
        if suffix == ".toml":
            tomllib.loads(text)
            return
        if any(isinstance(event, yaml.AliasEvent) for event in yaml.parse(text, Loader=yaml.SafeLoader)):
            raise UploadRejected(f"{name}: YAML anchors and aliases (*name) are not accepted in a profile")
        yaml.safe_load(text)
    except (UnicodeDecodeError, tomllib.TOMLDecodeError, yaml.YAMLError, RecursionError) as exc:
        raise UploadRejected(f"{name}: the profile file cannot be read ({type(exc).__name__})") from None


def resolve_profile(purpose: str, choice: str | None, builtin: list[str], *, file_name: str | None = None,
                    file_data: bytes | None = None, folder: Path | None = None) -> str:
    """What the importer gets as ``profile``: a built-in name, or the path of an uploaded profile file.

    Inputs: the upload purpose (``incidents``/``survey``; ``boundaries`` has no profile), the form's
    choice, the built-in names for that purpose, and optionally an uploaded ``.toml``/``.yaml`` file
    (its name and bytes) with the folder to save it in (the data's upload folder, deleted with it).
    The uploaded file wins over the choice. Anything else (a path, ``..``, an unknown name) is
    refused with the same sentence whether or not such a file exists on the server.
    """
    if purpose == "boundaries":
        return ""
    if file_data is not None:
        name = safe_name(file_name or "profile")
        suffix = Path(name).suffix.lower()
        if suffix not in PROFILE_SUFFIXES:
            raise UploadRejected(f"{name}: a profile file must be .toml, .yaml or .yml")
        if len(file_data) > MAX_PROFILE_BYTES:
            raise UploadRejected(f"{name}: a profile file may have at most {MAX_PROFILE_BYTES >> 10} KB")
        _parse_profile_upload(file_data, name, suffix)
        if folder is None:
            raise ValueError("an uploaded profile needs the folder of its upload")
        path = Path(folder) / f"profile-{name}"
        path.write_bytes(file_data)
        return str(path)
    choice = (choice or "").strip()
    if choice in builtin:
        return choice
    raise UploadRejected(f"the profile must be one of the built-in {purpose} profiles ({', '.join(builtin)}) "
                         "or a profile file uploaded with the data")
