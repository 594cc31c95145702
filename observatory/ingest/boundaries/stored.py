"""Stage 5, split the prepared areas against what is stored for the layer.

A layer is imported again from each new version of its file, so every area row of :mod:`.prepare` is
compared by code with the layer's stored areas: a new code is an insert; a stored area whose values
differ (or that was inactive) is an update keeping its id; an identical active one is unchanged (a
duplicate of what is stored); a stored active code missing from the file has vanished and will be
deactivated, never deleted (incidents may still refer to it). Nothing is written here: :mod:`.write` does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from sqlalchemy import Connection, select

from observatory.db.models import BoundaryLayer, Neighbourhood

# the stored values of an area that an import compares and writes
AREA_COLUMNS = ["code", "name", "name_key", "district", "population", "area_km2", "centroid_lon", "centroid_lat",
                "geometry_wkb"]


@dataclass
class StoredLayer:
    """The layer row the import writes to: ``existing`` None for a new layer (not inserted yet)."""

    existing: Any
    current_primary: list[int]


@dataclass
class AreaSplit:
    """The prepared areas against the stored ones (see the module docstring)."""

    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)  # each with ``b_id``, the stored area's id
    unchanged: int = 0
    vanished: list[int] = field(default_factory=list)  # ids of stored active areas the file no longer has
    spatial_change: bool = False  # anything that changes which area an incident falls in


def find_layer(conn: Connection, name: str) -> StoredLayer:
    """The stored layer named ``name`` (id and primary role, or None) and the ids of the primary layers."""
    existing = conn.execute(select(BoundaryLayer.id, BoundaryLayer.is_primary)
                            .where(BoundaryLayer.name == name)).first()
    current_primary = conn.execute(select(BoundaryLayer.id)
                                   .where(BoundaryLayer.is_primary.is_(True))).scalars().all()
    return StoredLayer(existing, list(current_primary))


# Centroids and areas are measured in an equal-area projection centred on the whole layer, so a release
# with a different extent re-measures an unchanged polygon a few 1e-11 degrees or km2 away; 1e-7
# (about a centimetre, or 0.1 m2) is far below any real boundary change and far above that rounding.
MEASURED_TOLERANCE = 1e-7


def _same(old: Any, new: Any) -> bool:
    if old is None or new is None:
        return old is None and new is None
    if isinstance(new, float):
        return math.isclose(float(old), new, rel_tol=1e-9, abs_tol=MEASURED_TOLERANCE)
    return old == new


def split_against_stored(conn: Connection, layer_id: int, areas: pd.DataFrame) -> AreaSplit:
    """Compare ``areas`` (rows of :func:`.prepare.prepare_areas`) with layer ``layer_id``'s stored areas."""
    existing = {row.code: row for row in conn.execute(
        select(Neighbourhood.id, Neighbourhood.active, *[getattr(Neighbourhood, c) for c in AREA_COLUMNS])
        .where(Neighbourhood.layer_id == layer_id)).all()}
    split = AreaSplit()
    for record in areas[AREA_COLUMNS].to_dict("records"):
        record = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()}
        old = existing.get(record["code"])
        if old is None:
            split.inserts.append({**record, "layer_id": layer_id, "active": True})
            split.spatial_change = True
            continue
        if old.active and all(_same(getattr(old, c), record[c]) for c in AREA_COLUMNS):
            split.unchanged += 1
            continue
        if not old.active or old.geometry_wkb != record["geometry_wkb"] or old.name_key != record["name_key"]:
            split.spatial_change = True
        split.updates.append({**record, "active": True, "b_id": old.id})
    new_codes = set(areas["code"])
    split.vanished = [row.id for code, row in existing.items() if row.active and code not in new_codes]
    split.spatial_change = split.spatial_change or bool(split.vanished)
    return split
