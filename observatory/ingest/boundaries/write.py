"""Stage 6, write the layer: its row, its areas and its primary role, inside the import's transaction.

:func:`write_layer` creates the layer (version 1) or updates its row (version + 1 when an area changed),
writes the :class:`.stored.AreaSplit` (inserts, updates keeping ids, deactivations) and gives or takes the
primary role. It returns the layers whose incidents must be reassigned; the package's
``import_boundaries`` reassigns them (and survey responses) in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, insert, update

from observatory.db.models import BoundaryLayer, Neighbourhood
from observatory.ingest.boundaries.stored import find_layer, split_against_stored
from observatory.ingest.report import ImportReport


@dataclass(frozen=True)
class WrittenLayer:
    """What :func:`write_layer` did: the layer's id, its primary role before and after, and the layers
    (this one, a former primary) whose incidents must be reassigned."""

    layer_id: int
    make_primary: bool
    was_primary: bool
    to_reassign: list[int]


def write_areas(conn: Connection, layer_id: int, areas: pd.DataFrame, report: ImportReport) -> bool:
    """Upsert areas by code, deactivate vanished ones; True when anything that affects assignment changed.

    Unchanged areas count as duplicates in ``report`` (so importing the same file again loads 0).
    """
    split = split_against_stored(conn, layer_id, areas)
    if split.inserts:
        conn.execute(insert(Neighbourhood), split.inserts)
    for values in split.updates:
        conn.execute(update(Neighbourhood).where(Neighbourhood.id == values.pop("b_id")).values(**values))
    if split.vanished:
        conn.execute(update(Neighbourhood).where(Neighbourhood.id.in_(split.vanished)).values(active=False))
    # an unchanged area is a duplicate of what is stored; everything else in ``loaded`` was written
    report.duplicates += split.unchanged
    report.loaded -= split.unchanged
    report.revised = len(split.updates)
    report.details.update({"areas_added": len(split.inserts), "areas_updated": len(split.updates),
                           "areas_unchanged": split.unchanged, "areas_deactivated": len(split.vanished)})
    return split.spatial_change


def _set_primary(conn: Connection, layer_id: int, make_primary: bool, was_primary: bool,
                 current_primary: list[int], changed: bool) -> list[int]:
    """Give or take the primary role; returns the layers whose incidents must be reassigned."""
    if make_primary and not was_primary:
        previous = [i for i in current_primary if i != layer_id]
        if previous:
            conn.execute(update(BoundaryLayer).where(BoundaryLayer.id.in_(previous)).values(is_primary=False))
        conn.execute(update(BoundaryLayer).where(BoundaryLayer.id == layer_id).values(is_primary=True))
        return [layer_id, *previous]
    if was_primary and not make_primary:
        conn.execute(update(BoundaryLayer).where(BoundaryLayer.id == layer_id).values(is_primary=False))
        return [layer_id]
    return [layer_id] if changed else []


def write_layer(conn: Connection, report: ImportReport, areas: pd.DataFrame, *, name: str, level: str,
                primary: bool | None, source_crs: str, batch_id: int) -> WrittenLayer:
    """Create or update layer ``name`` with ``areas``; ``primary`` as in ``import_boundaries``.

    A new neighbourhood layer becomes primary when no layer is (unless ``primary`` says otherwise).
    """
    stored = find_layer(conn, name)
    existing = stored.existing
    if existing is None:
        make_primary = primary if primary is not None else (level == "neighbourhood" and not stored.current_primary)
        layer_id = int(conn.execute(insert(BoundaryLayer).values(
            name=name, level=level, is_primary=False, source_crs=source_crs, batch_id=batch_id, version=1,
        )).inserted_primary_key[0])
        was_primary = False
    else:
        layer_id, was_primary = int(existing.id), bool(existing.is_primary)
        make_primary = was_primary if primary is None else primary
    changed = write_areas(conn, layer_id, areas, report)
    if existing is not None:
        values: dict[str, Any] = {"level": level, "source_crs": source_crs, "batch_id": batch_id}
        if changed or report.revised:
            values["version"] = BoundaryLayer.version + 1
        conn.execute(update(BoundaryLayer).where(BoundaryLayer.id == layer_id).values(**values))
    to_reassign = _set_primary(conn, layer_id, make_primary, was_primary, stored.current_primary,
                               changed or existing is None)
    return WrittenLayer(layer_id, make_primary, was_primary, to_reassign)
