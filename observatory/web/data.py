"""What the pages show, as DataFrames: the dashboard's only door to the data.

Each function takes a :class:`~observatory.web.state.ViewState` (and the viewer's role), calls
``observatory.queries`` for the aggregates and ``observatory.geo`` / ``observatory.indicators`` for
the statistics, and returns plain DataFrames the figures and tables draw. No SQL and no statistics
are written here; results are cached per filter set and data version (``observatory.web.cache``).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from observatory.db.session import get_engine
from observatory.web.cache import cached
from observatory.web.state import ViewState

_CONF: dict[str, Any] = {"url": None}
_LOCAL: dict[tuple, Any] = {}
_LOCK = threading.Lock()


def configure(database_url: str | None) -> None:
    """Point the dashboard at ``database_url`` (None = ``config.database_url()``)."""
    _CONF["url"] = database_url
    _LOCAL.clear()


def engine():
    """The engine of the configured database."""
    return get_engine(_CONF["url"])


def version() -> str:
    """Data version: changes whenever an import finishes (cache invalidation)."""
    from observatory import queries

    # The URL is part of the key: one process may serve (or test) several databases.
    return f"{engine().url!r}|{queries.data_version(engine())}"


def _memo(key: tuple, build):
    """Per-process memo of heavy, filter-independent objects (areas, weights) per data version."""
    full = (_CONF["url"], version(), *key)
    with _LOCK:
        if full in _LOCAL:
            return _LOCAL[full]
    value = build()
    with _LOCK:
        if len(_LOCAL) > 32:
            _LOCAL.clear()
        _LOCAL[full] = value
    return value


_SCOPE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("observatory_data_scope", default=None)


@contextlib.contextmanager
def shared_scope() -> Iterator[None]:
    """Within this block, data functions compute each shared aggregate once.

    A callback fills several panels from the same filter set (the overview's KPIs and map
    both need the area totals; the trends' monthly series and category breakdown the same
    month x category table). Opening a scope around the callback lets them share it; the
    memo lives only as long as the block (nested scopes reuse the outer one), so it never
    serves data from an earlier request.
    """
    token = _SCOPE.set({}) if _SCOPE.get() is None else None
    try:
        yield
    finally:
        if token is not None:
            _SCOPE.reset(token)


def sharing(fn: Callable) -> Callable:
    """Decorator: run ``fn`` (a callback's body) inside a :func:`shared_scope`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with shared_scope():
            return fn(*args, **kwargs)

    return wrapper


def _shared(name: str, state_json: dict, role: str, build: Callable[[], Any]) -> Any:
    """``build()``, computed once per open :func:`shared_scope` for (name, state, role)."""
    scope = _SCOPE.get()
    if scope is None:
        return build()
    key = (_CONF["url"], name, json.dumps(state_json, sort_keys=True, default=str), role)
    if key not in scope:
        scope[key] = build()
    return scope[key]


# --- filters -----------------------------------------------------------------------------------


def category_sections() -> dict[str, str]:
    """Category code -> ICCS section for every category in the database."""
    frame = categories()
    return dict(zip(frame["code"], frame["iccs_section"].fillna("").astype(str), strict=True))


def to_filters(state: ViewState, neighbourhoods: tuple[str, ...] = ()):
    """The query layer's ``Filters`` for a view state (sections expanded to category codes)."""
    from observatory.queries import Filters

    sections = tuple(c[1:] for c in state.categories if c.startswith("s") and c[1:].isdigit())
    cats = tuple(c for c in state.categories if not (c.startswith("s") and c[1:].isdigit()))
    return Filters(
        start=dt.date.fromisoformat(state.date_from) if state.date_from else None,
        end=dt.date.fromisoformat(state.date_to) if state.date_to else None,
        categories=cats,
        sections=sections,
        source_kinds=() if state.source == "both" else (state.source,),
        districts=(state.district,) if state.district else (),
        neighbourhoods=neighbourhoods,
        sex=(state.sex,) if state.sex else (),
        age_groups=(state.age,) if state.age else (),
    )


@cached(version)
def categories() -> pd.DataFrame:
    """Categories: code, name_es, name_en, iccs_section, sensitive."""
    from observatory import queries

    return queries.categories(engine())


@cached(version)
def filter_options(lang: str) -> dict:
    """Choices of the shared filters: categories grouped by ICCS section, districts, date bounds."""
    from observatory import queries
    from observatory.taxonomy import ICCS_SECTIONS

    cats = categories()
    name_col = "name_en" if lang == "en" else "name_es"
    choices: list[tuple[str, str]] = []
    for section in sorted(cats["iccs_section"].dropna().unique()):
        names = ICCS_SECTIONS.get(section, (section, section))
        choices.append((f"s{section}", f"{section} · {names[1] if lang == 'en' else names[0]}"))
        for _, row in cats[cats["iccs_section"] == section].sort_values(name_col).iterrows():
            choices.append((row["code"], f"\u2003{row[name_col]}"))
    for _, row in cats[cats["iccs_section"].isna()].iterrows():
        choices.append((row["code"], row[name_col]))
    bounds = queries.date_bounds(engine())
    low, high = (bounds if isinstance(bounds, tuple) else (None, None))
    return {
        "categories": choices,
        "districts": [str(d) for d in queries.districts(engine())["district"]],
        "date_min": low.isoformat() if low is not None else None,
        "date_max": high.isoformat() if high is not None else None,
    }


def category_names(lang: str) -> dict[str, str]:
    """Category code -> display name in ``lang``."""
    cats = categories()
    return dict(zip(cats["code"], cats["name_en" if lang == "en" else "name_es"], strict=True))


def is_demo() -> bool:
    """True when the database holds the synthetic demo city (then every page says so)."""
    return _memo(("demo",), _is_demo)


def _is_demo() -> bool:
    try:
        from observatory.demo import is_demo as demo_check  # engineer F's marker, when it exists
    except ImportError:
        demo_check = None
    if demo_check is not None:
        return bool(demo_check(engine()))
    from observatory import queries

    history = queries.import_history(engine())
    if history.empty:
        return False
    # The demo writes its files under data/demo/ with "demo" in their names and profiles.
    cols = [c for c in ("file_name", "profile", "layer") if c in history.columns]
    text = history[cols].fillna("").astype(str).to_numpy().ravel()
    return any("demo" in value.lower() for value in text)


# --- areas -------------------------------------------------------------------------------------


def areas():
    """Active areas of the primary layer (GeoDataFrame, EPSG:4326), memoised per data version."""
    from observatory import queries

    return _memo(("areas",), lambda: queries.areas(engine()).reset_index(drop=True))


def areas_geojson() -> dict:
    """GeoJSON of the primary areas keyed by id, simplified for display.

    Memoised by the areas' fingerprint, not the data version: an incident import does not rebuild it.
    """
    from observatory.geo.memo import layer_memo
    from observatory.web.figures import geojson_of

    gdf = areas()

    def build() -> dict:
        if gdf.empty:
            return {"type": "FeatureCollection", "features": []}
        minx, miny, maxx, maxy = gdf.total_bounds
        tolerance = max(maxx - minx, maxy - miny) / 3000  # about a pixel on a full-screen map
        return geojson_of(gdf, simplify=tolerance)

    # Keyed by the fingerprint of the very frame it is built from (ids and shapes): never stale.
    return layer_memo.get(("geojson", layer_memo.fingerprint(gdf, "id")), build)


GEOJSON_ROUTE = "/_observatory/areas.geojson"


def areas_geojson_ref() -> str:
    """URL of the areas GeoJSON served by the app, versioned by the areas' fingerprint: a boundary
    import busts the browser's cache, an incident import keeps it (the polygons did not change)."""
    from observatory.geo.memo import layer_memo

    return f"{GEOJSON_ROUTE}?v={layer_memo.fingerprint(areas(), 'id')[:12]}"


def areas_bounds() -> tuple[float, float, float, float] | None:
    """Bounds of the primary areas (degrees) or None without areas."""
    gdf = areas()
    return None if gdf.empty else tuple(float(v) for v in gdf.total_bounds)


def _weights():
    """Queen contiguity weights (binary) of the primary areas, in ``areas()`` row order.

    Memoised by the areas' fingerprint, not the data version: incident imports do not rebuild them,
    and concurrent first requests share one build (``observatory.geo.memo.LayerMemo``).
    """
    from observatory.geo import build_weights
    from observatory.geo.memo import layer_memo

    gdf = areas()
    key = ("weights", "queen", "B", layer_memo.fingerprint(gdf, "id"))
    return layer_memo.get(key, lambda: build_weights(gdf, "queen", transform="B"))


def warm_areas(background: bool = False) -> threading.Thread | None:
    """Prepare what the first map needs before anyone asks: the primary areas, their queen weights,
    their display GeoJSON, and the import of ``observatory.geo`` (SciPy, esda, libpysal, mapclassify:
    about 0.9 s once per process, the largest single cost of a cold first page on real data).

    Input: ``background`` runs it in a daemon thread (returned; None otherwise). Output: nothing; the
    objects land in the memos the request path reads. At app start call it in the foreground (about
    1.1 s for Mexico City's 847 quadrants): importing modules in a thread while a request imports
    others can meet Python's import-lock deadlock detection. After a boundary import (modules already
    loaded) the background is fine: a request arriving meanwhile waits for the build in progress
    instead of repeating it. Errors are logged, never raised: the request path builds the same
    objects again and reports the problem there.
    """
    import logging

    def run() -> None:
        try:
            from observatory import geo  # noqa: F401  (the import is the point: pay it before a request)

            if len(areas()) >= 3:  # as _area_stats: fewer areas get no Gi*, hence no weights
                _weights()
            areas_geojson()
        except Exception:  # a warm-up must never take the app down
            logging.getLogger(__name__).exception("warming the areas failed")

    if not background:
        run()
        return None
    thread = threading.Thread(target=run, name="observatory-warm-areas", daemon=True)
    thread.start()
    return thread


def warm_incident_cube() -> None:
    """Start building the in-memory incident cube of the current data (``queries.cube``).

    In the default ``background`` mode this returns at once (a thread builds it: about 4 s per
    2 million incidents, while requests are answered in SQL); in ``sync`` mode it builds now.
    """
    from observatory.queries import cube

    try:
        cube.current_cube(engine())
    except Exception:  # a warm-up must never take the app down: the SQL path still answers
        import logging

        logging.getLogger(__name__).exception("warming the incident cube failed")


def warm_up(after_boundaries: bool = False) -> None:
    """Prepare the first requests' objects: at app start (areas in the foreground, the incident
    cube in the background) or after an import (both in the background; ``after_boundaries``
    also rebuilds the areas' weights and GeoJSON)."""
    if after_boundaries:
        warm_areas(background=True)
    warm_incident_cube()


@cached(version)
def _area_stats(state_json: dict, role: str, with_moran: bool) -> pd.DataFrame:
    from observatory import geo

    gdf = areas()
    counts, full, _ = _area_counts(state_json, role)
    keep = ["neighbourhood_id", "count", *(["suppressed"] if "suppressed" in counts else [])]
    frame = gdf[["id", "code", "name", "district", "population"]].merge(
        counts[keep], left_on="id", right_on="neighbourhood_id", how="left"
    ).drop(columns="neighbourhood_id")
    # True counts for the derived statistics only (rates, Gi*, Moran); never shown as counts.
    n = frame["id"].map(full.set_index("neighbourhood_id")["count"].astype(float)).fillna(0).astype(float)
    rates = geo.eb_rates(n, frame["population"])
    frame["rate"] = rates["rate"].to_numpy()
    frame["smoothed"] = rates["eb_rate"].to_numpy()
    frame["gi_z"], frame["gi_class"], frame["moran"] = np.nan, "not significant", "not significant"
    if len(frame) >= 3 and n.sum() > 0:
        stat = gdf[["geometry"]].assign(n=n.to_numpy(), v=frame["rate"].fillna(0).to_numpy())
        gi = geo.gi_star(stat, "n", weights=_weights())
        frame["gi_z"] = gi["gi_z"].to_numpy()
        frame["gi_class"] = gi["hotspot_class"].to_numpy()
        if with_moran:
            # Moran on rates when populations are known (counts otherwise): clusters of risk, not of size.
            column = "v" if frame["population"].fillna(0).gt(0).all() else "n"
            mo = geo.local_moran(stat, column, weights=_weights(), permutations=199, seed=1)
            frame["moran"] = mo["cluster"].to_numpy()
    # A rate times the (public) population gives the count back: where the role's count is
    # suppressed, rates are withheld too. Classes (Gi*, Moran) stay: they reveal no count.
    hidden = frame["count"].isna()
    frame.loc[hidden, ["rate", "smoothed"]] = np.nan
    return frame


def _area_counts(state_json: dict, role: str) -> tuple[pd.DataFrame, pd.DataFrame, int | None]:
    """(role's counts per area, TRUE counts per area, role's total) from one aggregate
    (``queries.area_counts``), shared within a :func:`shared_scope`. The true counts feed
    derived statistics only (rates, Gi*, Moran): tables and hover use the role's counts."""
    from observatory import queries

    return _shared("area_counts", state_json, role, lambda: queries.area_counts(
        engine(), to_filters(ViewState.from_dict(state_json)), role))


def area_stats(state: ViewState, role: str = "public", with_moran: bool = False) -> pd.DataFrame:
    """Per area: id, code, name, district, population, count (role-filtered), rate per 100k,
    smoothed (EB) rate, gi_z, gi_class (Esri classes), moran (local Moran cluster label, only
    computed ``with_moran``: 199 permutations cost more than everything else together)."""
    return _area_stats(_key(state), role, with_moran)


def _key(state: ViewState) -> dict:
    """The cache key part of a view state: language and presentation do not change data."""
    data = state.to_dict()
    for name in ("lang", "present", "layer", "area"):
        data.pop(name)
    return data


# --- maps: emerging hotspots, heat layer, points ------------------------------------------------

EMERGING_CATEGORIES: tuple[str, ...] = ("new", "intensifying", "persistent", "diminishing", "sporadic", "none")


@cached(version)
def _emerging(state_json: dict) -> dict:
    from observatory import geo, queries

    state = ViewState.from_dict(state_json)
    counts = queries.unsuppressed_counts_by_area_month(engine(), to_filters(state))
    gdf = areas()
    if counts.empty or counts["month"].nunique() < 2 or len(gdf) < 3:
        return {}
    indexed = gdf.set_index("id")
    result = geo.emerging_hotspots(counts.rename(columns={"neighbourhood_id": "area"}), indexed,
                                   weights=_weights())
    return {int(k): v for k, v in result["category"].items()}


def emerging(state: ViewState, role: str = "public") -> dict:
    """Area id -> emerging hot-spot category (Mann-Kendall trend + Gi* history, ``geo.emerging``).

    Derived from true monthly counts: only the categories are published, never the counts.
    """
    return _emerging(_key(state))


def density_points(state: ViewState, role: str = "public") -> pd.DataFrame:
    """Weighted points for the heat layer: incident points for analysts; for the public, area
    centroids weighted by their published (suppressed) counts, so no location is revealed."""
    pts = points(state, role)
    if not pts.empty:
        return pts[["lon", "lat"]].assign(weight=1.0)
    stats = area_stats(state, role)
    gdf = areas()
    cent = gdf.geometry.representative_point()
    frame = pd.DataFrame({"lon": cent.x.to_numpy(), "lat": cent.y.to_numpy(),
                          "weight": pd.to_numeric(stats["count"], errors="coerce").fillna(0).to_numpy(dtype=float)})
    return frame[frame["weight"] > 0]


def points(state: ViewState, role: str = "public", limit: int = 50_000) -> pd.DataFrame:
    """Incident points the viewer may see (none for the public), with hover ``text``."""
    from observatory import queries

    pts = queries.points(engine(), to_filters(state), role, limit=limit)
    if pts.empty:
        return pts.assign(text=pd.Series(dtype=str))
    names = category_names(state.lang)
    pts = pts.copy()
    pts["text"] = (pts["category"].map(names).fillna(pts["category"]).astype(str) + " · "
                   + pd.to_datetime(pts["occurred_on"]).dt.strftime("%Y-%m-%d"))
    return pts


# --- series and tables ---------------------------------------------------------------------------


@cached(version)
def _monthly(state_json: dict, role: str) -> pd.DataFrame:
    from observatory.indicators.timeseries import monthly_series

    series = _city_monthly(state_json, role)
    if series.empty:
        return series
    # Suppressed months (NA) become NaN: unknown, not zero.
    return monthly_series(series.assign(count=pd.to_numeric(series["count"]).astype("float64")))


def monthly(state: ViewState, role: str = "public") -> pd.DataFrame:
    """Monthly series (``indicators.timeseries.monthly_series``): month, count, ma3, ma12,
    previous_year, expected, lower, upper (seasonal 95% band), flag ("above"/"below"/"")."""
    return _monthly(_key(state), role)


@cached(version)
def _hour_weekday(state_json: dict, role: str) -> pd.DataFrame:
    from observatory import queries

    frame = queries.counts_by_hour_weekday(engine(), to_filters(ViewState.from_dict(state_json)), role)
    frame = frame.dropna(subset=["hour"])
    return frame.astype({"hour": "int64"})[["weekday", "hour", "count"]]


def hour_weekday(state: ViewState, role: str = "public") -> pd.DataFrame:
    """Counts by weekday (0 = Monday) and hour (0-23), incidents with a known time."""
    return _hour_weekday(_key(state), role)


def _city_category_month(state_json: dict, role: str) -> pd.DataFrame:
    """``queries.counts_by_month(..., by_category=True)`` of the view's filters (no area
    selection), shared within a :func:`shared_scope`: the monthly series, the category
    breakdown and the profile's city figures are all sums of it."""
    from observatory import queries

    state_json = {k: v for k, v in state_json.items() if k != "area"}
    return _shared("category_month", state_json, role, lambda: queries.counts_by_month(
        engine(), to_filters(ViewState.from_dict(state_json)), role, by_category=True))


def _city_monthly(state_json: dict, role: str) -> pd.DataFrame:
    """Monthly counts (month, count) of the view's filters: ``queries.counts_by_month`` summed
    from :func:`_city_category_month` (no area selection, so no cell is suppressed)."""
    from observatory import queries

    by_category = _city_category_month(state_json, role)
    if by_category.empty:  # no incident: the query still lists the months of the range
        state = ViewState.from_dict({k: v for k, v in state_json.items() if k != "area"})
        return queries.counts_by_month(engine(), to_filters(state), role)[["month", "count"]]
    out = by_category.groupby("month", as_index=False, sort=True)["count"].sum()
    out["count"] = out["count"].astype("Int64")
    return out[["month", "count"]]


def _city_categories(state_json: dict, role: str) -> pd.DataFrame:
    """Counts per category (code, name_es, name_en, count; every category, sorted by count
    then code) like ``queries.counts_by_category``, summed from :func:`_city_category_month`."""
    sums = _city_category_month(state_json, role).groupby("category")["count"].sum()
    out = categories()[["code", "name_es", "name_en"]].copy()
    out["count"] = out["code"].map(sums).fillna(0).astype("int64").astype("Int64")
    return out.sort_values(["count", "code"], ascending=[False, True]).reset_index(drop=True)


@cached(version)
def _category_month(state_json: dict, role: str) -> pd.DataFrame:
    return _city_category_month(state_json, role)[["month", "category", "count"]]


def category_month(state: ViewState, role: str = "public") -> pd.DataFrame:
    """Counts by month and category code."""
    return _category_month(_key(state), role)


@cached(version)
def _compstat(state_json: dict, role: str) -> pd.DataFrame:
    from observatory import queries
    from observatory.indicators.compstat import compstat as compstat_table
    from observatory.web.state import replace_state

    state = ViewState.from_dict(state_json)
    as_of = _as_of(state)
    if as_of is None:
        return pd.DataFrame()
    # Only the days of the CompStat periods and their year-ago twins are read, not two years.
    parts = [queries.counts_by_day(engine(), to_filters(replace_state(state, date_from=start.isoformat(),
                                                                      date_to=end.isoformat())),
                                   role, by_category=False) for start, end in compstat_windows(as_of)]
    days = pd.concat(parts, ignore_index=True) if any(len(p) for p in parts) else parts[0]
    if days.empty:
        # No incident in the periods: a table of zeros if the two years hold any, else nothing.
        days = queries.counts_by_day(engine(), to_filters(replace_dates(state, years_back=2)), role,
                                     by_category=False)
        if days.empty:
            return pd.DataFrame()
    table = compstat_table(days.assign(category="total"), as_of, total=False)
    return table.drop(columns=["category"])


def compstat(state: ViewState, role: str = "public") -> pd.DataFrame:
    """CompStat periods (week, last 28 days, year to date) against a year before, for the
    selection (``indicators.compstat``): period, start, end, prev_start, prev_end, current,
    previous, change, pct_change, p_value, significant, direction."""
    return _compstat(_key(state), role)


def compstat_windows(as_of: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Inclusive date ranges covering every CompStat period ending ``as_of`` and its year-ago
    twin: [previous, current] when they are apart, one range when they touch or overlap."""
    from observatory.indicators.compstat import PERIODS, period_bounds

    bounds = [period_bounds(as_of, period) for period in PERIODS]
    current = (min(b[0][0] for b in bounds), max(b[0][1] for b in bounds))
    previous = (min(b[1][0] for b in bounds), max(b[1][1] for b in bounds))
    if previous[1] >= current[0] - dt.timedelta(days=1):
        return [(min(previous[0], current[0]), max(previous[1], current[1]))]
    return [previous, current]


def replace_dates(state: ViewState, years_back: int) -> ViewState:
    """``state`` widened back ``years_back`` years before its end so year-ago periods are included."""
    from observatory.web.state import replace_state

    if not state.date_to:
        return replace_state(state, date_from=None)
    end = dt.date.fromisoformat(state.date_to)
    return replace_state(state, date_from=end.replace(year=end.year - years_back, day=min(end.day, 28)).isoformat())


def _as_of(state: ViewState) -> dt.date | None:
    """The CompStat reference day: the end of the chosen period or the last day with data."""
    if state.date_to:
        return dt.date.fromisoformat(state.date_to)
    from observatory import queries

    bounds = queries.date_bounds(engine())
    return bounds[1] if isinstance(bounds, tuple) else None


@cached(version)
def _risers(state_json: dict, role: str) -> pd.DataFrame:
    from observatory import queries
    from observatory.indicators.compstat import change_test, percent_change
    from observatory.web.state import replace_state

    state = ViewState.from_dict(state_json)
    as_of = _as_of(state)
    if as_of is None:
        return pd.DataFrame()
    current_start = as_of - dt.timedelta(days=364)
    previous_end = current_start - dt.timedelta(days=1)
    previous_start = previous_end - dt.timedelta(days=364)
    cur = queries.counts_by_area(engine(), to_filters(replace_state(
        state, date_from=current_start.isoformat(), date_to=as_of.isoformat())), role)
    prev = queries.counts_by_area(engine(), to_filters(replace_state(
        state, date_from=previous_start.isoformat(), date_to=previous_end.isoformat())), role)
    out = cur[["code", "name", "district", "count"]].rename(columns={"count": "current"}).merge(
        prev[["code", "count"]].rename(columns={"count": "previous"}), on="code")
    # Suppressed (public, < k) counts cannot be ranked: such areas are left out, not guessed.
    out = out.dropna(subset=["current", "previous"])
    if out.empty:
        return out
    out["current"], out["previous"] = out["current"].astype(int), out["previous"].astype(int)
    out["change"] = out["current"] - out["previous"]
    # Rank by the size of the rise; the exact test is run only for the ten shown.
    out = out[out["change"] > 0].sort_values(["change", "code"], ascending=[False, True]).head(10).copy()
    out["pct_change"] = [percent_change(c, p) for c, p in zip(out["current"], out["previous"], strict=True)]
    out["p_value"] = [change_test(c, p) for c, p in zip(out["current"], out["previous"], strict=True)]
    out["significant"] = out["p_value"] < 0.05
    return out.reset_index(drop=True)


def risers(state: ViewState, role: str = "public") -> pd.DataFrame:
    """The ten areas whose last 12 months rose most over the 12 before (with significance)."""
    return _risers(_key(state), role)


@cached(version)
def _total(state_json: dict, role: str) -> int | None:
    from observatory import queries

    if _SCOPE.get() is not None:
        # In a callback that also draws the map (the overview): the total comes with the area totals.
        return _area_counts(state_json, role)[2]
    return queries.total(engine(), to_filters(ViewState.from_dict(state_json)), role)


def kpis(state: ViewState, role: str = "public", cs: pd.DataFrame | None = None) -> dict:
    """Key figures: total, rate per 100k, change vs last year (pct, p), high fear, victimisation.

    ``cs`` is the CompStat table when the caller already has it (the year-to-date row is used).
    """
    total = _total(_key(state), role)
    population = areas()["population"].sum() if len(areas()) else 0
    cs = compstat(state, role) if cs is None else cs
    ytd = cs[cs["period"] == "ytd"] if not cs.empty else cs
    survey = survey_headline(state)
    return {
        "total": total,
        "rate": (total / population * 1e5) if total is not None and population else None,
        "change_pct": float(ytd["pct_change"].iloc[0]) if len(ytd) else None,
        "change_p": float(ytd["p_value"].iloc[0]) if len(ytd) else None,
        **survey,
    }


# --- surveys -------------------------------------------------------------------------------------


@cached(version)
def survey_persons(district: str | None = None) -> pd.DataFrame:
    """Person-level survey responses of every wave (items as columns), optionally one district.

    Adds ``wave`` (wave name) and ``area`` (neighbourhood code) columns when available.
    """
    from observatory import queries

    waves = queries.survey_waves(engine())
    if waves.empty:
        return pd.DataFrame()
    frame = queries.survey_responses(engine(), unit="person")
    if frame.empty:
        return frame
    if "wave" not in frame.columns:
        for name in ("wave_name", "wave_id"):
            if name in frame.columns:
                frame = frame.rename(columns={name: "wave"})
                break
    for name in ("neighbourhood_code", "neighbourhood", "code", "area_code"):
        if name in frame.columns:
            frame = frame.assign(area=frame[name])
            break
    if district and "district" in frame.columns:
        frame = frame[frame["district"] == district]
    return frame.reset_index(drop=True)


def wave_order() -> list[str]:
    """Wave names oldest first."""
    from observatory import queries

    waves = queries.survey_waves(engine())
    if waves.empty:
        return []
    sort_col = "period_start" if "period_start" in waves else "name"
    return [str(w) for w in waves.sort_values([sort_col, "name"])["name"]]


def latest_wave(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the newest wave present in ``frame``."""
    if frame.empty or "wave" not in frame:
        return frame
    order = [w for w in wave_order() if w in set(frame["wave"].astype(str))] or sorted(frame["wave"].astype(str))
    return frame[frame["wave"].astype(str) == order[-1]]


def survey_headline(state: ViewState) -> dict:
    """Newest wave's share in high fear and victimisation (None without a survey)."""
    from observatory.indicators import fear, survey

    persons = latest_wave(survey_persons(state.district))
    if persons.empty:
        return {"fear_high": None, "victimisation": None, "survey_wave": None}
    fi = fear.fear_index(persons)
    high = fi[fi["fear_level"] == "high"]["estimate"]
    vict = survey.victimisation_prevalence(persons)["estimate"] if "victim_any" in persons else pd.Series([])
    return {
        "fear_high": float(high.iloc[0]) if len(high) else None,
        "victimisation": float(vict.iloc[0]) if len(vict) else None,
        "survey_wave": str(persons["wave"].iloc[0]) if "wave" in persons else None,
    }


def fear_levels(state: ViewState, by: str | None) -> pd.DataFrame:
    """Fear index shares (low/medium/high, 95% CI) of the newest wave, overall or by ``by``;
    ``by="wave"`` compares the waves."""
    from observatory.indicators import fear

    persons = survey_persons(state.district)
    if persons.empty:
        return pd.DataFrame()
    if by != "wave":
        persons = latest_wave(persons)
    if by and by not in persons:
        return pd.DataFrame()
    return fear.fear_index(persons, by=by)


def fear_shares(state: ViewState, by: str) -> pd.DataFrame:
    """Wide table: group, low, medium, high shares (from :func:`fear_levels`)."""
    long = fear_levels(state, by)
    if long.empty:
        return pd.DataFrame(columns=["group", "low", "medium", "high"])
    wide = long.pivot_table(index=by, columns="fear_level", values="estimate", aggfunc="first").reset_index()
    wide = wide.rename(columns={by: "group"})
    for level in ("low", "medium", "high"):
        if level not in wide:
            wide[level] = 0.0
    if by == "wave":
        order = {w: i for i, w in enumerate(wave_order())}
        wide = wide.sort_values("group", key=lambda s: s.astype(str).map(order))
    wide["group"] = wide["group"].astype(str)
    return wide[["group", "low", "medium", "high"]].reset_index(drop=True)


SURVEY_INDICATORS: tuple[str, ...] = (
    "victimisation", "unsafe_city", "unsafe_neighbourhood", "crime_rising", "reporting", "dark_figure",
    "trust_police", "trust_municipality",
)


def survey_indicators(state: ViewState) -> pd.DataFrame:
    """Per wave and indicator: estimate, ci_low, ci_high, n, n_eff, unreliable (indicators.survey)."""
    from observatory.indicators import survey

    persons = survey_persons(state.district)
    if persons.empty:
        return pd.DataFrame()
    makers = {
        "victimisation": lambda f: survey.victimisation_prevalence(f, by="wave"),
        "unsafe_city": lambda f: survey.insecurity_perception(f, "city", by="wave"),
        "unsafe_neighbourhood": lambda f: survey.insecurity_perception(f, "neighbourhood", by="wave"),
        "crime_rising": lambda f: survey.crime_rising_perception(f, by="wave"),
        "reporting": lambda f: survey.reporting_rate(f[f.get("victim_any", 0) == 1], by="wave"),
        "dark_figure": lambda f: survey.dark_figure(f[f.get("victim_any", 0) == 1], "dane", by="wave"),
        "trust_police": lambda f: survey.trust(f, "police", by="wave"),
        "trust_municipality": lambda f: survey.trust(f, "municipality", by="wave"),
    }
    parts = []
    for name, make in makers.items():
        try:
            part = make(persons)
        except KeyError:  # the survey did not ask this item
            continue
        parts.append(part.assign(indicator=name))
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    cols = ["indicator", "wave", "estimate", "ci_low", "ci_high", "n", "n_eff", "unreliable"]
    return out[cols]


def recorded_vs_survey(state: ViewState, role: str = "public") -> pd.DataFrame:
    """Per neighbourhood of the newest wave: recorded rate per 100k and survey victimisation (CI)."""
    from observatory.indicators import survey

    persons = latest_wave(survey_persons(state.district))
    if persons.empty or "area" not in persons or "victim_any" not in persons:
        return pd.DataFrame()
    vict = survey.victimisation_prevalence(persons, by="area")
    stats = area_stats(state, role)[["code", "name", "rate"]]
    out = stats.merge(vict, left_on="code", right_on="area", how="inner")
    return out[["code", "name", "rate", "estimate", "ci_low", "ci_high", "n", "unreliable"]]


# --- data page -----------------------------------------------------------------------------------


def import_history() -> pd.DataFrame:
    """Import batches, newest first."""
    from observatory import queries

    return queries.import_history(engine())


def rejected_rows(limit: int = 500) -> pd.DataFrame:
    """Rejected input rows with file, line, field and reason."""
    from observatory import queries

    return queries.rejected_rows(engine(), limit=limit)


def unknown_labels() -> pd.DataFrame:
    """Source labels that mapped to no category, with counts."""
    from observatory import queries

    return queries.unknown_labels(engine())


def unassigned_summary() -> pd.DataFrame:
    """Incidents without a neighbourhood, by reason/source."""
    from observatory import queries

    return queries.unassigned_summary(engine())


# --- neighbourhood profile -----------------------------------------------------------------------


def area_row(state: ViewState) -> pd.Series | None:
    """The primary-layer area chosen in ``state.area`` (id or code), or None."""
    if not state.area:
        return None
    gdf = areas()
    if gdf.empty:
        return None
    match = gdf[gdf["id"].astype(str) == str(state.area)]
    if match.empty:
        match = gdf[gdf["code"].astype(str) == str(state.area)]
    return None if match.empty else match.iloc[0]


def area_options() -> list[dict]:
    """Dropdown options of the primary areas (value = id, label = name · code)."""
    gdf = areas()
    if gdf.empty:
        return []
    frame = gdf[["id", "code", "name"]].sort_values("name")
    return [{"label": f"{n} · {c}", "value": str(i)} for i, c, n in frame.itertuples(index=False)]


@cached(version)
def _area_monthly(state_json: dict, role: str) -> pd.DataFrame:
    from observatory import queries

    state = ViewState.from_dict(state_json)
    row = area_row(state)
    if row is None:
        return pd.DataFrame(columns=["month", "area_count", "area_rate", "city_count", "city_rate"])
    city = _city_monthly(state_json, role)
    local = queries.counts_by_month(engine(), to_filters(state, (str(row["code"]),)), role)[["month", "count"]]
    out = city.rename(columns={"count": "city_count"}).merge(
        local.rename(columns={"count": "area_count"}), on="month", how="left")
    population = areas()["population"].sum()
    out["area_rate"] = out["area_count"].astype(float) / row["population"] * 1e5 if row["population"] else np.nan
    out["city_rate"] = out["city_count"].astype(float) / population * 1e5 if population else np.nan
    return out[["month", "area_count", "area_rate", "city_count", "city_rate"]]


def area_monthly(state: ViewState, role: str = "public") -> pd.DataFrame:
    """Monthly counts and rates per 100k of the chosen area and of the city (area NA = suppressed)."""
    return _area_monthly(_key(state) | {"area": state.area}, role)


@cached(version)
def _area_categories(state_json: dict, role: str) -> pd.DataFrame:
    from observatory import queries

    state = ViewState.from_dict(state_json)
    row = area_row(state)
    if row is None:
        return pd.DataFrame(columns=["code", "name_es", "name_en", "area_count", "area_share", "city_share"])
    city = _city_categories(state_json, role)
    local = queries.counts_by_category(engine(), to_filters(state, (str(row["code"]),)), role)
    out = city[["code", "name_es", "name_en", "count"]].rename(columns={"count": "city_count"}).merge(
        local[["code", "count"]].rename(columns={"count": "area_count"}), on="code", how="left")
    city_total = pd.to_numeric(out["city_count"], errors="coerce").sum()
    area_total = pd.to_numeric(out["area_count"], errors="coerce").sum()
    out["city_share"] = pd.to_numeric(out["city_count"], errors="coerce") / city_total if city_total else np.nan
    out["area_share"] = pd.to_numeric(out["area_count"], errors="coerce") / area_total if area_total else np.nan
    out = out[(out["city_count"].fillna(0) > 0) | (out["area_count"].fillna(0) > 0)]
    return out[["code", "name_es", "name_en", "area_count", "area_share", "city_share"]].reset_index(drop=True)


def area_categories(state: ViewState, role: str = "public") -> pd.DataFrame:
    """Category mix of the chosen area against the city's (shares of each total)."""
    return _area_categories(_key(state) | {"area": state.area}, role)


def area_fear(state: ViewState) -> dict:
    """High-fear share of the chosen area and of the city (newest wave) with the area's reliability."""
    persons = latest_wave(survey_persons(state.district))
    row = area_row(state)
    if persons.empty or row is None or "area" not in persons:
        return {}
    from observatory.indicators import fear

    city = fear.fear_index(persons)
    local = fear.fear_index(persons[persons["area"].astype(str) == str(row["code"])]) if (
        persons["area"].astype(str) == str(row["code"])).any() else pd.DataFrame()
    high_city = city[city["fear_level"] == "high"]
    high_area = local[local["fear_level"] == "high"] if not local.empty else local
    return {
        "city": float(high_city["estimate"].iloc[0]) if len(high_city) else None,
        "area": float(high_area["estimate"].iloc[0]) if len(high_area) else None,
        "unreliable": bool(high_area["unreliable"].iloc[0]) if len(high_area) else True,
    }


# --- plan targets and interventions --------------------------------------------------------------

TARGET_KINDS: tuple[str, ...] = ("rate_per_100k", "count")
TARGET_COLUMNS: list[str] = ["id", "indicator", "kind", "category", "scope", "baseline_value", "baseline_on",
                             "target_value", "target_on", "current_value", "current_on", "progress",
                             "expected_progress", "status"]


def _scope_filter(scope: str) -> tuple[dict, float]:
    """Filters keyword and population of a target's ``scope``: "city", a district or an area code."""
    gdf = areas()
    population = pd.to_numeric(gdf["population"], errors="coerce") if len(gdf) else pd.Series(dtype=float)
    if scope in ("", "city"):
        return {}, float(population.sum())
    in_district = gdf["district"].astype(str) == scope if len(gdf) else pd.Series(dtype=bool)
    if in_district.any():
        return {"districts": (scope,)}, float(population[in_district].sum())
    in_area = gdf["code"].astype(str) == scope if len(gdf) else pd.Series(dtype=bool)
    return {"neighbourhoods": (scope,)}, float(population[in_area].sum())


@cached(version)
def _plan_targets(role: str) -> pd.DataFrame:
    from observatory import queries
    from observatory.indicators.targets import target_progress
    from observatory.queries import Filters

    stored = queries.targets(engine())
    if stored.empty:
        return pd.DataFrame(columns=TARGET_COLUMNS)
    bounds = queries.date_bounds(engine())
    last = bounds[1] if isinstance(bounds, tuple) else None
    rows = []
    for target in stored.itertuples(index=False):
        kind, _, category = str(target.indicator).partition(":")
        value = None
        if last is not None and kind in TARGET_KINDS and category:
            # The current value is the last 12 months of data, as the plan's baselines are annual.
            scope_kw, population = _scope_filter(str(target.scope))
            filters = Filters(start=last - dt.timedelta(days=364), end=last, categories=(category,), **scope_kw)
            count = queries.total(engine(), filters, role)  # None when suppressed for the role
            if count is not None:
                value = float(count) if kind == "count" else (count / population * 1e5 if population else None)
        rows.append({"indicator": target.indicator, "scope": target.scope, "current_value": value,
                     "current_on": last if value is not None else None})
    out = target_progress(stored, pd.DataFrame(rows))
    parts = out["indicator"].astype(str).str.partition(":")
    out["kind"], out["category"] = parts[0], parts[2]
    return out[TARGET_COLUMNS].reset_index(drop=True)


def plan_targets(role: str = "public") -> pd.DataFrame:
    """Progress of every stored plan target (``indicators.targets.target_progress``).

    Indicators are ``rate_per_100k:<category>`` (recorded incidents per 100,000 inhabitants of
    the scope) or ``count:<category>``; the scope is "city", a district or an area code. The
    current value is the last 12 months of data (both sources) ending at the last day with data;
    counts the role may not see give ``no data``. Columns: id, indicator, kind, category, scope,
    baseline_value, baseline_on, target_value, target_on, current_value, current_on, progress
    (0 at baseline, 1 at target), expected_progress, status (achieved, on track, off track, no data).
    """
    return _plan_targets(role)


INTERVENTION_COLUMNS: list[str] = ["id", "name", "started_on", "ended_on", "area_codes", "months_before",
                                   "months_after", "rr", "rr_low", "rr_high", "effect_pct", "p_value",
                                   "significant", "verdict"]


def intervention_verdict(rr: float, significant: bool) -> str:
    """Plain verdict of a ratio of ratios: ``drop``, ``rise`` (significant either way) or ``no_change``."""
    if rr is None or pd.isna(rr) or not significant:
        return "no_change"
    return "drop" if rr < 1 else "rise"


# The page filters the intervention panel cannot apply: each intervention's start fixes its period
# (12 months either side) and its areas against every other area fix the geography.
INTERVENTION_UNAPPLIED: tuple[str, ...] = ("dates", "district")


def intervention_unapplied_filters(state: ViewState) -> list[str]:
    """The filters set in ``state`` that the intervention panel does not apply (``dates``, ``district``).

    Categories, source and victim sex and age do apply: they choose which incidents are counted.
    """
    chosen = {"dates": bool(state.date_from or state.date_to), "district": bool(state.district)}
    return [name for name in INTERVENTION_UNAPPLIED if chosen[name]]


def _intervention_key(state: ViewState | None) -> dict:
    """The part of a view state the intervention panel applies (its cache key)."""
    state = state or ViewState()
    return {"categories": list(state.categories), "source": state.source, "sex": state.sex, "age": state.age}


@cached(version)
def _intervention_results(state_json: dict, role: str) -> pd.DataFrame:
    from observatory import queries
    from observatory.indicators.intervention import evaluate_intervention
    from observatory.queries.access import threshold

    stored = queries.interventions(engine())
    if stored.empty:
        return pd.DataFrame(columns=INTERVENTION_COLUMNS)
    # True counts of the chosen categories, source and victims (no dates, no district: see
    # INTERVENTION_UNAPPLIED): only the ratio and its interval are published.
    area_month = queries.unsuppressed_counts_by_area_month(engine(), to_filters(ViewState.from_dict(state_json)))
    # The ratio and its interval give the four counts back (Var log RR = 1/T0 + 1/T1 + 1/C0 + 1/C1): a
    # narrow filter must not publish counts the role would see suppressed, so those results are withheld.
    smallest = threshold(role)
    gdf = areas()
    population = pd.to_numeric(gdf.set_index(gdf["code"].astype(str))["population"], errors="coerce")
    population = population if population.notna().all() and (population > 0).all() else None
    rows = []
    for item in stored.itertuples(index=False):
        ended = None if item.ended_on is None or pd.isna(item.ended_on) else item.ended_on
        row = {"id": item.id, "name": item.name, "started_on": item.started_on, "ended_on": ended,
               "area_codes": ", ".join(item.area_codes)}
        try:
            result = evaluate_intervention(area_month, list(item.area_codes), item.started_on, ended_on=ended,
                                           population=population).iloc[0]
        except ValueError:  # no treated/comparison areas or no months on one side of the start
            rows.append(row | {"verdict": "insufficient"})
            continue
        counts = result[["treated_before", "treated_after", "comparison_before", "comparison_after"]]
        if smallest and float(counts.min()) < smallest:
            rows.append(row | {"verdict": "withheld"})
            continue
        rows.append(row | {k: result[k] for k in ("months_before", "months_after", "rr", "rr_low", "rr_high",
                                                  "effect_pct", "p_value")}
                    | {"significant": bool(result["significant"]),
                       "verdict": intervention_verdict(result["rr"], bool(result["significant"]))})
    return pd.DataFrame(rows).reindex(columns=INTERVENTION_COLUMNS)


def intervention_results(state: ViewState | None = None, role: str = "public") -> pd.DataFrame:
    """Before/after result of every stored intervention against all other areas
    (``indicators.intervention.evaluate_intervention``, 12 months each side).

    Counts the incidents of ``state``'s categories, source, victim sex and age (all incidents
    without a state); its period and district do not apply (:func:`intervention_unapplied_filters`).
    Columns: id, name, started_on, ended_on, area_codes (comma-separated), months_before,
    months_after, rr (ratio of ratios), rr_low, rr_high (95% CI), effect_pct, p_value,
    significant, verdict (``drop``, ``no_change``, ``rise``, ``insufficient`` data, or
    ``withheld`` when a count behind the ratio is below the role's suppression threshold).
    """
    return _intervention_results(_intervention_key(state), role)


# --- perception map ------------------------------------------------------------------------------

UNRELIABLE_MAJORITY = 0.5  # above this share of unreliable neighbourhood estimates the map goes by district


def fear_map_levels(state: ViewState) -> tuple[pd.DataFrame, str]:
    """High-fear share (newest wave) per neighbourhood, or per district when most neighbourhood
    estimates are unreliable (too few respondents): returns (frame, level) with level "area" or
    "district" and frame columns group, estimate, ci_low, ci_high, n, unreliable."""
    cols = ["group", "estimate", "ci_low", "ci_high", "n", "unreliable"]
    by_area = fear_levels(state, "area")
    if by_area.empty:
        return pd.DataFrame(columns=cols), "area"
    high = by_area[by_area["fear_level"] == "high"].rename(columns={"area": "group"})
    level = "area"
    if high["unreliable"].fillna(True).astype(bool).mean() > UNRELIABLE_MAJORITY:
        by_district = fear_levels(state, "district")
        if not by_district.empty:
            high = by_district[by_district["fear_level"] == "high"].rename(columns={"district": "group"})
            level = "district"
    high = high.assign(group=high["group"].astype(str))
    return high.reindex(columns=cols).reset_index(drop=True), level
