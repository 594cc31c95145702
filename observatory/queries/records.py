"""Incident microdata for analysts: points for the map and records for downloads.

Never for the public: :func:`points` returns an empty frame and :func:`incident_records`
raises ``PermissionError`` (``observatory.queries.access``).
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select

from observatory.queries import access
from observatory.queries._sql import AREAS, CATEGORIES, INCIDENTS, filter_clauses, get_engine
from observatory.queries.filters import Filters

inc = INCIDENTS.c
POINT_COLUMNS = ["id", "lon", "lat", "occurred_on", "category", "neighbourhood", "source_kind", "hour", "sensitive"]


def _dates(values: pd.Series) -> pd.Series:
    """Dates (ISO strings from SQLite, date objects from PostgreSQL) as datetime64[ns]."""
    values = pd.Series(values, dtype=object)
    return pd.to_datetime(values.astype(str), format="ISO8601").astype("datetime64[ns]")



def points(engine: Engine | None, filters: Filters, role: str = "public",
           bbox: tuple[float, float, float, float] | None = None, limit: int = 50_000) -> pd.DataFrame:
    """Incident points for the map: analysts and admins only.

    For the public role this returns an EMPTY DataFrame with the same columns (never raises,
    so a public callback cannot fail or leak). ``bbox`` = (min_lon, min_lat, max_lon,
    max_lat) in degrees. The newest ``limit`` points are returned. Output: id, lon, lat,
    occurred_on (datetime64), category (code), neighbourhood (primary layer code),
    source_kind, hour (Int64), sensitive.
    """
    empty = pd.DataFrame({c: [] for c in POINT_COLUMNS})
    if not access.can_see_points(role):
        return empty
    engine = get_engine(engine)
    with engine.connect() as conn:
        clauses = filter_clauses(conn, filters, month_bounds=False)
        clauses += [inc.lon.is_not(None), inc.lat.is_not(None)]
        if bbox is not None:
            min_lon, min_lat, max_lon, max_lat = bbox
            clauses += [inc.lon >= min_lon, inc.lon <= max_lon, inc.lat >= min_lat, inc.lat <= max_lat]
        if not access.can_see_sensitive_points(role):
            clauses += [inc.sensitive.is_(False), CATEGORIES.c.sensitive.is_(False)]
        stmt = (select(inc.id, inc.lon, inc.lat, inc.occurred_on, CATEGORIES.c.code, AREAS.c.code,
                       inc.source_kind, inc.hour, (inc.sensitive | CATEGORIES.c.sensitive))
                .select_from(INCIDENTS.join(CATEGORIES, CATEGORIES.c.id == inc.category_id)
                             .outerjoin(AREAS, AREAS.c.id == inc.neighbourhood_id))
                .where(*clauses).order_by(inc.occurred_on.desc(), inc.id.desc()).limit(int(limit)))
        rows = conn.execute(stmt).all()
    out = pd.DataFrame([tuple(r) for r in rows], columns=POINT_COLUMNS)
    out["id"] = out["id"].astype("int64")
    out["occurred_on"] = _dates(out["occurred_on"])
    out["hour"] = out["hour"].astype("Int64")
    out["sensitive"] = out["sensitive"].astype(bool)
    return out


RECORD_COLUMNS = ["id", "source_kind", "source_id", "revision", "occurred_on", "occurred_time", "category",
                  "original_label", "count", "lon", "lat", "neighbourhood", "assignment", "victim_sex",
                  "victim_age_group", "location_type", "address", "description", "batch_id"]


def incident_records(engine: Engine | None, filters: Filters, role: str = "public",
                     limit: int = 100_000) -> pd.DataFrame:
    """Incident microdata (addresses, free text, victim attributes) for analysts' downloads.

    Raises ``PermissionError`` for the public role. Output columns: ``RECORD_COLUMNS``.
    """
    if not access.is_restricted(role):
        raise PermissionError("incident records are restricted to analysts and admins")
    engine = get_engine(engine)
    with engine.connect() as conn:
        clauses = filter_clauses(conn, filters)
        stmt = (select(inc.id, inc.source_kind, inc.source_id, inc.revision, inc.occurred_on, inc.occurred_time,
                       CATEGORIES.c.code, inc.original_label, inc.count, inc.lon, inc.lat, AREAS.c.code,
                       inc.assignment, inc.victim_sex, inc.victim_age_group, inc.location_type, inc.address,
                       inc.description, inc.batch_id)
                .select_from(INCIDENTS.join(CATEGORIES, CATEGORIES.c.id == inc.category_id)
                             .outerjoin(AREAS, AREAS.c.id == inc.neighbourhood_id))
                .where(*clauses).order_by(inc.occurred_on, inc.id).limit(int(limit)))
        rows = conn.execute(stmt).all()
    out = pd.DataFrame([tuple(r) for r in rows], columns=RECORD_COLUMNS)
    out["occurred_on"] = _dates(out["occurred_on"])
    return out
