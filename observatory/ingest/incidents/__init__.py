"""Incident ingestion: police reports and complaints, from any profile, into ``incidents``.

The pipeline is vectorised with pandas so that a file of millions of rows imports in one pass.
:func:`ingest_incidents` calls one named stage after the other:

1. read (:mod:`.read`): the file (any encoding/delimiter) into strings, the profile's columns
   into canonical fields, the profile's ``[defaults]``;
2. normalise (:mod:`.prepare`): every value parsed and validated; a bad required value rejects
   the row with file, row, field and reason, a bad optional one becomes unknown with a counted
   warning; ``NA`` markers and (0,0) in the file's own CRS mean "no coordinates";
3. deduplicate (:mod:`.dedupe`): record keys, repeats and identical rows within the file;
4. check: an import rejecting more than ``max_rejected_share`` of its rows fails as a whole;
5. split against what is stored (:mod:`.stored`): new, revised, duplicate, withdrawn;
6. categorise (:mod:`.classify`) and assign areas (``observatory.ingest.assign``);
7. write: one transaction with the batch (and the audit event, see ``observatory.ingest.batches``);
8. report (``observatory.ingest.report``).

Dates. ``occurred_on`` is the single date indicators use: for an occurrence window
(start..end, e.g. a car stolen overnight) it is the START date; start and end are kept in
``occurred_start`` / ``occurred_end``. ``hour`` and ``occurred_time`` are NULL when the time is
unknown (never midnight).
"""

from __future__ import annotations

import logging
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, select

from observatory.db.models import CrimeCategory
from observatory.db.session import get_engine
from observatory.ingest.batches import audited_import, close_batch, fail_batch, open_batch
from observatory.ingest.incidents.classify import categorise, store_profile_aliases, update_unclassified
from observatory.ingest.incidents.dedupe import HASHED_FIELDS, Deduplicated, content_hashes, deduplicate, record_keys
from observatory.ingest.incidents.prepare import STRING_LIMITS, Rejections, prepare
from observatory.ingest.incidents.read import apply_defaults, expected_columns, map_columns, read_incident_table
from observatory.ingest.incidents.rows import WRITE_COLUMNS, build_rows, reserve_ids, revise
from observatory.ingest.incidents.stored import Split, assign_areas, report_withdrawn, split_against_stored
from observatory.ingest.profiles import Profile, load_profile
from observatory.ingest.report import ImportFailed, ImportReport, file_sha256, write_rejects_csv

__all__ = [
    "CHUNK_SIZE", "HASHED_FIELDS", "SOURCE_KINDS", "STRING_LIMITS", "WRITE_COLUMNS", "build_rows", "categorise",
    "content_hashes", "ingest_incidents", "map_columns", "prepare", "read_incident_table", "record_keys",
    "tune_connection", "update_unclassified", "write_chunk",
]

log = logging.getLogger(__name__)

SOURCE_KINDS = {"police": "police", "complaint": "complaint", "complaints": "complaint"}
CHUNK_SIZE = 50_000  # rows per executemany / COPY block


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



# --------------------------------------------------------------------------- stages


def _read_and_prepare(path: Path, prof: Profile, report: ImportReport, label: str | None
                      ) -> tuple[pd.DataFrame, pd.DataFrame, Rejections, list[str]]:
    """Read, map and normalise; returns ``(frame, prepared, rejections, header)``."""
    table = read_incident_table(path, prof)
    report.total = table.total
    report.details["encoding"] = table.encoding
    for bad in table.bad_rows:
        report.reject(bad.row_number, None, bad.reason, bad.raw)
    frame = table.frame
    frame.index = pd.RangeIndex(len(frame))
    fields, used = map_columns(frame, prof, path)
    apply_defaults(fields, prof, path, label)
    report.details["columns"] = used
    prepared, rej, details = prepare(fields, used, prof)
    report.warnings.extend(details.pop("warnings"))
    report.details.update(details)
    prepared["row"] = table.row_numbers
    return frame, prepared, rej, [str(c) for c in table.columns]


def _report_rejections(report: ImportReport, frame: pd.DataFrame, prepared: pd.DataFrame, rej: Rejections) -> None:
    for idx in prepared.index[rej.mask]:
        report.reject(int(prepared.at[idx, "row"]), str(rej.field[idx]), str(rej.reason[idx]),
                      frame.loc[idx].to_dict())
    report.rejections.sort(key=lambda r: r.row_number)  # in file order, reader and value rejections mixed


def _report_in_file(report: ImportReport, dedup: Deduplicated) -> None:
    report.details["repeated_record_ids"] = dedup.repeated_ids
    report.details["identical_rows"] = dedup.identical
    report.details["identical_rows_dropped"] = dedup.dropped
    if dedup.repeated_ids:
        report.warnings.append(f"{dedup.repeated_ids:,} rows repeat another row's record id with the same values: "
                               "counted as duplicates")
    if dedup.identical and dedup.dropped:
        report.warnings.append(f"{dedup.identical:,} rows identical to another row: dropped as duplicates "
                               "(profile: identical_rows = \"drop\")")
    elif dedup.identical:
        report.warnings.append(f"{dedup.identical:,} rows identical to another row: kept as separate incidents "
                               "(one row per victim or points snapped to one place; if they are repeated records "
                               "set identical_rows = \"drop\" in the profile)")


def _rejection_cause(report: ImportReport, prof: Profile, header: list[str]) -> str:
    """A sentence naming the likely cause of a mass rejection: what the profile expects vs what was found."""
    fields = Counter(r.field or "(unreadable line)" for r in report.rejections)
    field, n = fields.most_common(1)[0]
    example = next(r.reason for r in report.rejections if (r.field or "(unreadable line)") == field)
    expects = "; ".join(f"{name} from {expected_columns(prof, name)}" for name in prof.columns
                        if name in (*prof.required, "occurred_time", "latitude", "longitude"))
    return (f"most rejections ({n:,}) are for {field} (e.g. {example}). The file probably does not match profile "
            f"{prof.name}, which reads {expects}; the header found is: {', '.join(header)}")


def _check_rejected_share(engine: Engine, report: ImportReport, prof: Profile, header: list[str], limit: float,
                          user_name: str | None) -> None:
    """Fail the import when too many rows were rejected: nothing stored but, for an audited import,
    a ``failed`` batch with the report."""
    if not report.total or report.rejected <= limit * report.total:
        return
    message = (f"{report.file_name}: {report.rejected:,} of {report.total:,} rows rejected "
               f"({report.rejected / report.total:.0%}, above the limit of {limit:.0%}, max_rejected_share): "
               f"nothing was imported; {_rejection_cause(report, prof, header)}")
    report.loaded = report.duplicates = 0
    if audited_import():  # the import history and the audit log keep the attempt (see batches)
        with engine.begin() as conn:
            open_batch(conn, report, user_name=user_name)
            fail_batch(conn, report, message)
    exc = ImportFailed(message)
    exc.report = report  # the CLI prints it with --json
    raise exc


class _Progress:
    """The import's progress: a live bar on a terminal; in a log (stderr not a terminal) one final line,
    since a bar redrawn with carriage returns shows there as one line per state."""

    def __init__(self, enabled: bool, total: int, name: str) -> None:
        self.bar, self.line, self.done = None, None, 0
        if not enabled or not total:
            return
        if sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(total=total, unit="rows", desc=f"importing {name}", mininterval=0.5)
        else:
            self.line = (name, total)

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.line is not None:
            print(f"importing {self.line[0]}: {self.done:,} of {self.line[1]:,} rows written", file=sys.stderr)


def _write_new(conn: Connection, new: pd.DataFrame, report: ImportReport, kind: str, prof: Profile,
               progress: bool, path: Path) -> np.ndarray:
    """Insert the new records in blocks; returns their ids."""
    first_id = reserve_ids(conn, len(new)) if len(new) else 0
    new_ids = np.arange(first_id, first_id + len(new), dtype="int64")
    bar = _Progress(progress, len(new), path.name)
    for start in range(0, len(new), CHUNK_SIZE):
        part = new.iloc[start:start + CHUNK_SIZE]
        write_chunk(conn, build_rows(part, ids=new_ids[start:start + CHUNK_SIZE], batch_id=report.batch_id,
                                     source_kind=kind, profile_name=prof.name))
        bar.update(len(part))
    bar.close()
    return new_ids


def _write_areas(conn: Connection, secondary: dict[int, pd.Series], all_ids: pd.Series) -> None:
    area_rows = []
    for layer_id, areas in secondary.items():
        areas = areas.reindex(all_ids.index)
        ok = areas.notna()
        area_rows.extend(zip(all_ids[ok].tolist(), [int(layer_id)] * int(ok.sum()),
                             areas[ok].astype("int64").tolist(), strict=True))
    for start in range(0, len(area_rows), CHUNK_SIZE):
        write_chunk(conn, area_rows[start:start + CHUNK_SIZE], "incident_areas",
                    ("incident_id", "layer_id", "neighbourhood_id"))


def _store(conn: Connection, split: Split, report: ImportReport, kind: str, prof: Profile, progress: bool,
           path: Path) -> pd.DataFrame:
    """Categorise, assign and write the new and revised records; returns them."""
    todo = pd.concat([split.new, split.revised])
    category_id, sensitive, unknown = categorise(conn, todo["label"], prof.name)
    todo["category_id"], todo["sensitive"] = category_id, sensitive
    report.unknown_labels = unknown
    secondary = assign_areas(conn, todo, report)
    new = todo.loc[split.new.index]
    new_ids = _write_new(conn, new, report, kind, prof, progress, path)
    rev = todo.loc[split.revised.index]
    if len(rev):
        rows = build_rows(rev, ids=rev["existing_id"].to_numpy(dtype="int64"), batch_id=report.batch_id,
                          source_kind=kind, profile_name=prof.name, revision=rev["old_revision"].astype("int64") + 1)
        revise(conn, rev, report.batch_id, rows)
    all_ids = pd.Series(np.concatenate([new_ids, rev["existing_id"].to_numpy(dtype="int64")]),
                        index=list(new.index) + list(rev.index))
    _write_areas(conn, secondary, all_ids)
    return todo


# --------------------------------------------------------------------------- the import


def ingest_incidents(path: str | Path, *, source_kind: str, profile: str, engine: Engine | None = None,
                     rejects_path: str | Path | None = None, user_name: str | None = None,
                     progress: bool = False, label: str | None = None,
                     max_rejected_share: float | None = None, sheet: str | None = None) -> ImportReport:
    """Import one incident file (police reports or complaints) through an import profile.

    Inputs: ``path`` to a delimited file (``.csv``, ``.tab``, ``.gz``...); ``source_kind``
    ``"police"`` or ``"complaint"``; ``profile`` a built-in name or the path of a .toml/.yaml
    profile; ``label`` the crime label for files that carry none (e.g. one table per crime);
    ``max_rejected_share`` (0..1; default the profile's, else 0.5): above it the import fails;
    ``sheet`` the spreadsheet sheet to read (name or number from 1), overriding the profile's.
    Returns the :class:`ImportReport` (also stored with the batch). Every row is counted:
    ``total == loaded + rejected + duplicates``. The batch is atomic: on any error nothing is
    written. Raises :class:`ImportFailed` (or ``InputFileError``) with a message naming the file;
    an import above the rejection share stores nothing (when audited, see ``batches.audited``, a
    ``failed`` batch with its report and the audit event).
    """
    path = Path(path)
    kind = SOURCE_KINDS.get(str(source_kind).strip().lower())
    if kind is None:
        raise ImportFailed(f"{path}: source kind {source_kind!r} is not one of police, complaint")
    prof = load_profile(profile)
    if sheet is not None:
        prof = prof.model_copy(update={"sheet": sheet})
    limit = prof.max_rejected_share if max_rejected_share is None else max_rejected_share
    if not 0 <= limit <= 1:
        raise ImportFailed(f"{path}: the maximum rejected share must be between 0 and 1, not {limit}")
    engine = engine or get_engine()
    report = ImportReport(file_name=str(path), source_kind=kind, profile=prof.name)
    if not path.exists():
        raise ImportFailed(f"{path}: file not found")
    report.sha256 = file_sha256(path)
    frame, prepared, rej, header = _read_and_prepare(path, prof, report, label)
    dedup = deduplicate(prepared, rej, prof)
    _report_in_file(report, dedup)
    _report_rejections(report, frame, prepared, rej)
    _check_rejected_share(engine, report, prof, header, limit, user_name)

    with engine.begin() as conn:
        tune_connection(conn)
        open_batch(conn, report, user_name=user_name)
        categories = {code: cid for code, cid in conn.execute(select(CrimeCategory.code, CrimeCategory.id))}
        store_profile_aliases(conn, prof, categories)
        split = split_against_stored(conn, dedup.good, dedup.keys_seen, kind, prof.name)
        report.duplicates = dedup.repeated_ids + dedup.dropped + split.duplicates
        report_withdrawn(report, split.withdrawn)
        todo = _store(conn, split, report, kind, prof, progress, path)
        report.revised = len(split.revised)
        report.loaded = len(todo)
        report.unassigned = int(todo["neighbourhood_id"].isna().sum())
        from observatory.ingest.population import missing_population_warning  # boundaries imports this package

        report.warnings.extend(w for w in [missing_population_warning(conn)] if w)
        close_batch(conn, report)
    if rejects_path:
        write_rejects_csv(report, rejects_path)
    return report
