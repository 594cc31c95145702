"""Incident ingestion: police reports and complaints, from any profile, into ``incidents``.

The pipeline is vectorised with pandas so that a file of millions of rows imports in one pass:

read (any encoding/delimiter) -> map columns through the profile -> parse and validate every
value (bad dates, text in coordinates, out-of-range values are rejected with file, row, field and
reason; ``NA`` markers and (0,0) mean "no coordinates"; swapped lat/lon are fixed and counted) ->
categories through the aliases (the profile's, then the global ones; an unknown label is stored
as ``unclassified`` with its original text and listed in the report) -> dedupe against what is
stored -> area assignment (``observatory.ingest.assign``) -> one transaction with the batch.

Dedupe. ``record_key`` is ``<profile>:<source id>`` when the profile maps an id column, else
``<profile>:h:<content hash>:<n>`` where ``n`` numbers identical rows within the file, so that
repeated identical rows (data.police.uk snap points) are all kept while importing the same file
again, or a later release containing it, adds nothing. A stored key with the same content hash
is a duplicate; with a different hash it is a revision: the row is updated, its revision number
raised and its previous values kept in ``incident_revisions``.

Dates. ``occurred_on`` is the single date indicators use: for an occurrence window
(start..end, e.g. a car stolen overnight) it is the START date; start and end are kept in
``occurred_start`` / ``occurred_end``. ``hour`` is NULL when the time is unknown.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, bindparam, delete, insert, select, text, update

from observatory.db.models import CategoryAlias, CrimeCategory, ImportBatch, Incident, IncidentArea, IncidentRevision
from observatory.db.session import get_engine
from observatory.ingest import normalise as nz
from observatory.ingest.batches import close_batch, now, open_batch
from observatory.ingest.profiles import Profile, load_profile
from observatory.ingest.readers import Table, decode, is_spreadsheet, read_bytes, read_table, sniff_delimiter
from observatory.ingest.report import ImportFailed, ImportReport, file_sha256, write_rejects_csv
from observatory.taxonomy import UNCLASSIFIED
from observatory.text import fold, label_key

log = logging.getLogger(__name__)

SOURCE_KINDS = {"police": "police", "complaint": "complaint", "complaints": "complaint"}
CHUNK_SIZE = 50_000  # rows per executemany / COPY block
# Incident columns written on insert, in this order.
WRITE_COLUMNS = (
    "id", "source_kind", "record_key", "source_id", "content_hash", "revision", "batch_id", "profile",
    "occurred_on", "occurred_month", "occurred_time", "hour", "weekday", "occurred_start", "occurred_end",
    "reported_on", "category_id", "original_label", "count", "sensitive", "lon", "lat", "declared_area_code",
    "declared_area_name", "neighbourhood_id", "assignment", "declared_area_agrees", "victim_sex",
    "victim_age_group", "location_type", "address", "description",
)
HASHED_FIELDS = ("source_id", "start", "end", "reported", "label", "count", "lon", "lat", "area_code", "area_name",
                 "victim_sex", "victim_age_group", "location_type", "address", "description")
HASH_KEY = "observatory-v1-a"  # 16 bytes: the SipHash key of content hashes; never change it
STRING_LIMITS = {"source_id": 200, "label": 300, "area_code": 100, "area_name": 300, "location_type": 200,
                 "address": 500}


# --------------------------------------------------------------------------- reading


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
        return read_table(path, encoding=profile.encoding, delimiter=profile.delimiter, skip_lines=profile.skip_lines)
    sep = profile.delimiter or sniff_delimiter(lines[0])
    header = next(csv.reader([lines[0]], delimiter=sep))
    width = len(header)
    body = lines[1:]
    if width < 2:  # a blank line cannot be told from a blank value: let read_table decide
        return read_table(path, encoding=profile.encoding, delimiter=profile.delimiter, skip_lines=profile.skip_lines)
    counts = np.fromiter((line.count(sep) for line in body), dtype=np.int64, count=len(body))
    for i in np.flatnonzero(counts != width - 1):
        try:
            fields = next(csv.reader([body[i]], delimiter=sep))
        except (csv.Error, StopIteration):
            fields = []
        if len(fields) != width or not body[i].strip():
            return read_table(path, encoding=profile.encoding, delimiter=profile.delimiter,
                              skip_lines=profile.skip_lines)
    if any('"' in line and line.count('"') % 2 for line in body):  # a quoted line break somewhere
        return read_table(path, encoding=profile.encoding, delimiter=profile.delimiter, skip_lines=profile.skip_lines)
    try:
        frame = pd.read_csv(io.StringIO("\n".join(lines)), sep=sep, dtype=object, keep_default_na=False,
                            na_filter=False, engine="c", skip_blank_lines=False)
    except (pd.errors.ParserError, ValueError):
        frame = None
    if frame is None or len(frame) != len(body) or frame.shape[1] != width:
        return read_table(path, encoding=profile.encoding, delimiter=profile.delimiter, skip_lines=profile.skip_lines)
    columns = [h.replace("\r", "").strip() for h in header]
    frame.columns = columns
    first = profile.skip_lines + 2
    return Table(path, encoding, sep, columns, frame, list(range(first, first + len(body))), [])


# --------------------------------------------------------------------------- mapping


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
            parts = [nz.clean(frame.iloc[:, p], profile.na_values) for p in positions]
            joined = parts[0]
            if len(parts) > 1:
                joined = pd.Series([profile.join_with.join(v) if None not in v else None
                                    for v in zip(*parts, strict=True)],
                                   index=frame.index, dtype=object)
            values = joined if values is None else values.where(values.notna(), joined)
            names.append("+".join(frame.columns[p] for p in positions))
        if values is not None:
            fields[name] = values
            used[name] = " or ".join(names)
    for name in profile.required:
        if name not in fields and name not in profile.defaults and not (name == "category" and profile.file_labels):
            expected = " or ".join("+".join(v) for v in profile.columns.get(name, ()))
            raise ImportFailed(f"{path}: no column for field {name} (profile {profile.name} expects "
                               f"{expected or 'a column'}); the header is: {', '.join(map(str, frame.columns))}")
    return fields, used


# --------------------------------------------------------------------------- parsing


class _Rejections:
    """First reason per row: which field and why (vectorised)."""

    def __init__(self, index: pd.Index) -> None:
        self.field = nz.missing_series(index)
        self.reason = nz.missing_series(index)

    def flag(self, mask: pd.Series, field: str, reason: str, values: pd.Series | None = None) -> None:
        """Reject rows of ``mask`` not yet rejected; ``reason`` may use ``{value}`` (from ``values``)."""
        new = (mask & self.field.isna()).to_numpy()
        if not new.any():
            return
        self.field[new] = field
        if values is None:
            self.reason[new] = reason
        else:
            self.reason[new] = [reason.format(value=str(v)[:200]) for v in values[new]]

    @property
    def mask(self) -> pd.Series:
        return self.field.notna()


def _seconds_of_day(stamps: pd.Series) -> pd.Series:
    return (stamps - stamps.dt.normalize()).dt.total_seconds()


def prepare(fields: pd.DataFrame, used: dict[str, str], profile: Profile) -> tuple[pd.DataFrame, _Rejections, dict]:
    """Parse and validate canonical string fields into typed incident values (no I/O).

    Returns ``(prepared, rejections, details)``: ``prepared`` has columns source_id, start,
    end, time_seconds, reported, label, count, lon, lat, area_code, area_name, victim_sex,
    victim_age_group, address, description, location_type; ``rejections`` holds a field and a
    reason for every row that must not be loaded; ``details`` counts values that were fixed or
    dropped (and ``warnings``).
    """
    index = fields.index
    rej = _Rejections(index)
    details: dict[str, Any] = {"warnings": []}

    def col(name: str) -> pd.Series:
        return fields[name] if name in fields else nz.missing_series(index)

    def src(name: str) -> str:
        return used.get(name, name)

    for name in profile.required:
        rej.flag(col(name).isna(), name, f"{name} is blank (column {src(name)})")

    out = pd.DataFrame(index=index)
    out["source_id"] = nz.truncate(col("record_id"), STRING_LIMITS["source_id"])

    start_date, date_has_time, bad = nz.parse_dates(col("occurred_date"), profile.date_formats)
    rej.flag(bad, "occurred_date", f"unreadable or impossible date in column {src('occurred_date')}: '{{value}}'",
             col("occurred_date"))
    seconds = _seconds_of_day(start_date).where(date_has_time)
    if "occurred_time" in fields:
        parsed, bad = nz.parse_times(col("occurred_time"))
        if bad.any():
            # the time is optional: an unreadable one makes the time unknown, it does not drop the record
            examples = ", ".join(repr(v) for v in col("occurred_time")[bad].unique()[:5])
            details["unreadable_times"] = int(bad.sum())
            details["warnings"].append(f"{int(bad.sum()):,} unreadable times in column {src('occurred_time')} "
                                       f"stored as unknown (e.g. {examples})")
        seconds = parsed.fillna(seconds)
    out["start"] = start_date.dt.normalize() + pd.to_timedelta(seconds.fillna(0), unit="s")
    out["time_seconds"] = seconds

    end_date, end_has_time, bad = nz.parse_dates(col("occurred_end_date"), profile.date_formats)
    rej.flag(bad, "occurred_end_date", f"unreadable or impossible date in column {src('occurred_end_date')}: "
             "'{value}'", col("occurred_end_date"))
    end_seconds = _seconds_of_day(end_date).where(end_has_time)
    if "occurred_end_time" in fields:
        parsed, bad = nz.parse_times(col("occurred_end_time"))
        rej.flag(bad, "occurred_end_time", f"unreadable time in column {src('occurred_end_time')}: '{{value}}'",
                 col("occurred_end_time"))
        end_seconds = parsed.fillna(end_seconds)
        end_date = end_date.fillna(start_date.dt.normalize().where(parsed.notna()))
    out["end"] = end_date.dt.normalize() + pd.to_timedelta(end_seconds.fillna(0), unit="s")
    details["window_end_before_start"] = int((out["end"] < out["start"]).sum())

    reported, _, bad = nz.parse_dates(col("reported_date"), profile.date_formats)
    rej.flag(bad, "reported_date", f"unreadable or impossible date in column {src('reported_date')}: '{{value}}'",
             col("reported_date"))
    out["reported"] = reported.dt.normalize()

    out["label"] = nz.truncate(col("category"), STRING_LIMITS["label"])

    count, bad = nz.parse_numbers(col("count"), profile.decimal_comma)
    bad |= count.notna() & ((count < 0) | (count != count.round()))
    rej.flag(bad, "count", f"count is not a whole number >= 0 in column {src('count')}: '{{value}}'", col("count"))
    out["count"] = count.fillna(1)

    lon, bad = nz.parse_numbers(col("longitude"), profile.decimal_comma)
    rej.flag(bad, "longitude", f"not a number in column {src('longitude')}: '{{value}}'", col("longitude"))
    lat, bad = nz.parse_numbers(col("latitude"), profile.decimal_comma)
    rej.flag(bad, "latitude", f"not a number in column {src('latitude')}: '{{value}}'", col("latitude"))
    lon, lat = nz.reproject(lon, lat, profile.crs)
    checks = nz.check_coordinates(lon, lat)
    pairs = pd.Series([f"{x}, {y}" for x, y in zip(lon.tolist(), lat.tolist(), strict=True)], index=index) \
        if checks["out_of_range"].any() else None
    rej.flag(checks["out_of_range"], "latitude", "coordinates out of range (longitude, latitude): {value}", pairs)
    swapped = checks["swapped"]
    lon, lat = lon.where(~swapped, lat), lat.where(~swapped, lon)
    usable = checks["present"] | swapped
    out["lon"] = lon.where(usable)
    out["lat"] = lat.where(usable)
    details["zero_coordinates"] = int(checks["zero"].sum())
    details["swapped_coordinates"] = int(swapped.sum())
    details["half_coordinates"] = int(checks["one_missing"].sum())
    details["no_coordinates"] = int((~usable).sum())

    out["area_code"] = nz.truncate(col("area_code"), STRING_LIMITS["area_code"])
    out["area_name"] = nz.truncate(col("area_name"), STRING_LIMITS["area_name"])
    out["victim_sex"] = nz.map_sex(col("victim_sex"), profile.values.get("victim_sex"))

    age, bad = nz.parse_numbers(col("victim_age"), profile.decimal_comma)
    bad |= nz.age_out_of_range(age)
    rej.flag(bad, "victim_age", f"age is not a number of years between 0 and 120 in column {src('victim_age')}: "
             "'{value}'", col("victim_age"))
    groups = nz.age_groups(age.where(~bad))
    if "victim_age_group" in fields:
        published = nz.map_values(col("victim_age_group"), profile.values.get("victim_age_group", {}),
                                  {g: g for g in nz.AGE_GROUPS})
        groups = groups.where(groups.notna(), published)
    out["victim_age_group"] = groups
    out["location_type"] = nz.truncate(col("location_type"), STRING_LIMITS["location_type"])
    out["address"] = nz.truncate(col("address"), STRING_LIMITS["address"])
    out["description"] = col("description")
    return out, rej, details


def _iso(values: pd.Series, unit: str) -> np.ndarray:
    return np.datetime_as_string(values.to_numpy(dtype=f"datetime64[{unit}]"), unit=unit)


def content_hashes(prepared: pd.DataFrame) -> pd.Series:
    """A stable 16-hex-digit (64-bit) hash of each row's normalised values.

    pandas' ``hash_pandas_object`` (SipHash with a fixed key) over the normalised fields:
    vectorised, identical across runs and machines. 64 bits make an accidental collision
    between two different records of one source negligible (about 1e-7 for 2 million rows).
    """
    frame = prepared[list(HASHED_FIELDS)].copy()
    for name in ("lon", "lat", "count"):
        frame[name] = frame[name].round(7)
    for name in ("start", "end", "reported"):
        frame[name] = frame[name].astype("datetime64[s]").astype("int64").where(frame[name].notna(), -1)
    hashed = pd.util.hash_pandas_object(frame, index=False, hash_key=HASH_KEY).to_numpy()
    return pd.Series([f"{h:016x}" for h in hashed.tolist()], index=prepared.index, dtype=object)


def record_keys(prepared: pd.DataFrame, hashes: pd.Series, profile_name: str) -> pd.Series:
    """``<profile>:<source id>``, or ``<profile>:h:<hash>:<n>`` numbering identical rows without an id."""
    occurrence = (hashes.groupby(hashes, sort=False).cumcount() + 1).tolist()
    keys = [f"{profile_name}:{sid}" if sid is not None else f"{profile_name}:h:{h[:32]}:{n}"
            for sid, h, n in zip(prepared["source_id"].tolist(), hashes.tolist(), occurrence, strict=True)]
    return pd.Series([k[:200] for k in keys], index=prepared.index, dtype=object)


# --------------------------------------------------------------------------- database helpers


def _store_profile_aliases(conn: Connection, profile: Profile, categories: dict[str, int]) -> None:
    """Insert the profile's aliases that are not stored yet (an alias edited with the CLI wins)."""
    if not profile.aliases:
        return
    known = set(conn.scalars(select(CategoryAlias.label_key).where(CategoryAlias.profile == profile.name)))
    rows = []
    for label, code in profile.aliases.items():
        key = label_key(label)
        if key and key not in known:
            rows.append({"profile": profile.name, "label_key": key, "category_id": categories[code]})
            known.add(key)
    if rows:
        conn.execute(insert(CategoryAlias), rows)


def categorise(conn: Connection, labels: pd.Series, profile_name: str) -> tuple[pd.Series, pd.Series, Counter]:
    """Category id and sensitive flag for each label: profile aliases, then global, else unclassified.

    Returns ``(category_id, sensitive, unknown_labels)``; ``unknown_labels`` counts rows per label.
    """
    rows_ = conn.execute(select(CrimeCategory)).all()
    cats = {row.code: (row.id, row.sensitive) for row in rows_}
    by_id = {cid: sensitive for cid, sensitive in cats.values()}
    # a label may be a canonical code or name (the generic formats): lowest priority
    aliases: dict[str, int] = {}
    for row in rows_:
        for name in (row.name_en, row.name_es, row.code):
            aliases.setdefault(label_key(name), row.id)
    rows = conn.execute(select(CategoryAlias.profile, CategoryAlias.label_key, CategoryAlias.category_id)
                        .where(CategoryAlias.profile.in_(["*", profile_name])))
    for _profile, key, category_id in sorted(rows, key=lambda r: r[0] != "*"):  # profile aliases override "*"
        aliases[key] = category_id
    unclassified = cats[UNCLASSIFIED][0]
    lookup = {label: aliases.get(label_key(label), unclassified) for label in labels.dropna().unique()}
    category_id = labels.map(lookup).fillna(unclassified).astype("int64")
    unknown = labels.fillna("").where(category_id == unclassified).dropna()
    counts = Counter({(label or "(blank)"): int(n) for label, n in unknown.value_counts().items()})
    return category_id, category_id.map(by_id).astype(bool), counts


def _existing(conn: Connection, source_kind: str, profile_name: str) -> pd.DataFrame:
    rows = conn.execute(select(Incident.record_key, Incident.id, Incident.content_hash, Incident.revision)
                        .where(Incident.source_kind == source_kind, Incident.profile == profile_name))
    return pd.DataFrame(rows.all(), columns=["record_key", "id", "content_hash", "revision"])


def _reserve_ids(conn: Connection, n: int) -> int:
    """First of ``n`` consecutive incident ids reserved for this transaction."""
    if conn.dialect.name == "postgresql":
        # the lock keeps concurrent writers from drawing ids inside our block until we commit
        conn.execute(text("LOCK TABLE incidents IN SHARE ROW EXCLUSIVE MODE"))
        first = conn.execute(text("SELECT nextval(pg_get_serial_sequence('incidents', 'id'))")).scalar_one()
        if n > 1:
            conn.execute(text("SELECT setval(pg_get_serial_sequence('incidents', 'id'), :last)"),
                         {"last": first + n - 1})
        return int(first)
    # SQLite: open_batch already wrote, so this transaction holds the database's write lock
    return int(conn.execute(text("SELECT COALESCE(MAX(id), 0) FROM incidents")).scalar_one()) + 1


def _nullable(values: pd.Series) -> list:
    """Python values with None for every missing value (NaN, NA, NaT)."""
    if values.dtype == object:
        return values.tolist()  # object columns built here hold None for missing values already
    mask = values.isna().to_numpy()
    out = values.astype(object).to_numpy(copy=True)
    out[mask] = None
    return out.tolist()


def _date_strings(values: pd.Series) -> list:
    out = _iso(values, "D").astype(object, copy=True)
    out[values.isna().to_numpy()] = None
    return out.tolist()


def _datetime_strings(values: pd.Series) -> list:
    # SQLAlchemy's SQLite DateTime storage format; PostgreSQL reads it as well
    out = np.strings.replace(_iso(values, "us"), "T", " ").astype(object, copy=True)
    out[values.isna().to_numpy()] = None
    return out.tolist()


def _time_string(seconds: float) -> str:
    s = int(seconds)
    return f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000000"


def build_rows(prepared: pd.DataFrame, *, ids: np.ndarray, batch_id: int, source_kind: str, profile_name: str,
               revision: pd.Series | None = None) -> list[tuple]:
    """Tuples in :data:`WRITE_COLUMNS` order, with dates as ISO strings both backends accept."""
    n = len(prepared)
    start = prepared["start"]
    month = start.to_numpy(dtype="datetime64[M]").astype("datetime64[D]")
    seconds = prepared["time_seconds"]
    columns: dict[str, list] = {
        "id": ids.tolist(),
        "source_kind": [source_kind] * n,
        "record_key": prepared["record_key"].tolist(),
        "source_id": _nullable(prepared["source_id"]),
        "content_hash": prepared["content_hash"].tolist(),
        "revision": revision.tolist() if revision is not None else [1] * n,
        "batch_id": [batch_id] * n,
        "profile": [profile_name] * n,
        "occurred_on": _date_strings(start),
        "occurred_month": np.datetime_as_string(month, unit="D").tolist(),
        "occurred_time": _nullable(nz.by_unique(seconds, _time_string)),
        "hour": _nullable((seconds // 3600).astype("Int64")),
        "weekday": start.dt.day_of_week.astype("int64").tolist(),
        "occurred_start": _datetime_strings(start),
        "occurred_end": _datetime_strings(prepared["end"]),
        "reported_on": _date_strings(prepared["reported"]),
        "category_id": prepared["category_id"].astype("int64").tolist(),
        "original_label": ["" if v is None else v for v in prepared["label"].tolist()],
        "count": prepared["count"].astype("int64").tolist(),
        "sensitive": prepared["sensitive"].astype(bool).tolist(),
        "lon": _nullable(prepared["lon"]),
        "lat": _nullable(prepared["lat"]),
        "declared_area_code": _nullable(prepared["area_code"]),
        "declared_area_name": _nullable(prepared["area_name"]),
        "neighbourhood_id": _nullable(prepared["neighbourhood_id"].astype("Int64")),
        "assignment": _nullable(prepared["assignment"]),
        "declared_area_agrees": _nullable(prepared["declared_area_agrees"]),
        "victim_sex": _nullable(prepared["victim_sex"]),
        "victim_age_group": _nullable(prepared["victim_age_group"]),
        "location_type": _nullable(prepared["location_type"]),
        "address": _nullable(prepared["address"]),
        "description": _nullable(prepared["description"]),
    }
    return list(zip(*(columns[c] for c in WRITE_COLUMNS), strict=True))


def tune_connection(conn: Connection) -> None:
    """Settings for a bulk write on this connection: on SQLite a large page cache, because the
    incidents table carries several indexes and the default 2 MB cache makes a big insert thrash."""
    if conn.dialect.name == "sqlite":
        conn.exec_driver_sql("PRAGMA cache_size = -262144")  # KiB: 256 MB


def write_chunk(conn: Connection, rows: list[tuple], table: str = "incidents",
                columns: tuple[str, ...] = WRITE_COLUMNS) -> None:
    """Insert prepared tuples: COPY on PostgreSQL, one executemany on SQLite (the raw-insert path)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql":
        dbapi = conn.connection.dbapi_connection
        with dbapi.cursor() as cur, cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" for _ in columns)
    conn.exec_driver_sql(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)


def _assign(conn: Connection, prepared: pd.DataFrame, report: ImportReport) -> dict[int, pd.Series]:
    """Fill neighbourhood_id / assignment / declared_area_agrees; returns secondary layer assignments."""
    prepared["neighbourhood_id"] = pd.Series(pd.NA, index=prepared.index, dtype="Int64")
    prepared["assignment"] = pd.Series(pd.NA, index=prepared.index, dtype="string")
    prepared["declared_area_agrees"] = pd.Series(pd.NA, index=prepared.index, dtype="boolean")
    try:
        from observatory.ingest.assign import assign, load_layers
    except ImportError:  # boundaries support not installed yet: everything stays unassigned
        report.warnings.append("area assignment is not available; incidents were loaded unassigned")
        return {}
    layers = load_layers(conn)
    if not layers or prepared.empty:
        if not layers:
            report.warnings.append("no boundary layer is loaded: incidents are unassigned until boundaries are "
                                   "imported (they are then reassigned)")
        return {}
    frame = pd.DataFrame({
        "lon": prepared["lon"].astype("float64"), "lat": prepared["lat"].astype("float64"),
        "declared_area_code": prepared["area_code"].astype(object).where(prepared["area_code"].notna(), None),
        "declared_area_name": prepared["area_name"].astype(object).where(prepared["area_name"].notna(), None),
    }, index=prepared.index)
    result = assign(frame, layers)
    primary = result.primary
    prepared["neighbourhood_id"] = primary["neighbourhood_id"].astype("Int64")
    prepared["assignment"] = primary["assignment"].astype("string")
    prepared["declared_area_agrees"] = primary["declared_area_agrees"].astype("boolean")
    swapped = primary["swapped"].fillna(False).astype(bool)
    if swapped.any():
        lon, lat = prepared["lon"].copy(), prepared["lat"].copy()
        prepared.loc[swapped, "lon"] = lat[swapped]
        prepared.loc[swapped, "lat"] = lon[swapped]
    report.details["swapped_coordinates"] = report.details.get("swapped_coordinates", 0) + int(swapped.sum())
    report.details["outside_boundaries"] = int(primary["outside"].fillna(False).astype(bool).sum())
    report.details["assigned_by"] = {str(k): int(v) for k, v in prepared["assignment"].value_counts().items()}
    rate = getattr(result, "disagreement_rate", None)
    report.details["declared_area_disagreement_rate"] = None if rate is None or pd.isna(rate) else float(rate)
    return dict(result.secondary)


def _revise(conn: Connection, revised: pd.DataFrame, batch_id: int, rows: list[tuple]) -> None:
    """Update changed records in place, keeping their previous values in ``incident_revisions``."""
    ids = revised["existing_id"].astype("int64").tolist()
    old: dict[int, dict] = {}
    for start in range(0, len(ids), 500):
        for row in conn.execute(select(Incident.__table__).where(Incident.id.in_(ids[start:start + 500]))):
            old[row._mapping["id"]] = dict(row._mapping)
    history = []
    for incident_id, previous_revision in zip(ids, revised["old_revision"].astype("int64").tolist(), strict=True):
        values = {k: (v.isoformat() if isinstance(v, dt.date | dt.time) else v)
                  for k, v in old[incident_id].items() if k not in ("id",)}
        history.append({"incident_id": incident_id, "batch_id": batch_id, "revision": previous_revision,
                        "previous": values})
    conn.execute(insert(IncidentRevision), history)
    names = [c for c in WRITE_COLUMNS if c not in ("id", "source_kind", "record_key")]
    params = []
    for row in rows:
        record = dict(zip(WRITE_COLUMNS, row, strict=True))
        params.append({"b_id": record["id"], **{f"v_{c}": record[c] for c in names}})
    # raw ISO strings go through text() so that both backends parse them the same way as on insert
    sets = ", ".join(f"{c} = :v_{c}" for c in names)
    if conn.dialect.name == "postgresql":
        casts = {"occurred_on": "date", "occurred_month": "date", "reported_on": "date", "occurred_time": "time",
                 "occurred_start": "timestamp", "occurred_end": "timestamp"}
        sets = ", ".join(f"{c} = CAST(:v_{c} AS {casts[c]})" if c in casts else f"{c} = :v_{c}" for c in names)
    conn.execute(text(f"UPDATE incidents SET {sets} WHERE id = :b_id"), params)
    conn.execute(delete(IncidentArea).where(IncidentArea.incident_id.in_(bindparam("ids", expanding=True))),
                 {"ids": ids})


# --------------------------------------------------------------------------- the import


def ingest_incidents(path: str | Path, *, source_kind: str, profile: str, engine: Engine | None = None,
                     rejects_path: str | Path | None = None, user_name: str | None = None,
                     progress: bool = False, label: str | None = None, sheet: str | None = None) -> ImportReport:
    """Import one incident file (police reports or complaints) through an import profile.

    Inputs: ``path`` to a delimited file (``.csv``, ``.tab``, ``.gz``...); ``source_kind``
    ``"police"`` or ``"complaint"``; ``profile`` a built-in name or the path of a .toml/.yaml
    profile; ``label`` the crime label for files that carry none (e.g. one table per crime);
    ``sheet`` the spreadsheet sheet to read (name or number from 1), overriding the profile's.
    Returns the :class:`ImportReport` (also stored with the batch). Every row is counted:
    ``total == loaded + rejected + duplicates``. The batch is atomic: on any error nothing is
    written. Raises :class:`ImportFailed` (or ``InputFileError``) with a message naming the file.
    """
    path = Path(path)
    kind = SOURCE_KINDS.get(str(source_kind).strip().lower())
    if kind is None:
        raise ImportFailed(f"{path}: source kind {source_kind!r} is not one of police, complaint")
    prof = load_profile(profile)
    if sheet is not None:
        prof = dataclasses.replace(prof, sheet=sheet)
    engine = engine or get_engine()
    report = ImportReport(file_name=str(path), source_kind=kind, profile=prof.name)
    if not path.exists():
        raise ImportFailed(f"{path}: file not found")
    report.sha256 = file_sha256(path)
    table = read_incident_table(path, prof)
    report.total = table.total
    report.details["encoding"] = table.encoding
    for bad in table.bad_rows:
        report.reject(bad.row_number, None, bad.reason, bad.raw)

    frame = table.frame
    frame.index = pd.RangeIndex(len(frame))
    fields, used = map_columns(frame, prof, path)
    fallback = label or prof.label_for_file(path) or prof.defaults.get("category")
    if fallback:
        current = fields["category"] if "category" in fields else nz.missing_series(frame.index)
        fields["category"] = current.where(current.notna(), fallback)
    for name, value in prof.defaults.items():
        if name != "category":
            current = fields[name] if name in fields else nz.missing_series(frame.index)
            fields[name] = current.where(current.notna(), value)
    report.details["columns"] = used
    prepared, rej, details = prepare(fields, used, prof)
    report.warnings.extend(details.pop("warnings"))
    report.details.update(details)
    prepared["row"] = table.row_numbers

    good = prepared[~rej.mask].copy()
    good["content_hash"] = content_hashes(good)
    good["record_key"] = record_keys(good, good["content_hash"], prof.name)
    # the same source id twice in one file: a repeat is a duplicate, a conflicting repeat is rejected
    first = ~good["record_key"].duplicated(keep="first")
    first_hash = good.loc[first].set_index("record_key")["content_hash"]
    same = good["content_hash"].eq(good["record_key"].map(first_hash))
    conflict = ~first & ~same
    if conflict.any():
        first_row = good.loc[first].set_index("record_key")["row"]
        clash = good[conflict]
        reasons = ("record id " + clash["source_id"] + " already appears on line "
                   + clash["record_key"].map(first_row).astype("string") + " with different values")
        rej.flag(pd.Series(prepared.index.isin(clash.index), index=prepared.index), "record_id", "{value}",
                 reasons.reindex(prepared.index))
    in_file_dupes = int((~first & same).sum())
    good = good[first]

    for idx in prepared.index[rej.mask]:
        report.reject(int(prepared.at[idx, "row"]), str(rej.field[idx]), str(rej.reason[idx]),
                      frame.loc[idx].to_dict())
    report.rejections.sort(key=lambda r: r.row_number)  # in file order, reader and value rejections mixed

    with engine.begin() as conn:
        tune_connection(conn)
        open_batch(conn, report, user_name=user_name)
        categories = {code: cid for code, cid in conn.execute(select(CrimeCategory.code, CrimeCategory.id))}
        _store_profile_aliases(conn, prof, categories)

        existing = _existing(conn, kind, prof.name)
        merged = good.join(existing.set_index("record_key").add_suffix("_stored"), on="record_key")
        stored = merged["id_stored"].notna()
        duplicate = stored & (merged["content_hash_stored"] == merged["content_hash"])
        revised_mask = stored & ~duplicate
        report.duplicates = in_file_dupes + int(duplicate.sum())
        write = good[~stored].copy()
        revised = good[revised_mask].copy()
        revised["existing_id"] = merged.loc[revised_mask, "id_stored"]
        revised["old_revision"] = merged.loc[revised_mask, "revision_stored"]
        todo = pd.concat([write, revised])

        category_id, sensitive, unknown = categorise(conn, todo["label"], prof.name)
        todo["category_id"], todo["sensitive"] = category_id, sensitive
        report.unknown_labels = unknown
        secondary = _assign(conn, todo, report)

        new = todo.loc[write.index]
        first_id = _reserve_ids(conn, len(new)) if len(new) else 0
        new_ids = np.arange(first_id, first_id + len(new), dtype="int64")
        chunks = range(0, len(new), CHUNK_SIZE)
        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(new), unit="rows", desc=f"importing {path.name}")
        for start in chunks:
            part = new.iloc[start:start + CHUNK_SIZE]
            write_chunk(conn, build_rows(part, ids=new_ids[start:start + CHUNK_SIZE], batch_id=report.batch_id,
                                         source_kind=kind, profile_name=prof.name))
            if bar is not None:
                bar.update(len(part))
        if bar is not None:
            bar.close()

        if len(revised):
            rev = todo.loc[revised.index]
            rows = build_rows(rev, ids=rev["existing_id"].to_numpy(dtype="int64"), batch_id=report.batch_id,
                              source_kind=kind, profile_name=prof.name,
                              revision=rev["old_revision"].astype("int64") + 1)
            _revise(conn, rev, report.batch_id, rows)

        all_ids = pd.Series(np.concatenate([new_ids, todo.loc[revised.index, "existing_id"].to_numpy(dtype="int64")]),
                            index=list(new.index) + list(revised.index))
        area_rows = []
        for layer_id, areas in secondary.items():
            areas = areas.reindex(all_ids.index)
            ok = areas.notna()
            area_rows.extend(zip(all_ids[ok].tolist(), [int(layer_id)] * int(ok.sum()),
                                 areas[ok].astype("int64").tolist(), strict=True))
        for start in range(0, len(area_rows), CHUNK_SIZE):
            write_chunk(conn, area_rows[start:start + CHUNK_SIZE], "incident_areas",
                        ("incident_id", "layer_id", "neighbourhood_id"))

        report.revised = len(revised)
        report.loaded = len(todo)
        report.unassigned = int(todo["neighbourhood_id"].isna().sum())
        from observatory.ingest.population import missing_population_warning  # boundaries imports this module

        report.warnings.extend(w for w in [missing_population_warning(conn)] if w)
        close_batch(conn, report)
    if rejects_path:
        write_rejects_csv(report, rejects_path)
    return report


def update_unclassified(conn: Connection, label: str, category_id: int, sensitive: bool,
                        profile: str | None = None) -> int:
    """Reclassify stored ``unclassified`` incidents whose label matches ``label`` (after `alias add`).

    Returns the number of incidents changed.
    """
    unclassified = conn.execute(select(CrimeCategory.id).where(CrimeCategory.code == UNCLASSIFIED)).scalar_one()
    query = select(Incident.original_label).where(Incident.category_id == unclassified).distinct()
    if profile and profile != "*":
        query = query.where(Incident.profile == profile)
    key = label_key(label)
    matching = [lbl for lbl in conn.scalars(query) if label_key(lbl) == key]
    if not matching:
        return 0
    stmt = (update(Incident).where(Incident.category_id == unclassified, Incident.original_label.in_(matching))
            .values(category_id=category_id, sensitive=sensitive))
    if profile and profile != "*":
        stmt = stmt.where(Incident.profile == profile)
    changed = conn.execute(stmt).rowcount or 0
    if changed:
        _record_reclassification(conn, label, category_id, profile, changed)
    return changed


def _record_reclassification(conn: Connection, label: str, category_id: int, profile: str | None,
                             changed: int) -> None:
    """A finished batch for a reclassification: the import history shows it, and the data
    version (response cache, incident cube) changes with it, as after an import."""
    code = conn.execute(select(CrimeCategory.code).where(CrimeCategory.id == category_id)).scalar_one()
    stamp = now()
    text_id = f"alias add {label!r} -> {code} (profile {profile or '*'})"
    conn.execute(ImportBatch.__table__.insert().values(
        file_name=text_id[:500], sha256=hashlib.sha256(text_id.encode()).hexdigest(), source_kind="reclassification",
        profile=profile or "*", started_at=stamp, finished_at=stamp, status="done", total=changed, loaded=0,
        revised=changed))
