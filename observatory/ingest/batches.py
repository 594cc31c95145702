"""Persisting import batches and their rejected rows (shared by every importer)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, insert, update

from observatory.db.models import ImportBatch, RejectedRow
from observatory.db.planner import refresh_statistics
from observatory.ingest.report import ImportReport


def now() -> dt.datetime:
    """The current UTC time without tzinfo (stored as naive UTC on both backends)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def open_batch(conn: Connection, report: ImportReport, layer: str | None = None,
               user_name: str | None = None) -> int:
    """Insert a ``running`` batch for ``report`` inside the caller's transaction; returns its id."""
    result = conn.execute(insert(ImportBatch).values(
        file_name=report.file_name, sha256=report.sha256, source_kind=report.source_kind,
        profile=report.profile, layer=layer, started_at=now(), status="running", user_name=user_name,
    ))
    report.batch_id = int(result.inserted_primary_key[0])
    return report.batch_id


def close_batch(conn: Connection, report: ImportReport) -> None:
    """Store the final counts, the report and the rejected rows; status ``done``.

    Raises ``AssertionError`` if the report does not account for every row.
    """
    assert report.balanced, (
        f"{report.file_name}: total {report.total} != loaded {report.loaded} + rejected {report.rejected}"
        f" + duplicates {report.duplicates}"
    )
    if report.rejections:
        conn.execute(insert(RejectedRow), [
            {"batch_id": report.batch_id, "row_number": r.row_number, "field": r.field, "reason": r.reason,
             "raw": {k: str(v) for k, v in r.raw.items()}}
            for r in report.rejections
        ])
    conn.execute(update(ImportBatch).where(ImportBatch.id == report.batch_id).values(
        finished_at=now(), status="done", total=report.total, loaded=report.loaded, rejected=report.rejected,
        duplicates=report.duplicates, revised=report.revised, unassigned=report.unassigned,
        report=report.to_dict(max_rejections=200),
    ))
    # Fresh planner statistics keep the dashboard's aggregates on their covering indexes.
    if report.loaded:
        refresh_statistics(conn)
