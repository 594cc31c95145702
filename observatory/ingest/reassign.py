"""Reassignment after a boundary change: every stored incident's area in a layer, recomputed from its
stored lon/lat and declared area with :func:`observatory.ingest.assign.assign` (the rules of an import)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pandas as pd
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
    update,
)

from observatory.db.models import BoundaryLayer, Incident, IncidentArea, Neighbourhood
from observatory.ingest.assign import REASSIGN_CHUNK, assign, load_layers


def _iter_incidents(conn: Connection, chunk: int) -> Iterable[pd.DataFrame]:
    """Incidents' stored location fields, ``chunk`` rows at a time, by increasing id (keyset paging)."""
    last = 0
    columns = (Incident.id, Incident.lon, Incident.lat, Incident.declared_area_code,
               Incident.declared_area_name, Incident.neighbourhood_id, Incident.assignment,
               Incident.declared_area_agrees)
    while True:
        rows = conn.execute(select(*columns).where(Incident.id > last).order_by(Incident.id).limit(chunk)).all()
        if not rows:
            return
        # plain tuples: pandas probing SQLAlchemy Row attributes costs more than the query itself
        frame = pd.DataFrame.from_records([tuple(r) for r in rows], columns=[c.key for c in columns])
        frame["lon"] = pd.to_numeric(frame["lon"], errors="coerce").astype("float64")
        frame["lat"] = pd.to_numeric(frame["lat"], errors="coerce").astype("float64")
        yield frame
        last = int(frame["id"].iloc[-1])


# Changed assignments are staged in a temporary table and applied with one UPDATE ... FROM, which is several
# times faster than one UPDATE per incident on both SQLite and PostgreSQL.
_STAGE = Table(
    "obs_reassign_stage", MetaData(),
    Column("id", Integer, primary_key=True), Column("nid", Integer), Column("how", String(20)),
    Column("agree", Boolean),
    prefixes=["TEMPORARY"],
)


def _ints(values: pd.Series) -> list[int | None]:
    return [None if v != v else int(v) for v in values.to_numpy(dtype="float64", na_value=np.nan).tolist()]


def _bools(values: pd.Series) -> list[bool | None]:
    return [None if v is None else bool(v) for v in values.astype("boolean").to_numpy(dtype=object, na_value=None)]


def _changed(new: pd.Series, old: pd.Series) -> np.ndarray:
    """Element-wise "differs", treating missing == missing."""
    new_o = new.to_numpy(dtype=object, na_value=None)
    old_o = old.to_numpy(dtype=object, na_value=None)
    return ~np.array([a == b for a, b in zip(new_o.tolist(), old_o.tolist(), strict=True)], dtype=bool)


def _reassign(conn: Connection, layer_id: int, chunk: int = REASSIGN_CHUNK) -> int:
    """Recompute, inside ``conn``'s transaction, what depends on layer ``layer_id``; returns rows changed.

    Primary layer: ``incidents.neighbourhood_id``, ``assignment`` and ``declared_area_agrees`` (only rows
    whose values change are written) and no ``incident_areas`` rows for it. Secondary layer: its
    ``incident_areas`` rows are rebuilt, ``declared_area_agrees`` refreshed, and incidents that still
    point at one of its areas as their neighbourhood (it was primary before) are cleared.
    """
    is_primary = conn.execute(select(BoundaryLayer.is_primary).where(BoundaryLayer.id == layer_id)).scalar_one()
    layers = load_layers(conn)
    conn.execute(delete(IncidentArea).where(IncidentArea.layer_id == layer_id))
    changed = 0
    if not is_primary:
        layer_area_ids = select(Neighbourhood.id).where(Neighbourhood.layer_id == layer_id).scalar_subquery()
        result = conn.execute(update(Incident).where(Incident.neighbourhood_id.in_(layer_area_ids))
                              .values(neighbourhood_id=None, assignment=None))
        changed += max(result.rowcount or 0, 0)
    _STAGE.create(conn)
    try:
        staged = 0
        for frame in _iter_incidents(conn, chunk):
            result = assign(frame, layers)
            new = result.primary
            mask = _changed(new["declared_area_agrees"], frame["declared_area_agrees"].astype("boolean"))
            if is_primary:
                mask |= _changed(new["neighbourhood_id"], frame["neighbourhood_id"].astype("Int64"))
                mask |= _changed(new["assignment"], frame["assignment"])
            if mask.any():
                ids = frame["id"].to_numpy()[mask].tolist()
                nids = _ints(new["neighbourhood_id"][mask])
                hows = [None if v is None else str(v) for v in new["assignment"][mask].tolist()]
                agrees = _bools(new["declared_area_agrees"][mask])
                conn.execute(insert(_STAGE), [{"id": i, "nid": n, "how": h, "agree": a}
                                              for i, n, h, a in zip(ids, nids, hows, agrees, strict=True)])
                staged += len(ids)
            areas = result.secondary.get(layer_id)
            if not is_primary and areas is not None:
                found = areas.notna().to_numpy()
                rows = [{"incident_id": int(i), "layer_id": layer_id, "neighbourhood_id": a}
                        for i, a in zip(frame["id"].to_numpy()[found].tolist(), _ints(areas[found]), strict=True)]
                if rows:
                    conn.execute(insert(IncidentArea), rows)
                changed += len(rows)
        if staged:
            values = {"declared_area_agrees": _STAGE.c.agree}
            if is_primary:
                values |= {"neighbourhood_id": _STAGE.c.nid, "assignment": _STAGE.c.how}
            conn.execute(update(Incident).where(Incident.id == _STAGE.c.id).values(**values))
            if is_primary:
                changed += staged
    finally:
        _STAGE.drop(conn)
    return changed


def reassign_layer(engine: Engine | Connection, layer_id: int, chunk: int = REASSIGN_CHUNK) -> int:
    """Recompute incidents' areas of layer ``layer_id`` from their stored lon/lat and declared area.

    Input: an engine (one transaction is opened) or a connection (the caller's transaction is used), the
    layer id, and the number of incidents handled per round trip. Output: the number of incident rows
    (primary layer) or incident-area rows (secondary layer) written. Incidents are never deleted: those
    whose area vanished become unassigned.
    """
    if isinstance(engine, Connection):
        return _reassign(engine, layer_id, chunk)
    with engine.begin() as conn:
        return _reassign(conn, layer_id, chunk)
