"""Recorded-crime aggregates for the dashboard, computed in SQL with ``SUM(count)``.

Every function takes ``(engine, filters, role="public", ...)`` and returns a DataFrame;
access rules (suppression, sensitive categories, points) are applied through
``observatory.queries.access`` before anything leaves this module. Unassigned incidents
(no neighbourhood) count in city-wide tables but not in area tables.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Date, Engine, String, and_, case, func, literal_column, select, type_coerce

from observatory.queries import access, cube
from observatory.queries._sql import (
    AREAS,
    CATEGORIES,
    INCIDENT_AREAS,
    INCIDENTS,
    Layer,
    area_frame,
    category_frame,
    filter_clauses,
    get_engine,
    months_between,
    resolve_layer,
    sensitive_category_ids,
    to_frame,
)
from observatory.queries.filters import Filters

inc = INCIDENTS.c
POINT_COLUMNS = ["id", "lon", "lat", "occurred_on", "category", "neighbourhood", "source_kind", "hour", "sensitive"]


def _sensitive_sum(conn, split: bool):
    """``SUM(count)`` of sensitive categories (or a constant 0 when no split is needed).

    Sensitivity is the category's flag, read through ``category_id`` so the aggregate is
    answered from the covering indexes; a conditional sum is much faster than grouping by
    the flag (SQLite: 0.4 s instead of 1.3 s over 2M rows).
    """
    ids = sensitive_category_ids(conn) if split else []
    if not ids:
        return literal_column("0")
    # Inlined integers (not bind parameters): the ids come from our own table.
    in_sensitive = inc.category_id.in_([literal_column(str(int(i))) for i in ids])
    return func.sum(case((in_sensitive, inc.count), else_=literal_column("0")))


def _aggregate(engine: Engine | None, filters: Filters, keys: dict, split_sensitive: bool,
               layer: Layer | None = None, need_area: bool = False, month_bounds: bool = True,
               finer: tuple = ()) -> pd.DataFrame:
    """``SUM(count)`` grouped by ``keys`` (name -> column), with the sensitive part.

    With ``layer`` a secondary layer, the area key comes from ``incident_areas``. ``finer``:
    columns put first in the GROUP BY but not selected (a finer grouping the caller sums up,
    chosen so an index returns the groups in order).
    Returns columns ``list(keys) + ["count", "sensitive_count"]`` (the latter 0 unless
    ``split_sensitive``). Answered from the in-memory incident cube when it is current and
    holds the keys (:mod:`observatory.queries.cube`), else in SQL; both give the same frame.
    """
    engine = get_engine(engine)
    on_primary = not (need_area and layer is not None and not layer.is_primary)
    if on_primary and cube.can_group_by(list(keys.values())):
        snapshot = cube.current_cube(engine)
        if snapshot is not None:
            return cube.aggregate(snapshot, filters, keys, split_sensitive)
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
        stmt = (select(*cols, func.sum(inc.count).label("count"),
                       _sensitive_sum(conn, split_sensitive).label("sensitive_count"))
                .select_from(source).where(*clauses).group_by(*finer, *keys.values()))
        rows = conn.execute(stmt).all()
    frame = to_frame(rows, [*keys, "count", "sensitive_count"])
    frame["sensitive_count"] = frame["sensitive_count"].fillna(0).astype("int64")
    return frame


def _finish(frame: pd.DataFrame, role: str, small_area: bool, withheld: bool = False) -> pd.DataFrame:
    """Add ``suppressed`` (counts < k masked for the public in small-area tables) and the
    table-level ``sensitive_withheld`` flag (same value on every row, see ``access``)."""
    out = frame.drop(columns=["sensitive_withheld"], errors="ignore")
    out = access.suppress_small(out, role) if small_area else out.assign(
        count=out["count"].astype("Int64"), suppressed=False)
    out["sensitive_withheld"] = bool(withheld)
    return out


def _any_withheld(frame: pd.DataFrame) -> bool:
    return bool(len(frame)) and bool(frame["sensitive_withheld"].any())


def _month_column(values: pd.Series) -> pd.Series:
    """Dates (ISO strings from SQLite, date objects from PostgreSQL) as datetime64[ns]."""
    values = pd.Series(values, dtype=object)
    return pd.to_datetime(values.astype(str), format="ISO8601").astype("datetime64[ns]")


def _month_range(frame: pd.DataFrame, filters: Filters) -> pd.DatetimeIndex:
    """Months covered by the filters' dates, widened to the months present in ``frame``."""
    firsts = [pd.Timestamp(d) for d in [filters.start] if d] + ([frame["month"].min()] if len(frame) else [])
    lasts = [pd.Timestamp(d) for d in [filters.end] if d] + ([frame["month"].max()] if len(frame) else [])
    if not firsts or not lasts:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    return months_between(min(firsts), max(lasts))


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


# --- area tables ---------------------------------------------------------------------------------------


def unsuppressed_counts_by_area(engine: Engine | None, filters: Filters) -> pd.DataFrame:
    """TRUE counts per area of ``filters.layer``, for statistics only (Gi*, Moran, smoothing).

    Output: every active area (neighbourhood_id, code, name, district, population, area_km2,
    count incl. zeros). Not role-filtered: the web layer may publish only derived, non-count
    outputs of it (classes, z-scores), see ``observatory.queries.access``.
    """
    layer = _layer_for(engine, filters)
    areas = _areas_of(engine, layer)
    if layer is None:
        return areas.assign(count=pd.Series(dtype="int64"))
    counts = _aggregate(engine, filters, {"neighbourhood_id": _area_key(layer)}, False, layer, need_area=True)
    counts = counts.dropna(subset=["neighbourhood_id"]).groupby("neighbourhood_id")["count"].sum()
    counts.index = counts.index.astype("int64")
    out = areas.copy()
    out["count"] = out["neighbourhood_id"].map(counts).fillna(0).astype("int64")
    return out.reset_index(drop=True)


def area_counts(engine: Engine | None, filters: Filters, role: str = "public") -> tuple[pd.DataFrame, pd.DataFrame,
                                                                                        int | None]:
    """``(counts_by_area, unsuppressed_counts_by_area, total)`` for ``filters`` from ONE aggregate.

    The three are exactly what the separate functions return (``total`` as :func:`total`);
    the map needs all of them, and one ``GROUP BY`` area with the sensitive part (the
    unassigned incidents in the NULL group, for the total) reads the rows once instead of
    three times. The unsuppressed table is for statistics only (see ``access``).
    """
    access.check_role(role)
    layer = _layer_for(engine, filters)
    areas = _areas_of(engine, layer)
    if layer is None or not layer.is_primary or filters.is_area_restricted:
        # Secondary layers (joined) and small-area totals (suppressed) take the separate paths.
        return (counts_by_area(engine, filters, role), unsuppressed_counts_by_area(engine, filters),
                total(engine, filters, role))
    raw = _aggregate(engine, filters, {"neighbourhood_id": inc.neighbourhood_id}, True, layer, need_area=True)
    grand_total = int(raw["count"].sum())
    raw = raw.dropna(subset=["neighbourhood_id"])
    raw["neighbourhood_id"] = raw["neighbourhood_id"].astype("int64")
    true_counts = raw.set_index("neighbourhood_id")["count"]
    full = areas.copy()
    full["count"] = full["neighbourhood_id"].map(true_counts).fillna(0).astype("int64")
    published = raw if not access.is_restricted(role) else raw.assign(sensitive_count=0)
    combined = access.withhold_sensitive(published, role).set_index("neighbourhood_id")
    out = areas[["neighbourhood_id", "code", "name", "district", "population"]].copy()
    out["count"] = out["neighbourhood_id"].map(combined["count"]).fillna(0).astype("int64")
    shown = _finish(out, role, True, _any_withheld(combined)).reset_index(drop=True)
    return shown, full.reset_index(drop=True), grand_total


def counts_by_area(engine: Engine | None, filters: Filters, role: str = "public") -> pd.DataFrame:
    """Incidents per area of ``filters.layer`` (primary layer by default), zeros included.

    Output columns: neighbourhood_id, code, name, district, population, count (Int64, NA
    when suppressed), suppressed, sensitive_withheld. One row per active area, sorted by code.
    """
    access.check_role(role)
    layer = _layer_for(engine, filters)
    areas = _areas_of(engine, layer)[["neighbourhood_id", "code", "name", "district", "population"]]
    if layer is None:
        return _finish(areas.assign(count=pd.Series(dtype="int64")), role, True)
    split = not access.is_restricted(role)
    raw = _aggregate(engine, filters, {"neighbourhood_id": _area_key(layer)}, split, layer, need_area=True)
    raw = raw.dropna(subset=["neighbourhood_id"])
    raw["neighbourhood_id"] = raw["neighbourhood_id"].astype("int64")
    combined = access.withhold_sensitive(raw, role).set_index("neighbourhood_id")
    out = areas.copy()
    out["count"] = out["neighbourhood_id"].map(combined["count"]).fillna(0).astype("int64")
    return _finish(out, role, True, _any_withheld(combined)).reset_index(drop=True)


def counts_by_district(engine: Engine | None, filters: Filters, role: str = "public") -> pd.DataFrame:
    """Incidents per district of the primary layer (sensitive categories always included).

    Output: district, count (Int64, NA when suppressed for the public), suppressed. Incidents
    without a neighbourhood are left out.
    """
    access.check_role(role)
    engine = get_engine(engine)
    with engine.connect() as conn:
        layer = resolve_layer(conn, None)
        clauses = filter_clauses(conn, filters)
        if layer is None:
            rows = []
        else:
            stmt = (select(AREAS.c.district, func.sum(inc.count).label("count"))
                    .select_from(INCIDENTS.join(AREAS, AREAS.c.id == inc.neighbourhood_id))
                    .where(*clauses).group_by(AREAS.c.district).order_by(AREAS.c.district))
            rows = conn.execute(stmt).all()
        districts = [] if layer is None else list(conn.execute(
            select(AREAS.c.district).where(AREAS.c.layer_id == layer.id, AREAS.c.active.is_(True),
                                           AREAS.c.district.is_not(None)).distinct()).scalars())
    frame = to_frame(rows, ["district", "count"]).dropna(subset=["district"])
    out = pd.DataFrame({"district": sorted(set(districts) | set(frame["district"]))})
    out["count"] = out["district"].map(frame.set_index("district")["count"]).fillna(0).astype("int64")
    return _finish(out, role, True)


def counts_by_area_month(engine: Engine | None, filters: Filters, role: str = "public") -> pd.DataFrame:
    """Incidents per area and month: every active area x every month of the range, zeros included.

    The range runs from ``filters.start`` (or the first month with data) to ``filters.end``
    (or the last). Output: neighbourhood_id, code, month (datetime64, first day), count
    (Int64, NA when suppressed), suppressed, sensitive_withheld; sorted by code, month.
    """
    access.check_role(role)
    layer = _layer_for(engine, filters)
    areas = _areas_of(engine, layer)[["neighbourhood_id", "code"]]
    split = not access.is_restricted(role)
    if layer is None:
        raw = pd.DataFrame({"neighbourhood_id": pd.Series(dtype="int64"), "month": pd.Series(dtype="datetime64[ns]"),
                            "count": pd.Series(dtype="int64"), "sensitive_count": pd.Series(dtype="int64")})
    else:
        raw = _aggregate(engine, filters, {"neighbourhood_id": _area_key(layer), "month": inc.occurred_month},
                         split, layer, need_area=True)
        raw = raw.dropna(subset=["neighbourhood_id"])
        raw["neighbourhood_id"] = raw["neighbourhood_id"].astype("int64")
        raw["month"] = _month_column(raw["month"])
    combined = access.withhold_sensitive(raw, role)
    months = _month_range(raw, filters)
    grid = pd.MultiIndex.from_product([areas["neighbourhood_id"], months], names=["neighbourhood_id", "month"])
    indexed = combined.set_index(["neighbourhood_id", "month"])
    out = pd.DataFrame(index=grid).reset_index()
    out = out.merge(areas, on="neighbourhood_id", how="left")
    keyed = out.set_index(["neighbourhood_id", "month"]).index
    out["count"] = indexed["count"].reindex(keyed).fillna(0).astype("int64").to_numpy()
    out = out[["neighbourhood_id", "code", "month", "count"]]
    out = out.sort_values(["code", "month"]).reset_index(drop=True)
    return _finish(out, role, True, _any_withheld(combined))


def unsuppressed_counts_by_area_month(engine: Engine | None, filters: Filters) -> pd.DataFrame:
    """TRUE counts per area x month (for trend statistics such as emerging hot spots only).

    Same shape as :func:`counts_by_area_month` for an analyst; see the access rules.
    """
    return counts_by_area_month(engine, filters, role="analyst").drop(columns=["suppressed", "sensitive_withheld"])


# --- city-wide (or selection-wide) tables --------------------------------------------------------------


def _selection_table(engine: Engine | None, filters: Filters, role: str, keys: dict,
                     month_bounds: bool = True) -> pd.DataFrame:
    """Aggregate by ``keys``; when the selection is a few neighbourhoods apply small-area rules."""
    access.check_role(role)
    small = filters.is_area_restricted
    split = small and not access.is_restricted(role)
    raw = _aggregate(engine, filters, keys, split, month_bounds=month_bounds)
    return access.withhold_sensitive(raw, role)


def counts_by_month(engine: Engine | None, filters: Filters, role: str = "public",
                    by_category: bool = False) -> pd.DataFrame:
    """Incidents per month (and per category code with ``by_category``), months without data as 0.

    Output: month (datetime64, first day), [category,] count (Int64), suppressed,
    sensitive_withheld. Suppression applies when the filters select neighbourhoods.
    With ``by_category`` the grid covers the categories with at least one incident.
    """
    # Grouped by month AND category either way: the category-led covering index returns those
    # groups in order (no sort of every row); the monthly totals are then summed here.
    keys = {"month": inc.occurred_month, "category_id": inc.category_id}
    access.check_role(role)
    small = filters.is_area_restricted
    raw = _aggregate(engine, filters, keys, small and not access.is_restricted(role))
    if not by_category:
        raw = raw.groupby("month", as_index=False)[["count", "sensitive_count"]].sum()
    raw = access.withhold_sensitive(raw, role)
    raw["month"] = _month_column(raw["month"])
    months = _month_range(raw, filters)
    if by_category:
        with get_engine(engine).connect() as conn:
            codes = category_frame(conn).set_index("id")["code"]
        raw["category"] = raw["category_id"].map(codes)
        cats = sorted(raw["category"].unique())
        grid = pd.MultiIndex.from_product([months, cats], names=["month", "category"])
        indexed = raw.set_index(["month", "category"])
        cols = ["month", "category"]
    else:
        grid = pd.MultiIndex.from_arrays([months], names=["month"])
        indexed = raw.set_index(["month"])
        cols = ["month"]
    out = pd.DataFrame(index=grid).reset_index()
    out["count"] = indexed["count"].reindex(grid).fillna(0).astype("int64").to_numpy()
    out = out.sort_values(cols).reset_index(drop=True)
    return _finish(out, role, filters.is_area_restricted, _any_withheld(raw))


def counts_by_category(engine: Engine | None, filters: Filters, role: str = "public") -> pd.DataFrame:
    """Incidents per category, every category listed (zeros included), sorted by count then code.

    Output: code, name_es, name_en, iccs_section, sensitive, count (Int64), suppressed.
    """
    access.check_role(role)
    raw = _aggregate(engine, filters, {"category_id": inc.category_id}, False)
    with get_engine(engine).connect() as conn:
        cats = category_frame(conn)
    counts = raw.set_index("category_id")["count"]
    out = cats[["code", "name_es", "name_en", "iccs_section", "sensitive"]].copy()
    out["count"] = cats["id"].map(counts).fillna(0).astype("int64").to_numpy()
    out = out.sort_values(["count", "code"], ascending=[False, True]).reset_index(drop=True)
    return _finish(out, role, filters.is_area_restricted)


def counts_by_hour_weekday(engine: Engine | None, filters: Filters, role: str = "public") -> pd.DataFrame:
    """Incidents per weekday (0 = Monday) and hour (0-23): the full 7 x 24 grid with zeros,
    plus one row per weekday with ``hour`` NA for incidents whose time is unknown.

    Output: weekday (int64), hour (Int64), count (Int64), suppressed, sensitive_withheld.
    """
    access.check_role(role)
    small = filters.is_area_restricted
    # Grouped by day too: ix_incidents_dashboard (occurred_on, weekday, hour, ...) returns those
    # groups in order, where grouping by weekday and hour alone sorts every matching row.
    split = small and not access.is_restricted(role)
    raw = _aggregate(engine, filters, {"weekday": inc.weekday, "hour": inc.hour}, split, month_bounds=False,
                     finer=(inc.occurred_on,))
    raw = raw.groupby(["weekday", "hour"], as_index=False, dropna=False)[["count", "sensitive_count"]].sum()
    raw = access.withhold_sensitive(raw, role)
    raw["hour"] = raw["hour"].astype("Int64")
    raw["weekday"] = raw["weekday"].astype("int64")
    grid = pd.DataFrame([(w, h) for w in range(7) for h in [*range(24), None]], columns=["weekday", "hour"])
    grid["hour"] = grid["hour"].astype("Int64")
    out = grid.merge(raw.drop(columns=["sensitive_withheld"]), on=["weekday", "hour"], how="left")
    out["count"] = out["count"].fillna(0).astype("int64")
    out = out.sort_values(["weekday", "hour"], na_position="last").reset_index(drop=True)
    return _finish(out, role, filters.is_area_restricted, _any_withheld(raw))


def counts_by_day(engine: Engine | None, filters: Filters, role: str = "public",
                  by_category: bool = True) -> pd.DataFrame:
    """Incidents per occurrence date (and category code), only days with incidents.

    Output: occurred_on (datetime64), [category,] count (Int64), suppressed,
    sensitive_withheld; sorted. Feeds the CompStat table.
    """
    keys = {"occurred_on": inc.occurred_on}
    if by_category:
        keys["category_id"] = inc.category_id
    raw = _selection_table(engine, filters, role, keys, month_bounds=False)
    raw["occurred_on"] = _month_column(raw["occurred_on"])
    cols = ["occurred_on"]
    if by_category:
        with get_engine(engine).connect() as conn:
            codes = category_frame(conn).set_index("id")["code"]
        raw["category"] = raw["category_id"].map(codes)
        raw = raw.drop(columns=["category_id"])
        cols.append("category")
    out = raw[[*cols, "count"]].sort_values(cols).reset_index(drop=True)
    return _finish(out, role, filters.is_area_restricted, _any_withheld(raw))


def total(engine: Engine | None, filters: Filters, role: str = "public") -> int | None:
    """Number of incidents matching ``filters`` (None when suppressed for the public)."""
    access.check_role(role)
    small = filters.is_area_restricted
    raw = _aggregate(engine, filters, {}, small and not access.is_restricted(role))
    count = int(access.withhold_sensitive(raw, role)["count"].sum())
    if filters.is_area_restricted and count < access.threshold(role):
        return None
    return count


# --- microdata (restricted) -------------------------------------------------------------------------------


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
    out["occurred_on"] = _month_column(out["occurred_on"])
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
    out["occurred_on"] = _month_column(out["occurred_on"])
    return out
