"""Write stage helpers: prepared rows as tuples both backends accept, id reservation, revisions."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Connection, bindparam, delete, insert, select, text

from observatory.db.models import Incident, IncidentArea, IncidentRevision
from observatory.ingest import normalise as nz

# Incident columns written on insert, in this order.
WRITE_COLUMNS = (
    "id", "source_kind", "record_key", "source_id", "content_hash", "revision", "batch_id", "profile",
    "occurred_on", "occurred_month", "occurred_time", "hour", "weekday", "occurred_start", "occurred_end",
    "reported_on", "category_id", "original_label", "count", "sensitive", "lon", "lat", "declared_area_code",
    "declared_area_name", "neighbourhood_id", "assignment", "declared_area_agrees", "victim_sex",
    "victim_age_group", "location_type", "address", "description",
)


def _iso(values: pd.Series, unit: str) -> np.ndarray:
    return np.datetime_as_string(values.to_numpy(dtype=f"datetime64[{unit}]"), unit=unit)


def reserve_ids(conn: Connection, n: int) -> int:
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



def revise(conn: Connection, revised: pd.DataFrame, batch_id: int, rows: list[tuple]) -> None:
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


