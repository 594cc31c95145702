"""Recorded-crime aggregates for the dashboard, computed in SQL with ``SUM(count)``.

Every count function takes ``(engine, filters, role="public", ...)`` and returns a DataFrame
whose cells went through ``access.release`` (the public grid, sensitive categories, victim
filters) and ``access.publish`` (cell-key perturbation, suppression): for the public, what
comes back is what may be published. Unassigned incidents (no neighbourhood) count in
city-wide tables but not in area tables. Microdata (points, records) live in ``records``.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select

from observatory.queries import access
from observatory.queries._aggregate import (
    _aggregate,
    _area_key,
    _areas_of,
    _by_area,
    _categories,
    _category_codes,
    _district_of,
    _fill,
    _layer_for,
    _month_column,
    _periods,
    _release,
    _sensitive_codes,
    _sum_cells,
    _to_unit,
)
from observatory.queries._sql import AREAS, INCIDENTS, get_engine, resolve_layer
from observatory.queries.filters import Filters

inc = INCIDENTS.c


# --- area tables ---------------------------------------------------------------------------------------


def true_counts_by_area(engine: Engine | None, filters: Filters, role: str) -> pd.DataFrame:
    """TRUE counts per area of ``filters.layer``: analysts and admins only (``PermissionError``
    for the public). Every active area (neighbourhood_id, code, name, district, population,
    area_km2, count incl. zeros, int64)."""
    access.require_restricted(role, "true counts")
    layer = _layer_for(engine, filters)
    areas = _areas_of(engine, layer)
    if layer is None:
        return areas.assign(count=pd.Series(dtype="int64"))
    out = _fill(areas.copy(), _by_area(engine, filters, layer, False), "neighbourhood_id")
    return out.drop(columns="key_sum").reset_index(drop=True)


def area_counts(engine: Engine | None, filters: Filters, role: str = "public") -> tuple[pd.DataFrame, pd.DataFrame,
                                                                                        int | None]:
    """``(counts_by_area, counts for statistics, total)`` for ``filters``.

    The first and last are what :func:`counts_by_area` and :func:`total` return. The second
    has the columns of :func:`true_counts_by_area` (area_km2 included): for analysts the true
    counts (int64); for the PUBLIC the published counts of the first element (``Int64``, NA
    where suppressed): public statistics are computed from published counts only. Analysts'
    three come from one ``GROUP BY`` area (the unassigned incidents in the NULL group).
    """
    access.check_role(role)
    layer = _layer_for(engine, filters)
    areas = _areas_of(engine, layer)
    if not access.is_restricted(role) or layer is None or not layer.is_primary or filters.is_area_restricted:
        shown = counts_by_area(engine, filters, role)
        if access.is_restricted(role):
            full = true_counts_by_area(engine, filters, role)
        else:
            full = areas.copy()
            full["count"] = full["neighbourhood_id"].map(shown.set_index("neighbourhood_id")["count"])
            full["count"] = full["count"].astype("Int64")
        return shown, full.reset_index(drop=True), total(engine, filters, role)
    raw = _aggregate(engine, filters, {"neighbourhood_id": inc.neighbourhood_id}, False, layer, need_area=True)
    grand_total = int(raw["count"].sum())
    raw = raw.dropna(subset=["neighbourhood_id"])
    raw["neighbourhood_id"] = raw["neighbourhood_id"].astype("int64")
    full = _fill(areas.copy(), raw.set_index("neighbourhood_id"), "neighbourhood_id").drop(columns="key_sum")
    shown = access.publish(full[["neighbourhood_id", "code", "name", "district", "population", "count"]],
                           access.Release(filters))
    return shown.reset_index(drop=True), full.reset_index(drop=True), grand_total


def counts_by_area(engine: Engine | None, filters: Filters, role: str = "public") -> pd.DataFrame:
    """Incidents per area of ``filters.layer`` (primary layer by default), zeros included.

    Output columns: neighbourhood_id, code, name, district, population, count (Int64, NA
    when suppressed), suppressed, sensitive_withheld. One row per active area, sorted by code.
    """
    access.check_role(role)
    rel = _release(engine, filters, role, "area", "window")
    layer = _layer_for(engine, rel.filters)
    areas = _areas_of(engine, layer)[["neighbourhood_id", "code", "name", "district", "population"]]
    if layer is None:
        return access.publish(areas.assign(count=pd.Series(dtype="int64")), rel)
    out = _fill(areas.copy(), _by_area(engine, rel.filters, layer, rel.perturbed), "neighbourhood_id")
    return access.publish(out, rel).reset_index(drop=True)


def counts_by_district(engine: Engine | None, filters: Filters, role: str = "public") -> pd.DataFrame:
    """Incidents per district of the primary layer (a small-area table: suppressed below k).

    Output: district, count (Int64, NA when suppressed for the public), suppressed,
    sensitive_withheld. Incidents without a neighbourhood are left out. Sensitive categories
    are included for the public only over whole quarters (``access``).
    """
    access.check_role(role)
    rel = _release(engine, filters, role, "district", "window")
    engine = get_engine(engine)
    with engine.connect() as conn:
        layer = resolve_layer(conn, None)
        names = [] if layer is None else list(conn.execute(
            select(AREAS.c.district).where(AREAS.c.layer_id == layer.id, AREAS.c.active.is_(True),
                                           AREAS.c.district.is_not(None)).distinct()).scalars())
    if layer is None:
        cells = pd.DataFrame({"district": [], "count": [], "key_sum": []})
    else:
        raw = _by_area(engine, rel.filters, layer, rel.perturbed).reset_index()
        raw["district"] = raw["neighbourhood_id"].map(_district_of(engine))
        cells = _sum_cells(raw.dropna(subset=["district"]), ["district"])
    out = pd.DataFrame({"district": sorted(set(names) | set(cells["district"]))})
    out = _fill(out, cells.set_index("district"), "district")
    return access.publish(out, rel)


def counts_by_area_month(engine: Engine | None, filters: Filters, role: str = "public") -> pd.DataFrame:
    """Incidents per area and month: every active area x every month of the range, zeros included.

    The range runs from ``filters.start`` (or the first month with data) to ``filters.end``
    (or the last). For the public, ``month`` is the first day of each public period (the
    month by default, see ``access``). Output: neighbourhood_id, code, month (datetime64,
    first day), count (Int64, NA when suppressed), suppressed, sensitive_withheld; sorted by
    code, month.
    """
    access.check_role(role)
    rel = _release(engine, filters, role, "area", "period")
    layer = _layer_for(engine, rel.filters)
    areas = _areas_of(engine, layer)[["neighbourhood_id", "code"]]
    if layer is None:
        raw = pd.DataFrame({"neighbourhood_id": pd.Series(dtype="int64"), "month": pd.Series(dtype="datetime64[ns]"),
                            "count": pd.Series(dtype="int64"), "key_sum": pd.Series(dtype="int64")})
    else:
        raw = _aggregate(engine, rel.filters, {"neighbourhood_id": _area_key(layer), "month": inc.occurred_month},
                         rel.perturbed, layer, need_area=True)
        raw = raw.dropna(subset=["neighbourhood_id"])
        raw["neighbourhood_id"] = raw["neighbourhood_id"].astype("int64")
        raw["month"] = _month_column(raw["month"])
        raw = _to_unit(raw, "month", rel.unit, ["neighbourhood_id", "month"])
    months = _periods(raw, rel.filters, rel.unit)
    grid = pd.MultiIndex.from_product([areas["neighbourhood_id"], months], names=["neighbourhood_id", "month"])
    indexed = raw.set_index(["neighbourhood_id", "month"])
    out = pd.DataFrame(index=grid).reset_index().merge(areas, on="neighbourhood_id", how="left")
    keyed = out.set_index(["neighbourhood_id", "month"]).index
    for column in ("count", "key_sum"):
        out[column] = indexed[column].reindex(keyed).fillna(0).astype("int64").to_numpy()
    out = out[["neighbourhood_id", "code", "month", "count", "key_sum"]]
    out = out.sort_values(["code", "month"]).reset_index(drop=True)
    return access.publish(out, rel)


def true_counts_by_area_month(engine: Engine | None, filters: Filters, role: str) -> pd.DataFrame:
    """TRUE counts per area x month (trend statistics such as emerging hot spots): analysts
    and admins only (``PermissionError`` for the public). Same shape as
    :func:`counts_by_area_month` for an analyst, without the flags."""
    access.require_restricted(role, "true counts")
    return counts_by_area_month(engine, filters, role).drop(columns=["suppressed", "sensitive_withheld"])


# --- city-wide (or selection-wide) tables --------------------------------------------------------------


def counts_by_month(engine: Engine | None, filters: Filters, role: str = "public",
                    by_category: bool = False) -> pd.DataFrame:
    """Incidents per month (and per category code with ``by_category``), months without data as 0.

    Output: month (datetime64, first day; for the public the first day of each public
    period), [category,] count (Int64), suppressed, sensitive_withheld. Suppression applies
    when the filters select neighbourhoods or districts, and to sensitive cells.
    With ``by_category`` the grid covers the categories with at least one incident (for the
    public: every selected category).
    """
    # Grouped by month AND category either way: the category-led covering index returns those
    # groups in order (no sort of every row); the monthly totals are then summed here.
    keys = {"month": inc.occurred_month, "category_id": inc.category_id}
    access.check_role(role)
    rel = _release(engine, filters, role, "city", "period")
    raw = _aggregate(engine, rel.filters, keys, rel.perturbed)
    raw["month"] = _month_column(raw["month"])
    if by_category:
        raw["category"] = raw.pop("category_id").map(_category_codes(engine))
        raw = _to_unit(raw, "month", rel.unit, ["month", "category"])
        cols = ["month", "category"]
        # For the public every selected category gets its rows: a row present only where there were
        # incidents would tell a suppressed 1-4 from a zero.
        codes = sorted(raw["category"].unique()) if not rel.perturbed else [
            c for c in access.selected_codes(rel.filters, _categories(engine)) if c != access.NO_CATEGORY]
        grid = pd.MultiIndex.from_product([_periods(raw, rel.filters, rel.unit), codes], names=cols)
    else:
        raw = _to_unit(_sum_cells(raw, ["month"]), "month", rel.unit, ["month"])
        cols = ["month"]
        grid = pd.MultiIndex.from_arrays([_periods(raw, rel.filters, rel.unit)], names=cols)
    indexed = raw.set_index(cols)
    out = pd.DataFrame(index=grid).reset_index()
    for column in ("count", "key_sum"):
        out[column] = indexed[column].reindex(grid).fillna(0).astype("int64").to_numpy()
    out = out.sort_values(cols).reset_index(drop=True)
    sensitive = out["category"].isin(_sensitive_codes(engine)) if by_category and rel.perturbed else None
    return access.publish(out, rel, sensitive)


def counts_by_category(engine: Engine | None, filters: Filters, role: str = "public") -> pd.DataFrame:
    """Incidents per category, every category listed (zeros included), sorted by count then code.

    Output: code, name_es, name_en, iccs_section, sensitive, count (Int64), suppressed,
    sensitive_withheld. For the public the rows of sensitive categories are suppressed below k.
    """
    access.check_role(role)
    rel = _release(engine, filters, role, "city", "window")
    raw = _aggregate(engine, rel.filters, {"category_id": inc.category_id}, rel.perturbed)
    cats = _categories(engine)
    out = cats[["code", "name_es", "name_en", "iccs_section", "sensitive"]].copy()
    out["category_id"] = cats["id"].to_numpy()
    out = _fill(out, raw.set_index("category_id"), "category_id").drop(columns="category_id")
    out = access.publish(out, rel, out["sensitive"] if rel.perturbed else None)
    # Sorted on the published counts: an order by true counts would rank the suppressed cells.
    return out.sort_values(["count", "code"], ascending=[False, True], na_position="last").reset_index(drop=True)


def counts_by_hour_weekday(engine: Engine | None, filters: Filters, role: str = "public") -> pd.DataFrame:
    """Incidents per weekday (0 = Monday) and hour (0-23): the full 7 x 24 grid with zeros,
    plus one row per weekday with ``hour`` NA for incidents whose time is unknown.

    Output: weekday (int64), hour (Int64), count (Int64), suppressed, sensitive_withheld.
    """
    access.check_role(role)
    rel = _release(engine, filters, role, "city", "hour")
    # Grouped by day too: ix_incidents_dashboard (occurred_on, weekday, hour, ...) returns those
    # groups in order, where grouping by weekday and hour alone sorts every matching row.
    raw = _aggregate(engine, rel.filters, {"weekday": inc.weekday, "hour": inc.hour}, rel.perturbed,
                     month_bounds=False, finer=(inc.occurred_on,))
    raw = _sum_cells(raw, ["weekday", "hour"])
    raw["hour"] = raw["hour"].astype("Int64")
    raw["weekday"] = raw["weekday"].astype("int64")
    grid = pd.DataFrame([(w, h) for w in range(7) for h in [*range(24), None]], columns=["weekday", "hour"])
    grid["hour"] = grid["hour"].astype("Int64")
    out = grid.merge(raw, on=["weekday", "hour"], how="left")
    out[["count", "key_sum"]] = out[["count", "key_sum"]].fillna(0).astype("int64")
    out = out.sort_values(["weekday", "hour"], na_position="last").reset_index(drop=True)
    return access.publish(out, rel)


def counts_by_day(engine: Engine | None, filters: Filters, role: str = "public",
                  by_category: bool = True) -> pd.DataFrame:
    """Incidents per occurrence date (and category code), only days with incidents.

    For the PUBLIC there are no day cells: the answer is :func:`counts_by_month` (every public
    period of the window, every selected category, zeros included), ``occurred_on`` the first
    day of each period. Output: occurred_on (datetime64), [category,] count (Int64),
    suppressed, sensitive_withheld; sorted. Feeds the CompStat table.
    """
    access.check_role(role)
    if not access.is_restricted(role):
        return counts_by_month(engine, filters, role, by_category).rename(columns={"month": "occurred_on"})
    keys = {"occurred_on": inc.occurred_on}
    if by_category:
        keys["category_id"] = inc.category_id
    raw = _aggregate(engine, filters, keys, False, month_bounds=False)
    raw["occurred_on"] = _month_column(raw["occurred_on"])
    cols = ["occurred_on"]
    if by_category:
        raw["category"] = raw.pop("category_id").map(_category_codes(engine))
        cols.append("category")
    out = raw[[*cols, "count", "key_sum"]].sort_values(cols).reset_index(drop=True)
    return access.publish(out, access.Release(filters))


def total(engine: Engine | None, filters: Filters, role: str = "public") -> int | None:
    """Number of incidents matching ``filters`` (the published figure for the public; None
    when suppressed)."""
    access.check_role(role)
    rel = _release(engine, filters, role, "city", "window")
    raw = _aggregate(engine, rel.filters, {}, rel.perturbed)
    shown = access.publish(_sum_cells(raw.assign(all=0), ["all"]), rel)["count"].iloc[0]
    return None if pd.isna(shown) else int(shown)
