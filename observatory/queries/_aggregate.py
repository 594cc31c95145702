"""Building blocks of the recorded-crime aggregates (``incidents``): one ``SUM(count)`` with the
cells' noise-key sums, answered by the incident cube or in SQL, and the small frame helpers the
tables share. No access rule is decided here: ``access.release`` / ``access.publish`` do that.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Date, Engine, String, and_, func, literal_column, select, type_coerce

from observatory.config import disclosure_policy
from observatory.memo import ObjectMemo
from observatory.queries import access, cellkey, cube
from observatory.queries._sql import (
    AREAS,
    INCIDENT_AREAS,
    INCIDENTS,
    Layer,
    area_frame,
    category_frame,
    filter_clauses,
    get_engine,
    months_between,
    primary_layer,
    resolve_layer,
    to_frame,
)
from observatory.queries.filters import Filters

inc = INCIDENTS.c


def _aggregate(engine: Engine | None, filters: Filters, keys: dict, with_keys: bool,
               layer: Layer | None = None, need_area: bool = False, month_bounds: bool = True,
               finer: tuple = ()) -> pd.DataFrame:
    """``SUM(count)`` grouped by ``keys`` (name -> column), with the cells' noise-key sums.

    With ``layer`` a secondary layer, the area key comes from ``incident_areas``. ``finer``:
    columns put first in the GROUP BY but not selected (a finer grouping the caller sums up,
    chosen so an index returns the groups in order).
    Returns columns ``list(keys) + ["count", "key_sum"]``; ``key_sum`` is the sum of the
    group's rows' noise keys (:mod:`cellkey`) when ``with_keys`` (public tables), else 0.
    Answered from the in-memory incident cube when it is current and holds the keys
    (:mod:`observatory.queries.cube`), else in SQL; both give the same frame.
    """
    engine = get_engine(engine)
    on_primary = not (need_area and layer is not None and not layer.is_primary)
    if on_primary and cube.can_group_by(list(keys.values())):
        snapshot = cube.current_cube(engine)
        if snapshot is not None:
            return cube.aggregate(snapshot, filters, keys, with_keys)
    with engine.connect() as conn:
        clauses = filter_clauses(conn, filters, month_bounds)
        # Dates come back raw (ISO text on SQLite) and are parsed once by pandas, which is much
        # faster than SQLAlchemy's per-row date processing on 100k-row results.
        cols = [(type_coerce(col, String) if isinstance(col.type, Date) else col).label(name)
                for name, col in keys.items()]
        source = INCIDENTS
        if need_area and layer is not None and not layer.is_primary:
            source = INCIDENTS.join(INCIDENT_AREAS, and_(INCIDENT_AREAS.c.incident_id == inc.id,
                                                         INCIDENT_AREAS.c.layer_id == layer.id))
        key_sum = (func.sum(cellkey.noise_key_sql(inc.id, disclosure_policy().key_salt)) if with_keys
                   else literal_column("0"))
        stmt = (select(*cols, func.sum(inc.count).label("count"), key_sum.label("key_sum"))
                .select_from(source).where(*clauses).group_by(*finer, *keys.values()))
        rows = conn.execute(stmt).all()
    frame = to_frame(rows, [*keys, "count", "key_sum"])
    frame["key_sum"] = frame["key_sum"].fillna(0).astype("int64")
    return frame


def _categories(engine: Engine | None) -> pd.DataFrame:
    """Every category (``_sql.category_frame``: id, code, names, section, sensitive), from the cube
    when it is current."""
    engine = get_engine(engine)
    snapshot = cube.current_cube(engine)
    if snapshot is not None:
        return snapshot.categories
    with engine.connect() as conn:
        return category_frame(conn)


def _stored_bounds(engine: Engine | None) -> tuple:
    """(first, last) occurrence date of every stored incident (None, None when there are none)."""
    engine = get_engine(engine)
    snapshot = cube.current_cube(engine)
    if snapshot is not None:
        if not snapshot.rows:
            return None, None
        days = snapshot.day[[0, -1]].astype("datetime64[D]").astype(object)
        return days[0], days[1]
    with engine.connect() as conn:
        return tuple(pd.Timestamp(v).date() if v is not None else None for v in conn.execute(
            select(func.min(inc.occurred_on), func.max(inc.occurred_on))).one())


# Recent releases per categories frame and (filters, role, level, grain, bounds, policy).
_RELEASES = ObjectMemo(256)


def _release(engine: Engine | None, filters: Filters, role: str, level: str, grain: str) -> access.Release:
    """The table's ``access.release`` (for the public, open ends filled from the stored dates).

    ``release`` is a pure function of its arguments; recent answers are kept per categories frame
    (the cube's, which lives as long as the cube): a callback asks for the same few releases many
    times, and each costs a few milliseconds of small-frame pandas.
    """
    if access.is_restricted(role):
        return access.Release(filters)
    bounds = _stored_bounds(engine) if filters.start is None or filters.end is None else None
    categories = _categories(engine)
    return _RELEASES.get(categories, lambda: access.release(filters, role, level, grain, categories, bounds=bounds),
                         (filters, role, level, grain, bounds, disclosure_policy()))


def _sum_cells(frame: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Counts and key sums added up per ``by`` (a coarser table of the same records)."""
    return frame.groupby(by, as_index=False, dropna=False)[["count", "key_sum"]].sum()


def _month_column(values: pd.Series) -> pd.Series:
    """Dates (ISO strings from SQLite, date objects from PostgreSQL) as datetime64[ns]."""
    values = pd.Series(values, dtype=object)
    return pd.to_datetime(values.astype(str), format="ISO8601").astype("datetime64[ns]")


def _periods(frame: pd.DataFrame, filters: Filters, unit: str | None) -> pd.DatetimeIndex:
    """Periods (first days) covered by the filters' dates, widened to the months in ``frame``."""
    firsts = [pd.Timestamp(d) for d in [filters.start] if d] + ([frame["month"].min()] if len(frame) else [])
    lasts = [pd.Timestamp(d) for d in [filters.end] if d] + ([frame["month"].max()] if len(frame) else [])
    if not firsts or not lasts:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    months = months_between(min(firsts), max(lasts))
    if unit in (None, "month"):
        return months
    return pd.DatetimeIndex(access.period_starts(pd.Series(months), unit).unique())


def _to_unit(frame: pd.DataFrame, column: str, unit: str | None, by: list[str]) -> pd.DataFrame:
    """Month cells summed up to ``unit`` cells (public grid coarser than the month)."""
    if unit in (None, "month"):
        return frame
    frame = frame.assign(**{column: access.period_starts(frame[column], unit)})
    return _sum_cells(frame, by)


def _layer_for(engine: Engine | None, filters: Filters) -> Layer | None:
    with get_engine(engine).connect() as conn:
        return resolve_layer(conn, filters.layer)


def _areas_of(engine: Engine | None, layer: Layer | None) -> pd.DataFrame:
    if layer is None:
        return pd.DataFrame({"neighbourhood_id": pd.Series(dtype="int64"), "code": pd.Series(dtype=str),
                             "name": pd.Series(dtype=str), "district": pd.Series(dtype=object),
                             "population": pd.Series(dtype="float64"), "area_km2": pd.Series(dtype="float64")})
    if layer.is_primary:
        snapshot = cube.current_cube(get_engine(engine))
        if snapshot is not None and snapshot.layer == layer and snapshot.areas is not None:
            return snapshot.areas.copy()
    with get_engine(engine).connect() as conn:
        return area_frame(conn, layer)


def _area_key(layer: Layer | None):
    if layer is not None and not layer.is_primary:
        return INCIDENT_AREAS.c.neighbourhood_id
    return inc.neighbourhood_id


def _by_area(engine: Engine | None, filters: Filters, layer: Layer, with_keys: bool) -> pd.DataFrame:
    """Counts and key sums per area id (int64 index) of ``layer``; unassigned incidents left out."""
    raw = _aggregate(engine, filters, {"neighbourhood_id": _area_key(layer)}, with_keys, layer, need_area=True)
    raw = raw.dropna(subset=["neighbourhood_id"])
    raw["neighbourhood_id"] = raw["neighbourhood_id"].astype("int64")
    return raw.set_index("neighbourhood_id")


def _fill(out: pd.DataFrame, cells: pd.DataFrame, on: str) -> pd.DataFrame:
    """``out`` with ``count`` and ``key_sum`` of ``cells`` (indexed by ``on``), zeros where absent."""
    for column in ("count", "key_sum"):
        out[column] = out[on].map(cells[column]).fillna(0).astype("int64")
    return out


def _district_of(engine: Engine | None) -> pd.Series:
    """District of every area of the primary layer (area id -> district; inactive areas too)."""
    engine = get_engine(engine)
    snapshot = cube.current_cube(engine)
    if snapshot is not None:
        areas = snapshot.primary_areas
    else:
        with engine.connect() as conn:
            layer = primary_layer(conn)
            rows = [] if layer is None else conn.execute(
                select(AREAS.c.id, AREAS.c.code, AREAS.c.district).where(AREAS.c.layer_id == layer.id)).all()
        areas = pd.DataFrame([tuple(r) for r in rows], columns=["id", "code", "district"])
    return areas.set_index(areas["id"].astype("int64"))["district"]


def _category_codes(engine: Engine | None) -> pd.Series:
    """Category id -> code."""
    cats = _categories(engine)
    return cats.set_index(cats["id"].astype("int64"))["code"]


def _sensitive_codes(engine: Engine | None) -> set[str]:
    return set(access.sensitive_codes(_categories(engine)))
