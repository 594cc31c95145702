"""Reference tables for the dashboard: areas, categories, districts, imports, targets.

None of these depend on the viewer's filters; those that could expose restricted data
(rejected rows' raw values, user names) take a ``role``.
"""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import pandas as pd
import shapely
from sqlalchemy import Engine, case, func, literal_column, select

from observatory.db.models import ImportBatch, IndicatorTarget, Intervention, RejectedRow
from observatory.queries import access
from observatory.queries._sql import (
    AREAS,
    CATEGORIES,
    INCIDENTS,
    LAYERS,
    area_frame,
    category_frame,
    get_engine,
    resolve_layer,
    to_frame,
)
from observatory.taxonomy import UNCLASSIFIED

BATCHES = ImportBatch.__table__
REJECTED = RejectedRow.__table__
INTERVENTIONS = Intervention.__table__
TARGETS = IndicatorTarget.__table__
AREA_COLUMNS = ["id", "code", "name", "district", "population", "area_km2", "geometry"]


def areas(engine: Engine | None = None, layer: str | None = None) -> gpd.GeoDataFrame:
    """Active areas of ``layer`` (primary layer when None) with their polygons.

    Output: GeoDataFrame (EPSG:4326) with id, code, name, district, population (persons,
    NaN when unknown), area_km2, geometry; sorted by code. Empty before any boundary import.
    """
    engine = get_engine(engine)
    with engine.connect() as conn:
        found = resolve_layer(conn, layer)
        if found is None:
            return gpd.GeoDataFrame({c: [] for c in AREA_COLUMNS[:-1]}, geometry=gpd.GeoSeries([], crs="EPSG:4326"),
                                    crs="EPSG:4326")
        frame = area_frame(conn, found)
        wkb = dict(conn.execute(select(AREAS.c.id, AREAS.c.geometry_wkb)
                                .where(AREAS.c.layer_id == found.id, AREAS.c.active.is_(True))).all())
    geometry = shapely.from_wkb([wkb[i] for i in frame["neighbourhood_id"]])
    frame = frame.rename(columns={"neighbourhood_id": "id"})
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")[AREA_COLUMNS]


def layers(engine: Engine | None = None) -> pd.DataFrame:
    """Boundary layers: id, name, level, is_primary, version, n_areas (active)."""
    engine = get_engine(engine)
    n_areas = (select(AREAS.c.layer_id, func.count().label("n")).where(AREAS.c.active.is_(True))
               .group_by(AREAS.c.layer_id).subquery())
    with engine.connect() as conn:
        rows = conn.execute(select(LAYERS.c.id, LAYERS.c.name, LAYERS.c.level, LAYERS.c.is_primary,
                                   LAYERS.c.version, func.coalesce(n_areas.c.n, 0))
                            .outerjoin(n_areas, n_areas.c.layer_id == LAYERS.c.id).order_by(LAYERS.c.id)).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=["id", "name", "level", "is_primary", "version", "n_areas"])


def categories(engine: Engine | None = None) -> pd.DataFrame:
    """Crime categories: id, code, iccs_code, iccs_section, name_es, name_en, sensitive."""
    with get_engine(engine).connect() as conn:
        return category_frame(conn)


def districts(engine: Engine | None = None) -> pd.DataFrame:
    """Districts of the primary layer: district, n_areas, population (sum; NaN if any unknown)."""
    with get_engine(engine).connect() as conn:
        layer = resolve_layer(conn, None)
        frame = area_frame(conn, layer) if layer else pd.DataFrame(columns=["district", "population"])
    frame = frame.dropna(subset=["district"])
    if frame.empty:
        return pd.DataFrame({"district": pd.Series(dtype=str), "n_areas": pd.Series(dtype="int64"),
                             "population": pd.Series(dtype="float64")})
    def total_population(values: pd.Series) -> float:
        return float(values.sum()) if values.notna().all() else float("nan")

    out = frame.groupby("district").agg(n_areas=("code", "size"), population=("population", total_population))
    return out.reset_index()


def date_bounds(engine: Engine | None = None) -> tuple[dt.date | None, dt.date | None]:
    """(first, last) occurrence date of the stored incidents; (None, None) when there are none.

    Answered from the in-memory incident cube when it is current (its dates are sorted: two
    lookups), else in SQL (MIN/MAX over every incident: about 0.2 s per 2M rows on SQLite, and
    every trends and overview request asks).
    """
    from observatory.queries._aggregate import _stored_bounds

    first, last = _stored_bounds(engine)
    return first, last


HISTORY_COLUMNS = ["id", "file_name", "source_kind", "profile", "layer", "started_at", "finished_at", "status",
                   "total", "loaded", "rejected", "duplicates", "revised", "unassigned", "user_name"]


def import_history(engine: Engine | None = None, role: str = "public") -> pd.DataFrame:
    """Every import batch, newest first, as :func:`access.public_import_view` lets ``role`` see it:
    ``HISTORY_COLUMNS`` with file names only (user_name for analysts/admins only)."""
    access.check_role(role)
    with get_engine(engine).connect() as conn:
        rows = conn.execute(select(*[BATCHES.c[c] for c in HISTORY_COLUMNS]).order_by(BATCHES.c.id.desc())).all()
    return access.public_import_view(pd.DataFrame([tuple(r) for r in rows], columns=HISTORY_COLUMNS), role)


def rejected_rows(engine: Engine | None = None, batch_id: int | None = None, limit: int = 1000,
                  role: str = "public") -> pd.DataFrame:
    """Rejected input rows, as :func:`access.public_import_view` lets ``role`` see them.

    Analysts/admins: batch_id, file_name, row_number, field, reason, raw (the original values, which
    may hold names or addresses) and reason_kind, sorted by batch then row, at most ``limit`` rows.
    Public: batch_id, file_name, reason_kind, rows: counts over ALL rejected rows (no limit), nothing
    quoted from the file.
    """
    restricted = access.is_restricted(role)
    columns = ["batch_id", "file_name", "row_number", "field", "reason"] + (["raw"] if restricted else [])
    table = {"batch_id": REJECTED.c.batch_id, "file_name": BATCHES.c.file_name, "row_number": REJECTED.c.row_number,
             "field": REJECTED.c.field, "reason": REJECTED.c.reason, "raw": REJECTED.c.raw}
    stmt = (select(*[table[c] for c in columns]).join(BATCHES, BATCHES.c.id == REJECTED.c.batch_id)
            .order_by(REJECTED.c.batch_id.desc(), REJECTED.c.row_number))
    if restricted:
        stmt = stmt.limit(int(limit))
    if batch_id is not None:
        stmt = stmt.where(REJECTED.c.batch_id == int(batch_id))
    with get_engine(engine).connect() as conn:
        rows = conn.execute(stmt).all()
    return access.public_import_view(pd.DataFrame([tuple(r) for r in rows], columns=columns), role)


def unknown_labels(engine: Engine | None = None, role: str = "public") -> pd.DataFrame:
    """Source labels stored as 'unclassified': label, profile, source_kind, records, count.

    Read from the incidents themselves, so a label disappears once an alias reclassifies it.
    Sorted by count, largest first. For the public only labels shared by at least k records
    (``access.public_labels``: a label seen once may be an address from a column-shifted export).
    """
    access.check_role(role)
    inc = INCIDENTS.c
    stmt = (select(inc.original_label, inc.profile, inc.source_kind, func.count().label("records"),
                   func.sum(inc.count).label("count"))
            .join(CATEGORIES, CATEGORIES.c.id == inc.category_id).where(CATEGORIES.c.code == UNCLASSIFIED)
            .group_by(inc.original_label, inc.profile, inc.source_kind))
    with get_engine(engine).connect() as conn:
        rows = conn.execute(stmt).all()
    frame = to_frame(rows, ["label", "profile", "source_kind", "records", "count"])
    frame["records"] = frame["records"].astype("int64")
    return access.public_labels(frame.sort_values(["count", "label"], ascending=[False, True])
                                .reset_index(drop=True), role)


def unassigned_summary(engine: Engine | None = None) -> pd.DataFrame:
    """Incidents without a neighbourhood, by source kind and reason: source_kind, reason, records, count.

    Reasons: ``no_location`` (no coordinates, no declared area), ``outside_areas`` (had
    coordinates but fell in no area), ``area_not_found`` (declared area code/name unmatched).
    """
    inc = INCIDENTS.c
    reason = case(
        (inc.lon.is_not(None), literal_column("'outside_areas'")),
        ((inc.declared_area_code.is_(None)) & (inc.declared_area_name.is_(None)), literal_column("'no_location'")),
        else_=literal_column("'area_not_found'"),
    )
    stmt = (select(inc.source_kind, reason.label("reason"), func.count().label("records"),
                   func.sum(inc.count).label("count"))
            .where(inc.neighbourhood_id.is_(None)).group_by(inc.source_kind, reason))
    with get_engine(engine).connect() as conn:
        rows = conn.execute(stmt).all()
    frame = to_frame(rows, ["source_kind", "reason", "records", "count"])
    frame["records"] = frame["records"].astype("int64")
    return frame.sort_values(["source_kind", "reason"]).reset_index(drop=True)


def interventions(engine: Engine | None = None) -> pd.DataFrame:
    """Interventions: id, name, started_on, ended_on, area_codes (list of primary-layer codes), description."""
    cols = ["id", "name", "started_on", "ended_on", "area_codes", "description"]
    with get_engine(engine).connect() as conn:
        rows = conn.execute(select(*[INTERVENTIONS.c[c] for c in cols]).order_by(INTERVENTIONS.c.started_on,
                                                                                INTERVENTIONS.c.id)).all()
    frame = pd.DataFrame([tuple(r) for r in rows], columns=cols)
    frame["area_codes"] = frame["area_codes"].map(lambda v: [str(c) for c in (v or [])])
    return frame


def targets(engine: Engine | None = None) -> pd.DataFrame:
    """Plan targets: id, indicator, scope, baseline_value, baseline_on, target_value, target_on."""
    cols = ["id", "indicator", "scope", "baseline_value", "baseline_on", "target_value", "target_on"]
    with get_engine(engine).connect() as conn:
        rows = conn.execute(select(*[TARGETS.c[c] for c in cols]).order_by(TARGETS.c.id)).all()
    return pd.DataFrame([tuple(r) for r in rows], columns=cols)


def data_version(engine: Engine | None = None) -> str:
    """A string that changes whenever an import finishes (or fails), or targets/interventions change.

    Built from the number and newest id/finish time of batches, and the row counts and
    newest ids of interventions and targets. Used in the dashboard's cache keys.
    """
    with get_engine(engine).connect() as conn:
        batches = conn.execute(select(func.count(), func.max(BATCHES.c.id), func.max(BATCHES.c.finished_at))
                               .where(BATCHES.c.status != "running")).one()
        extra = [conn.execute(select(func.count(), func.max(t.c.id))).one() for t in (INTERVENTIONS, TARGETS)]
    parts = [batches[0], batches[1], batches[2].isoformat() if batches[2] else None,
             *[v for row in extra for v in row]]
    return "-".join("" if p is None else str(p) for p in parts)
