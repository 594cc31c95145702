"""The audit log: who imported, exported or changed what, and when.

Events are rows of ``audit_events`` (``observatory.db.models.AuditEvent``): a UTC time, the
user name (``None`` for the public or the command line without ``--user``), an action and a
JSON ``detail``. Actions used by the observatory:

- ``import`` (detail: kind, file, batch_id, counts), ``export`` (detail: what, filters, rows),
- ``user_add``, ``user_remove``, ``user_passwd`` (detail: username, role),
- ``login``, ``login_failed`` (detail: ip), ``logout``, ``alias_add``.

Only admins see the log (``observatory.web`` checks the role before calling :func:`list_events`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, func, insert, select

from observatory.db.models import AuditEvent
from observatory.db.session import get_engine

EVENT_COLUMNS = ["id", "at", "user_name", "action", "detail"]


def utcnow() -> dt.datetime:
    """Current UTC time, naive (stored as naive UTC on both backends)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _jsonable(detail: dict[str, Any] | None) -> dict[str, Any] | None:
    # JSON columns cannot store dates, paths or numpy scalars: keep ints/floats/bools, stringify the rest.
    if detail is None:
        return None
    out: dict[str, Any] = {}
    for key, value in detail.items():
        if value is None or isinstance(value, bool | int | float | str):
            out[str(key)] = value
        elif isinstance(value, dict):
            out[str(key)] = _jsonable(value)
        elif isinstance(value, list | tuple):
            out[str(key)] = [v if isinstance(v, bool | int | float | str) or v is None else str(v) for v in value]
        else:
            out[str(key)] = str(value)
    return out


def record(action: str, *, user_name: str | None = None, detail: dict[str, Any] | None = None,
           engine: Engine | None = None, conn: Connection | None = None) -> None:
    """Append one event.

    Pass ``conn`` to write inside the caller's transaction (an import records its event
    atomically with its batch); otherwise the event is committed on its own.
    """
    values = {"at": utcnow(), "user_name": user_name, "action": action[:100], "detail": _jsonable(detail)}
    if conn is not None:
        conn.execute(insert(AuditEvent).values(**values))
        return
    with (engine or get_engine()).begin() as own:
        own.execute(insert(AuditEvent).values(**values))


def list_events(engine: Engine | None = None, *, limit: int = 500, action: str | None = None,
                user_name: str | None = None, since: dt.datetime | None = None) -> pd.DataFrame:
    """The newest events first, as a DataFrame with columns ``id, at, user_name, action, detail``.

    ``limit`` caps the rows (at most 10,000); ``action``/``user_name``/``since`` filter.
    """
    stmt = select(AuditEvent.id, AuditEvent.at, AuditEvent.user_name, AuditEvent.action, AuditEvent.detail)
    if action:
        stmt = stmt.where(AuditEvent.action == action)
    if user_name:
        stmt = stmt.where(AuditEvent.user_name == user_name)
    if since is not None:
        stmt = stmt.where(AuditEvent.at >= since)
    stmt = stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(max(1, min(int(limit), 10_000)))
    with (engine or get_engine()).connect() as conn:
        rows = conn.execute(stmt).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=EVENT_COLUMNS)


def count_events(action: str, since: dt.datetime, *, user_name: str | None = None, ip: str | None = None,
                 engine: Engine | None = None) -> int:
    """How many ``action`` events happened since ``since`` (UTC), for a user name and/or an IP.

    Used by the login rate limit; the IP is read from the event's ``detail["ip"]``.
    """
    with (engine or get_engine()).connect() as conn:
        if ip is None:
            stmt = select(func.count()).select_from(AuditEvent).where(
                AuditEvent.action == action, AuditEvent.at >= since)
            if user_name is not None:
                stmt = stmt.where(AuditEvent.user_name == user_name)
            return int(conn.execute(stmt).scalar_one())
        # JSON operators differ between SQLite and PostgreSQL: filter the (few, recent) rows here.
        stmt = select(AuditEvent.user_name, AuditEvent.detail).where(
            AuditEvent.action == action, AuditEvent.at >= since)
        if user_name is not None:
            stmt = stmt.where(AuditEvent.user_name == user_name)
        return sum(1 for _, detail in conn.execute(stmt) if (detail or {}).get("ip") == ip)
