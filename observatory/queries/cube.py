"""An in-memory, column-wise copy of the incidents' aggregate columns: the dashboard's fast path.

Why it exists: a dashboard callback needs several ``SUM(count) ... GROUP BY`` aggregates over
ranges of up to three years. SQLite reads about 100 ns per matching row even from a covering
index, so on 2,000,000 incidents one callback spends 0.4-0.5 s in SQL alone. Held as NumPy
arrays sorted by occurrence date, a date range is a slice, every other filter is a table
lookup and a ``GROUP BY`` is a ``bincount``: the same aggregate takes a few milliseconds.

What it holds: for each incident only the columns the aggregates filter and group on
(occurrence date, hour, weekday, category, primary-layer area, source kind, victim sex and
age band, count) and its noise key (``cellkey``, computed from the id at build time; the id
itself is not kept), and the incidents' positions ordered by area (a neighbourhood's rows are
then a few slices instead of a test of every row in the window): about 18 bytes per incident
(36 MB for 2 million; days, areas and counts are held in 16 bits when their values fit). No
identifiers, coordinates, addresses or free text: microdata queries always go to the database.

Consistency: a cube is built from one database state and tagged with the incidents'
version (the finished import batches, the same signal the response cache uses; every
change to stored incidents goes through a batch). A query uses the cube only when its tag
equals the database's current version; otherwise it answers in SQL and, in ``background``
mode, a new cube is built in a thread. ``OBSERVATORY_CUBE``: ``background`` (default),
``sync`` (build on first use, then answer; used by the tests and the benchmark) or ``off``.
``OBSERVATORY_CUBE_MAX_ROWS`` (default 20,000,000) caps the size; above it SQL answers.

The answers are the SQL path's answers, frame for frame (tests/test_queries_cube.py checks
every aggregate of the query layer both ways on SQLite and PostgreSQL).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import logging
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Engine, func, select
from sqlalchemy.sql.elements import ColumnElement

from observatory.config import disclosure_policy
from observatory.queries._cube_build import _EPOCH, _month_of_days
from observatory.queries._cube_build import IncidentCube as IncidentCube
from observatory.queries._cube_build import build_cube as build_cube
from observatory.queries._cube_build import incidents_version as incidents_version
from observatory.queries._cube_cells import (
    Cells,
    category_set,
    derive,
    grouped,
    widened_columns,
    widens,
    without_categories,
)
from observatory.queries._sql import INCIDENTS
from observatory.queries.filters import Filters

log = logging.getLogger(__name__)

# --- answering -----------------------------------------------------------------------------------------

# Incident columns a cube can group by, and how each is read from it.
_GROUPABLE = {"occurred_on": "day", "occurred_month": "month", "neighbourhood_id": "area",
              "category_id": "category", "weekday": "weekday", "hour": "hour"}


def can_group_by(columns: list[ColumnElement]) -> bool:
    """Whether every column in ``columns`` is an incidents column the cube holds."""
    return all(getattr(c, "table", None) is INCIDENTS and c.name in _GROUPABLE for c in columns)


def _lookup(size: int, allowed: list[int], offset: int = 0) -> np.ndarray:
    """Boolean table ``t`` with ``t[v + offset]`` True for ``v`` in ``allowed``."""
    table = np.zeros(size, dtype=bool)
    if allowed:
        table[np.asarray(allowed, dtype=np.int64) + offset] = True
    return table


def _code_table(names: tuple[str, ...], wanted: tuple[str, ...]) -> np.ndarray:
    """Lookup indexed by ``code + 1`` (code -1 = NULL, never wanted) for the ``wanted`` labels."""
    return _lookup(len(names) + 1, [names.index(w) for w in wanted if w in names], offset=1)


def _day_number(cube: IncidentCube, day: dt.date) -> np.integer:
    """Days since 1970-01-01 as the cube's own dtype (a wider value would copy the column to compare),
    clipped to that dtype's range: every stored day lies strictly inside it, so a search finds the same
    position."""
    info = np.iinfo(cube.day.dtype)
    number = int((np.datetime64(day, "D") - _EPOCH).astype(np.int64))
    return cube.day.dtype.type(min(max(number, info.min), info.max))


def _wanted_areas(cube: IncidentCube, filters: Filters) -> list[int] | None:
    """Ids of the primary areas the filters' districts and neighbourhoods select (None: no area filter)."""
    if not (filters.districts or filters.neighbourhoods):
        return None
    areas = cube.primary_areas
    keep = pd.Series(True, index=areas.index)
    if filters.districts:
        keep &= areas["district"].isin(filters.districts)
    if filters.neighbourhoods:
        keep &= areas["code"].isin(filters.neighbourhoods)
    return [int(i) for i in areas.loc[keep, "id"]]


def _area_rows(cube: IncidentCube, wanted: list[int], window: slice) -> np.ndarray | None:
    """Positions of the rows of areas ``wanted`` within the date ``window`` (any order), from the
    area index; None when the areas hold more than a quarter of the window (a mask is cheaper)."""
    if cube.by_area is None or cube.area_keys is None or cube.area_bounds is None:
        return None
    ids = np.unique(np.asarray(wanted, dtype=np.int64))
    at = np.searchsorted(cube.area_keys, ids)
    found = at[(at < cube.area_keys.size)]
    found = found[cube.area_keys[found] == ids[at < cube.area_keys.size]]
    starts, ends = cube.area_bounds[found], cube.area_bounds[found + 1]
    if int((ends - starts).sum()) * 4 > window.stop - window.start:
        return None
    positions = np.concatenate([cube.by_area[a:b] for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
                               + [np.empty(0, dtype=cube.by_area.dtype)])
    return positions[(positions >= window.start) & (positions < window.stop)]


def selection(cube: IncidentCube, filters: Filters) -> tuple[slice | np.ndarray, np.ndarray | None]:
    """Rows matching ``filters``: a date slice of the cube (or, for a few areas, the positions of
    their rows in it, from the area index) and a mask within it (None = all).

    Same rows as ``_sql.filter_clauses``: categories OR sections, source kinds, districts and
    neighbourhoods of the primary layer, victim sex and age band (NULL never matches).
    """
    lo = 0 if filters.start is None else int(np.searchsorted(cube.day, _day_number(cube, filters.start), "left"))
    hi = cube.rows if filters.end is None else int(np.searchsorted(cube.day, _day_number(cube, filters.end), "right"))
    rows: slice | np.ndarray = slice(lo, max(lo, hi))
    wanted = _wanted_areas(cube, filters)
    few = None if wanted is None else _area_rows(cube, wanted, rows)
    if few is not None:
        rows = few
    mask: np.ndarray | None = None

    def narrow(keep: np.ndarray) -> None:
        nonlocal mask
        mask = keep if mask is None else (mask & keep)

    if filters.categories or filters.sections:
        cats = cube.categories
        ids = cats.loc[cats["code"].isin(filters.categories) | cats["iccs_section"].isin(filters.sections), "id"]
        table = _lookup(int(max(cats["id"].max(), 0)) + 1 if len(cats) else 1, [int(i) for i in ids])
        narrow(table[cube.category[rows]])
    if filters.source_kinds and set(filters.source_kinds) != {"complaint", "police"}:
        narrow(_code_table(cube.sources, filters.source_kinds)[cube.source[rows] + 1])
    if wanted is not None and few is None:
        areas = cube.primary_areas
        size = int(max(areas["id"].max() if len(areas) else 0, cube.area.max() if cube.rows else 0)) + 2
        narrow(_lookup(size, wanted, offset=1)[cube.area[rows] + 1])
    if filters.sex:
        narrow(_code_table(cube.sexes, filters.sex)[cube.sex[rows] + 1])
    if filters.age_groups:
        narrow(_code_table(cube.ages, filters.age_groups)[cube.age[rows] + 1])
    return rows, mask


def _key_values(cube: IncidentCube, name: str, rows: slice | np.ndarray) -> np.ndarray:
    """The selected rows' values of groupable column ``name`` (-1 = NULL), in the cube's own
    integer type (a view for a slice of rows)."""
    source = _GROUPABLE[name]
    if source != "month":
        return getattr(cube, source)[rows]
    if cube.month_of_day is None or not cube.rows:  # a cube made without its lookup
        return _month_of_days(cube.day[rows])
    # Days offset from the first stored one stay within the day column's own type.
    return cube.month_of_day[cube.day[rows] - cube.day.dtype.type(cube.day[0])]


def _decode(name: str, values: np.ndarray) -> pd.Series:
    """Group key values as the SQL path returns them: ISO dates, NaN for NULL areas and hours."""
    if name in ("occurred_on", "occurred_month"):
        unit = "M" if name == "occurred_month" else "D"
        dates = values.astype(f"datetime64[{unit}]").astype("datetime64[D]")
        return pd.Series(np.datetime_as_string(dates, unit="D"), dtype=object)
    if name in ("neighbourhood_id", "hour") and (values < 0).any():
        return pd.Series(np.where(values < 0, np.nan, values.astype(np.float64)))
    return pd.Series(values, dtype=np.int64)


def aggregate(cube: IncidentCube, filters: Filters, keys: dict[str, ColumnElement],
              with_keys: bool) -> pd.DataFrame:
    """``SUM(count)`` of the rows matching ``filters`` grouped by ``keys`` (output name -> column).

    Returns the columns ``list(keys) + ["count", "key_sum"]`` with one row per group that has
    at least one incident (one row in all when ``keys`` is empty), like the SQL path;
    ``key_sum`` is the sum of the group's noise keys when ``with_keys``, else 0. Rows are
    sorted by the keys.
    """
    names = list(keys)
    values, sums, key_sums = _cells(cube, filters, tuple(keys[name].name for name in names), with_keys)
    if not names:
        return pd.DataFrame({"count": [int(np.rint(sums[0]))], "key_sum": [int(np.rint(key_sums[0]))]},
                            dtype="int64")
    frame = pd.DataFrame({name: _decode(keys[name].name, column)
                          for name, column in zip(names, values, strict=True)})
    frame["count"] = np.rint(sums).astype(np.int64)
    frame["key_sum"] = np.rint(key_sums).astype(np.int64)
    return frame


def _category_share(cube: IncidentCube, wanted: frozenset[int]) -> float:
    """Share of the cube's rows whose category is in ``wanted`` (from the rows per category)."""
    per = cube.category_rows
    if per is None:  # a cube made without it
        per = np.bincount(cube.category[cube.category >= 0].astype(np.int64))
    ids = np.fromiter((i for i in wanted if 0 <= i < per.size), dtype=np.int64)
    return float(per[ids].sum()) / max(cube.rows, 1)


def _cells(cube: IncidentCube, filters: Filters, columns: tuple[str, ...], with_keys: bool) -> Cells:
    """(each column's value per group, the groups' count sums, their noise-key sums) of the rows
    matching ``filters``, grouped by incident ``columns`` (no column: one group of every row).

    Inside a :func:`pinned` block the cells of every aggregate are kept, and a later aggregate of
    the same rows, coarser or over fewer categories, is derived from them (:mod:`_cube_cells`).
    A selection of most categories is read for every category, grouped by category too, and
    narrowed from those cells: cheaper than masking the window, and kept for the next tables.
    """
    memo = _CELLS.get()
    wanted = category_set(cube.categories, filters)
    slot = (id(cube), without_categories(filters), with_keys)
    if memo is not None:
        for owner, kept, kept_set, cells in memo.get(slot, ()):
            found = derive(kept, kept_set, cells, columns, wanted) if owner is cube else None
            if found is not None:
                return found
    scan, scan_set = (filters, columns), wanted
    if wanted is not None and widens(_category_share(cube, wanted), wanted, columns):
        scan, scan_set = (without_categories(filters), widened_columns(columns)), None
    cells = _scan(cube, *scan, with_keys)
    if memo is not None:
        memo.setdefault(slot, []).append((cube, scan[1], scan_set, cells))
    if scan_set is wanted:
        return cells
    found = derive(scan[1], scan_set, cells, columns, wanted)
    assert found is not None  # a widened scan holds every category, grouped by category
    return found


def _scan(cube: IncidentCube, filters: Filters, columns: tuple[str, ...], with_keys: bool) -> Cells:
    """The cells of the rows matching ``filters`` grouped by ``columns``, read from the rows."""
    rows, mask = selection(cube, filters)
    if mask is not None:
        # Positions instead of a mask: NumPy gathers by index about ten times faster than it filters a
        # column by a mask that keeps every other row (four columns are read).
        picked = np.flatnonzero(mask)
        rows = picked + rows.start if isinstance(rows, slice) else rows[picked]
    counts = cube.count[rows]
    noise = cube.noise_key[rows] if with_keys else np.zeros(0)
    if columns:
        sources = [_GROUPABLE[c] for c in columns]
        domains = [cube.domains[k] for k in sources] if all(k in cube.domains for k in sources) else None
        return grouped([_key_values(cube, c, rows) for c in columns], counts, noise, domains)
    return [], np.array([counts.sum(dtype=np.int64)], dtype=np.float64), \
        np.array([noise.sum(dtype=np.int64)], dtype=np.float64)


# --- the per-process registry --------------------------------------------------------------------------


@dataclass
class _Registry:
    cubes: dict[str, IncidentCube] = field(default_factory=dict)
    building: set[str] = field(default_factory=set)
    failed: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


_REGISTRY = _Registry()


def mode() -> str:
    """``OBSERVATORY_CUBE``: ``background`` (default), ``sync`` or ``off``."""
    value = os.environ.get("OBSERVATORY_CUBE", "background").strip().lower() or "background"
    if value not in ("background", "sync", "off"):
        raise ValueError(f"OBSERVATORY_CUBE={value!r}: use background, sync or off")
    return value


def _max_rows() -> int:
    return int(os.environ.get("OBSERVATORY_CUBE_MAX_ROWS", "20000000"))


def _engine_key(engine: Engine) -> str:
    # The full URL (a PostgreSQL search_path option included) names one database.
    return engine.url.render_as_string(hide_password=True)


def _build_and_store(engine: Engine, key: str) -> IncidentCube | None:
    """Build the cube of ``engine``'s current data and register it (None when too large or failed)."""
    try:
        with engine.connect() as conn:
            version = incidents_version(conn)
            rows = conn.execute(select(func.count()).select_from(INCIDENTS)).scalar_one()
            if rows > _max_rows():
                _REGISTRY.failed[key] = version
                log.info("incident cube not built: %s rows > OBSERVATORY_CUBE_MAX_ROWS", rows)
                return None
            cube = build_cube(conn, version)
            # An import that finished during the load may or may not be in what was read: drop it.
            if incidents_version(conn) != version:
                return None
    except Exception:  # the SQL path answers; a broken cube must never break a page
        log.exception("incident cube build failed")
        return None
    finally:
        with _REGISTRY.lock:
            _REGISTRY.building.discard(key)
    with _REGISTRY.lock:
        _REGISTRY.cubes[key] = cube
    log.info("incident cube: %s rows, %.1f MB, built in %.2f s", cube.rows, cube.nbytes / 1e6, cube.build_seconds)
    return cube


_PINNED: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("observatory_cube_pinned",
                                                                              default=None)
_CELLS: contextvars.ContextVar[dict | None] = contextvars.ContextVar("observatory_cube_cells", default=None)


@contextlib.contextmanager
def pinned() -> Iterator[None]:
    """Within this block, each database's incidents version is read once (the first time), and
    aggregates of the same rows share their cells (:func:`_cells`).

    Why: one dashboard callback asks for the cube some twenty times, and each ask read the version
    from the database (about a millisecond); its tables are often coarser sums of one another (a
    category table and the total of the same selection). Pinned, the callback's aggregates also
    all come from one state of the data, even if an import finishes meanwhile. Nested blocks share
    the outer pin; the kept cells live only as long as the block.
    """
    outer = _PINNED.get() is not None
    tokens = None if outer else (_PINNED.set({}), _CELLS.set({}))
    try:
        yield
    finally:
        if tokens is not None:
            _CELLS.reset(tokens[1])
            _PINNED.reset(tokens[0])


def _current_version(engine: Engine, key: str) -> str:
    """:func:`incidents_version` of ``engine``, read once per :func:`pinned` block."""
    pins = _PINNED.get()
    if pins is not None and key in pins:
        return pins[key]
    with engine.connect() as conn:
        version = incidents_version(conn)
    if pins is not None:
        pins[key] = version
    return version


def current_cube(engine: Engine, how: str | None = None) -> IncidentCube | None:
    """The cube of ``engine``'s current data, or None (then the caller answers in SQL).

    ``how`` (default: :func:`mode`): ``sync`` builds a missing or outdated cube now;
    ``background`` starts a thread that builds it and returns None until it is ready; ``off``
    always returns None. While another thread builds the same cube, None.
    """
    how = how or mode()
    if how == "off":
        return None
    key = _engine_key(engine)
    version = _current_version(engine, key)
    with _REGISTRY.lock:
        cube = _REGISTRY.cubes.get(key)
        # A cube built with another noise-key salt (the setting changed) is outdated too.
        if cube is not None and cube.version == version and cube.salt == disclosure_policy().key_salt:
            return cube
        if _REGISTRY.failed.get(key) == version or key in _REGISTRY.building:
            return None
        _REGISTRY.building.add(key)
    if how == "sync":
        cube = _build_and_store(engine, key)
        return cube if cube is not None and cube.version == version else None
    threading.Thread(target=_build_and_store, args=(engine, key), name="incident-cube", daemon=True).start()
    return None


def warm(engine: Engine) -> IncidentCube | None:
    """Build (or confirm) ``engine``'s cube now, whatever the mode but ``off``; returns it."""
    return None if mode() == "off" else current_cube(engine, "sync")


def forget(engine: Engine | None = None) -> None:
    """Drop the cube of ``engine`` (every cube when None): frees its memory."""
    with _REGISTRY.lock:
        if engine is None:
            _REGISTRY.cubes.clear()
            _REGISTRY.failed.clear()
        else:
            _REGISTRY.cubes.pop(_engine_key(engine), None)
            _REGISTRY.failed.pop(_engine_key(engine), None)
