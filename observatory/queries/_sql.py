"""Shared SQL building blocks of the query layer: tables, layer lookup, filter clauses.

Only portable SQLAlchemy Core is used (no strftime / date_trunc): months, hours and
weekdays come from the stored ``occurred_month``, ``hour`` and ``weekday`` columns, so
SQLite and PostgreSQL give identical answers.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, Engine, and_, false, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from observatory.db.models import (
    BoundaryLayer,
    CrimeCategory,
    Incident,
    IncidentArea,
    Neighbourhood,
)
from observatory.queries.filters import Filters

INCIDENTS = Incident.__table__
CATEGORIES = CrimeCategory.__table__
AREAS = Neighbourhood.__table__
LAYERS = BoundaryLayer.__table__
INCIDENT_AREAS = IncidentArea.__table__


@dataclass(frozen=True)
class Layer:
    """A boundary layer: its id, name and whether incidents.neighbourhood_id refers to it."""

    id: int
    name: str
    is_primary: bool


def get_engine(engine: Engine | None) -> Engine:
    """The given engine, or the configured one."""
    if engine is not None:
        return engine
    from observatory.db.session import get_engine as configured

    return configured()


def primary_layer(conn: Connection) -> Layer | None:
    """The primary layer (None before any boundary import)."""
    row = conn.execute(select(LAYERS.c.id, LAYERS.c.name, LAYERS.c.is_primary)
                       .where(LAYERS.c.is_primary.is_(True)).order_by(LAYERS.c.id).limit(1)).first()
    return Layer(int(row.id), row.name, True) if row else None


def resolve_layer(conn: Connection, name: str | None) -> Layer | None:
    """The layer called ``name`` (``None``: the primary one); ``KeyError`` when unknown."""
    if name is None:
        return primary_layer(conn)
    row = conn.execute(select(LAYERS.c.id, LAYERS.c.name, LAYERS.c.is_primary)
                       .where(LAYERS.c.name == name)).first()
    if row is None:
        raise KeyError(f"unknown boundary layer {name!r}")
    return Layer(int(row.id), row.name, bool(row.is_primary))


def category_frame(conn: Connection) -> pd.DataFrame:
    """All categories: id, code, iccs_code, iccs_section, name_es, name_en, sensitive."""
    rows = conn.execute(select(CATEGORIES.c.id, CATEGORIES.c.code, CATEGORIES.c.iccs_code,
                               CATEGORIES.c.iccs_section, CATEGORIES.c.name_es, CATEGORIES.c.name_en,
                               CATEGORIES.c.sensitive).order_by(CATEGORIES.c.id)).all()
    frame = pd.DataFrame(rows, columns=["id", "code", "iccs_code", "iccs_section", "name_es", "name_en",
                                        "sensitive"])
    frame["id"] = frame["id"].astype("int64")
    frame["sensitive"] = frame["sensitive"].astype(bool)
    return frame


def sensitive_category_ids(conn: Connection) -> list[int]:
    """Ids of the sensitive categories (sexual and domestic violence)."""
    return [int(i) for i in conn.execute(select(CATEGORIES.c.id).where(CATEGORIES.c.sensitive.is_(True)))
            .scalars()]


def date_clauses(filters: Filters, month_bounds: bool = True) -> list[ColumnElement[bool]]:
    """Date bounds, with the month bounds they imply when ``month_bounds``.

    ``occurred_on >= 10 March`` implies ``occurred_month >= 1 March`` (and an end on 20 May
    implies ``occurred_month <= 1 May``); the implied month bound is added so area and
    category aggregates can range-scan the month-led covering indexes
    (``ix_incidents_area_month``, ``ix_incidents_category_month``), and the exact
    ``occurred_on`` bound is kept unless the month bound already says it (a start on the
    1st, an end on the last day of a month). The rows selected are the same either way.
    """
    inc = INCIDENTS.c
    clauses: list[ColumnElement[bool]] = []
    if filters.start:
        if month_bounds:
            clauses.append(inc.occurred_month >= filters.start.replace(day=1))
        if not (month_bounds and filters.start.day == 1):
            clauses.append(inc.occurred_on >= filters.start)
    if filters.end:
        if month_bounds:
            clauses.append(inc.occurred_month <= filters.end.replace(day=1))
        if not (month_bounds and (filters.end + dt.timedelta(days=1)).day == 1):
            clauses.append(inc.occurred_on <= filters.end)
    return clauses


def filter_clauses(conn: Connection, filters: Filters, month_bounds: bool = True) -> list[ColumnElement[bool]]:
    """WHERE clauses on the incidents table for ``filters``.

    Category and area selections are resolved to ids first so the predicates are plain
    ``IN`` lists on indexed columns (``ix_incidents_dashboard``). A selection that matches
    nothing (an unknown code) yields a FALSE clause, i.e. an empty result, not everything.
    """
    inc = INCIDENTS.c
    clauses: list[ColumnElement[bool]] = []
    clauses.extend(date_clauses(filters, month_bounds))
    if filters.categories or filters.sections:
        cat_pred = or_(CATEGORIES.c.code.in_(filters.categories), CATEGORIES.c.iccs_section.in_(filters.sections))
        ids = [int(i) for i in conn.execute(select(CATEGORIES.c.id).where(cat_pred)).scalars()]
        clauses.append(inc.category_id.in_(ids) if ids else false())
    if filters.source_kinds and set(filters.source_kinds) != {"complaint", "police"}:
        clauses.append(inc.source_kind.in_(filters.source_kinds))
    if filters.districts or filters.neighbourhoods:
        layer = primary_layer(conn)
        if layer is None:
            clauses.append(false())
        else:
            area_pred = [AREAS.c.layer_id == layer.id]
            if filters.districts:
                area_pred.append(AREAS.c.district.in_(filters.districts))
            if filters.neighbourhoods:
                area_pred.append(AREAS.c.code.in_(filters.neighbourhoods))
            ids = [int(i) for i in conn.execute(select(AREAS.c.id).where(and_(*area_pred))).scalars()]
            clauses.append(inc.neighbourhood_id.in_(ids) if ids else false())
    if filters.sex:
        clauses.append(inc.victim_sex.in_(filters.sex))
    if filters.age_groups:
        clauses.append(inc.victim_age_group.in_(filters.age_groups))
    return clauses or [true()]


def area_frame(conn: Connection, layer: Layer, active_only: bool = True) -> pd.DataFrame:
    """Areas of ``layer`` (no geometry): neighbourhood_id, code, name, district, population, area_km2."""
    stmt = (select(AREAS.c.id, AREAS.c.code, AREAS.c.name, AREAS.c.district, AREAS.c.population,
                   AREAS.c.area_km2).where(AREAS.c.layer_id == layer.id).order_by(AREAS.c.code))
    if active_only:
        stmt = stmt.where(AREAS.c.active.is_(True))
    rows = conn.execute(stmt).all()
    frame = pd.DataFrame(rows, columns=["neighbourhood_id", "code", "name", "district", "population", "area_km2"])
    frame["neighbourhood_id"] = frame["neighbourhood_id"].astype("int64")
    frame["population"] = frame["population"].astype("float64")
    frame["area_km2"] = frame["area_km2"].astype("float64")
    return frame


def to_frame(rows: list, columns: list[str]) -> pd.DataFrame:
    """Rows of a result as a DataFrame with ``count`` as int64 (SUM may come back as Decimal)."""
    frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    if "count" in frame.columns:
        frame["count"] = frame["count"].fillna(0).astype("int64")
    return frame


def months_between(first: pd.Timestamp, last: pd.Timestamp) -> pd.DatetimeIndex:
    """First days of every month from ``first`` to ``last`` inclusive."""
    return pd.date_range(first.to_period("M").to_timestamp(), last.to_period("M").to_timestamp(),
                         freq="MS").astype("datetime64[ns]")


__all__ = ["AREAS", "CATEGORIES", "INCIDENTS", "INCIDENT_AREAS", "LAYERS", "Layer", "area_frame",
           "category_frame", "filter_clauses", "get_engine", "months_between", "primary_layer", "resolve_layer",
           "sensitive_category_ids", "to_frame"]
