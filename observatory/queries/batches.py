"""What the stored import batches say, for the restricted views: ``status`` on the command line and the
analyst page's import history (the batch's file as stored, the records a release withdrew).

The public import history is :func:`observatory.queries.reference.import_history`, which shows file
names only and no record ids (``access.public_import_view``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from observatory.db.models import ImportBatch
from observatory.queries import access
from observatory.queries._sql import get_engine


def withdrawn_count(report: dict[str, Any] | None) -> int:
    """How many stored records the batch's release withdrew (0 for other kinds and older reports)."""
    return int(((report or {}).get("details") or {}).get("withdrawn") or 0)


def recent_batches(engine: Engine | None, role: str, limit: int = 20) -> list[dict[str, Any]]:
    """The newest ``limit`` batches, newest first, with their counts and ``withdrawn`` (from the report).

    Restricted views only (the command line, the analyst page): the file is as stored (an upload's
    temporary path); the public import history is ``queries.import_history``.
    """
    access.require_restricted(role, "import batches as stored")
    with get_engine(engine).connect() as conn:
        rows = conn.execute(select(ImportBatch).order_by(ImportBatch.id.desc()).limit(int(limit))).all()
    return [{"id": r.id, "kind": r.source_kind, "profile": r.profile, "file": r.file_name, "status": r.status,
             "total": r.total, "loaded": r.loaded, "rejected": r.rejected, "duplicates": r.duplicates,
             "withdrawn": withdrawn_count(r.report), "finished_at": str(r.finished_at)} for r in rows]


def withdrawn_records(engine: Engine | None, batch_id: int, role: str) -> dict[str, Any]:
    """The records batch ``batch_id``'s release withdrew, as its report lists them.

    Returns ``batch_id``, ``file``, ``withdrawn`` (the count), ``records`` (``source_id`` and
    ``occurred_on`` of each listed record, by id; at most ``WITHDRAWN_LISTED``, the report keeps no
    more) and ``not_listed`` (withdrawn beyond the listed ones). Raises ``ValueError`` for a batch that
    does not exist. The records themselves stay stored: an import never deletes.
    """
    access.require_restricted(role, "withdrawn record ids")
    with get_engine(engine).connect() as conn:
        row = conn.execute(select(ImportBatch.id, ImportBatch.file_name, ImportBatch.report)
                           .where(ImportBatch.id == int(batch_id))).first()
    if row is None:
        raise ValueError(f"batch {batch_id}: no such import batch (`python -m observatory status` lists them)")
    details = (row.report or {}).get("details") or {}
    ids = [str(v) for v in details.get("withdrawn_records") or []]
    dates = list(details.get("withdrawn_occurred_on") or [])  # reports before dates were kept have none
    dates += [None] * (len(ids) - len(dates))
    records = [{"source_id": i, "occurred_on": d} for i, d in zip(ids, dates, strict=False)]
    total = withdrawn_count(row.report)
    return {"batch_id": row.id, "file": row.file_name, "withdrawn": total, "records": records,
            "not_listed": max(total - len(records), 0)}
