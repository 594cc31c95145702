"""Persisting import batches and their rejected rows (shared by every importer).

The audit event of an import is written by :func:`close_batch` (or :func:`fail_batch`) inside the
import's own transaction, when the caller declared who imports with :func:`audited` (``import_file`` does):
a process killed between the commit and a separate audit write would leave a batch with no audit
entry. An audited import that fails as a whole (too many rejected rows) leaves a ``failed`` batch
with its report, so ``status`` and the import history show the attempt; nothing else is stored.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from sqlalchemy import Connection, insert, update

from observatory.db.models import ImportBatch, RejectedRow
from observatory.db.planner import refresh_statistics
from observatory.ingest.report import ImportReport

_AUDIT: ContextVar[dict[str, Any] | None] = ContextVar("import_audit", default=None)


@contextmanager
def audited(user_name: str | None, **detail: Any) -> Iterator[None]:
    """Imports run inside this block record an ``import`` audit event (``user_name``, ``detail`` plus the
    batch id and counts) atomically with their batch."""
    token = _AUDIT.set({"user_name": user_name, "detail": detail})
    try:
        yield
    finally:
        _AUDIT.reset(token)


def audited_import() -> bool:
    """Whether the running import is audited (inside :func:`audited`): such an import records a failed
    attempt too (a ``failed`` batch and its audit event); a bare library call that fails stores nothing."""
    return _AUDIT.get() is not None


def _record_audit(conn: Connection, report: ImportReport, status: str) -> None:
    context = _AUDIT.get()
    if context is None:
        return
    from observatory import audit

    audit.record("import", user_name=context["user_name"], conn=conn, detail={
        **context["detail"], "batch_id": report.batch_id, "status": status, "total": report.total,
        "loaded": report.loaded, "rejected": report.rejected})


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
    _record_audit(conn, report, "done")
    # Fresh planner statistics keep the dashboard's aggregates on their covering indexes.
    if report.loaded:
        refresh_statistics(conn)


def fail_batch(conn: Connection, report: ImportReport, message: str) -> None:
    """Mark the batch ``failed`` with its counts and report (``error``: ``message``); nothing else stored.

    ``status`` and the import history then show the attempt, and why it failed.
    """
    data = report.to_dict(max_rejections=200)
    data["error"] = message
    conn.execute(update(ImportBatch).where(ImportBatch.id == report.batch_id).values(
        finished_at=now(), status="failed", total=report.total, loaded=0, rejected=report.rejected,
        duplicates=0, revised=0, unassigned=0, report=data,
    ))
    _record_audit(conn, report, "failed")
