"""Building the incident cube (``queries.cube``): the class and the one read of the incidents' aggregate
columns it is made from."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import Connection, func, select

from observatory.config import disclosure_policy
from observatory.db.models import ImportBatch
from observatory.queries import cellkey
from observatory.queries._sql import AREAS, INCIDENTS, Layer, area_frame, category_frame, primary_layer

_EPOCH = np.datetime64("1970-01-01", "D")
_BATCHES = ImportBatch.__table__
_LOAD_CHUNK = 250_000
inc = INCIDENTS.c


@dataclass(frozen=True)
class IncidentCube:
    """Aggregate columns of every incident, sorted by ``day`` (see the module docstring).

    Arrays (one element per incident): ``day`` (int16 or int32, days since 1970-01-01), ``hour``
    (int8, -1 = unknown), ``weekday`` (int8, 0 = Monday), ``category`` (category id),
    ``area`` (int32 primary-layer neighbourhood id, -1 = unassigned), ``source``, ``sex``,
    ``age`` (int8 codes into ``sources``, ``sexes``, ``ages``; -1 = NULL), ``count``
    (int32), ``noise_key`` (uint8, :func:`cellkey.noise_keys` of the id with ``salt``).
    Lookups: ``categories`` (id, code, iccs_section, sensitive) and
    ``primary_areas`` (id, code, district) of the primary layer at build time; ``layer``
    (that primary layer) and ``areas`` (its active areas as ``_sql.area_frame`` returns them).
    Derived at build time (:func:`_derived`): ``by_area`` (row positions sorted by area, then
    day) with ``area_keys`` (the distinct ``area`` values, sorted) and ``area_bounds`` (rows of ``area_keys[j]`` are
    ``by_area[area_bounds[j]:area_bounds[j + 1]]``). ``day``, ``area`` and ``count`` are int16
    when every value fits (days: 1880-04 to 2059-09), else int32.
    """

    version: str
    day: np.ndarray
    hour: np.ndarray
    weekday: np.ndarray
    category: np.ndarray
    area: np.ndarray
    source: np.ndarray
    sex: np.ndarray
    age: np.ndarray
    count: np.ndarray
    noise_key: np.ndarray
    sources: tuple[str, ...]
    sexes: tuple[str, ...]
    ages: tuple[str, ...]
    categories: pd.DataFrame
    primary_areas: pd.DataFrame
    layer: Layer | None = None
    areas: pd.DataFrame | None = None
    salt: int = 0
    build_seconds: float = 0.0
    by_area: np.ndarray | None = None
    area_keys: np.ndarray | None = None
    area_bounds: np.ndarray | None = None
    # Rows per category id over the whole cube (``cube._category_share``).
    category_rows: np.ndarray | None = None
    # The month (months since 1970-01) of each day from the first stored day to the last: a GROUP
    # BY month looks each selected day up instead of converting it.
    month_of_day: np.ndarray | None = None
    # (lowest value, number of values) of each groupable column over the whole cube: the ranges a
    # large grouping counts over without first finding its rows' own (``_cube_cells.grouped``).
    domains: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        """Number of incidents held."""
        return int(self.day.size)

    @property
    def nbytes(self) -> int:
        """Memory held by the arrays, in bytes."""
        return sum(a.nbytes for a in (self.day, self.hour, self.weekday, self.category, self.area, self.source,
                                      self.sex, self.age, self.count, self.noise_key, self.by_area,
                                      self.area_keys, self.area_bounds, self.category_rows, self.month_of_day)
                   if a is not None)


# --- building ------------------------------------------------------------------------------------------


def incidents_version(conn: Connection) -> str:
    """The incidents' version: count, newest id and newest finish time of finished batches.

    Every importer (and ``alias add``) closes a batch, so this changes whenever stored
    incidents can have changed. It is the incident part of ``queries.data_version``.
    """
    row = conn.execute(select(func.count(), func.max(_BATCHES.c.id), func.max(_BATCHES.c.finished_at))
                       .where(_BATCHES.c.status != "running")).one()
    return f"{row[0]}-{row[1]}-{row[2].isoformat() if row[2] else ''}"


def _codes(values: tuple, labels: dict[str, int]) -> np.ndarray:
    """Small-integer codes of string ``values`` (``None`` -> -1), extending ``labels`` in place."""
    local, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
    for value in uniques:
        if value not in labels:
            if len(labels) >= 127:
                raise ValueError("too many distinct values for an incident cube column")
            labels[value] = len(labels)
    remap = np.array([labels[v] for v in uniques] + [-1], dtype=np.int8)
    return remap[local]  # local code -1 (NULL) picks the trailing -1


def _days(values: tuple) -> np.ndarray:
    """Days since 1970-01-01 of ISO strings (SQLite) or ``date`` objects (PostgreSQL).

    Rows come in date order, so there are few distinct dates: parse each once.
    """
    local, uniques = pd.factorize(np.asarray(values, dtype=object))
    parsed = np.array([str(u)[:10] for u in uniques], dtype="datetime64[D]") - _EPOCH
    return parsed.astype(np.int32)[local]


def _ints(values: tuple, dtype: type, missing: int = -1) -> np.ndarray:
    """Integers of ``values`` as ``dtype`` with ``None`` -> ``missing``."""
    floats = np.array(values, dtype=np.float64)  # None becomes NaN here, in C
    return np.where(np.isnan(floats), missing, floats).astype(dtype)


def build_cube(conn: Connection, version: str, salt: int | None = None) -> IncidentCube:
    """Read every incident's aggregate columns through ``conn`` into an :class:`IncidentCube`.

    Reads ``ix_incidents_dashboard`` (led by ``occurred_on`` and covering every column read)
    in date order, in chunks, through the driver directly: SQLAlchemy's per-row date
    processing would triple the load time. ``version`` is the tag to store (read before);
    ``salt`` the noise-key salt (default: the disclosure policy's).
    """
    started = time.perf_counter()
    salt = disclosure_policy().key_salt if salt is None else int(salt)
    stmt = (select(inc.occurred_on, inc.hour, inc.weekday, inc.category_id, inc.neighbourhood_id, inc.source_kind,
                   inc.victim_sex, inc.victim_age_group, inc.count, inc.id).order_by(inc.occurred_on))
    sql = str(stmt.compile(dialect=conn.dialect))
    labels: list[dict[str, int]] = [{}, {}, {}]
    parts: list[list[np.ndarray]] = [[] for _ in range(10)]
    cursor = conn.connection.cursor()  # the driver's own cursor: plain tuples, no Row objects
    cursor.execute(sql)
    while chunk := cursor.fetchmany(_LOAD_CHUNK):
        day, hour, weekday, category, area, source, sex, age, count, ids = zip(*chunk, strict=True)
        parts[0].append(_days(day))
        parts[1].append(_ints(hour, np.int8))
        parts[2].append(np.array(weekday, dtype=np.int8))
        parts[3].append(np.array(category, dtype=np.int32))
        parts[4].append(_ints(area, np.int32))
        parts[5].append(_codes(source, labels[0]))
        parts[6].append(_codes(sex, labels[1]))
        parts[7].append(_codes(age, labels[2]))
        parts[8].append(_ints(count, np.int32, missing=0))
        parts[9].append(cellkey.noise_keys(np.array(ids, dtype=np.int64), salt))
    cursor.close()
    dtypes = [np.int32, np.int8, np.int8, np.int32, np.int32, np.int8, np.int8, np.int8, np.int32, np.uint8]
    arrays = [np.concatenate(p) if p else np.empty(0, dtype=t) for p, t in zip(parts, dtypes, strict=True)]
    for column in (0, 3, 4, 8):  # day, category, area, count: 16 bits when every value fits
        if arrays[column].size and np.iinfo(np.int16).min < int(arrays[column].min()) \
                and int(arrays[column].max()) < np.iinfo(np.int16).max:
            arrays[column] = arrays[column].astype(np.int16)
    categories = category_frame(conn)  # the SQL path's frame, names included: tables need no other read
    layer = primary_layer(conn)
    area_rows = [] if layer is None else conn.execute(
        select(AREAS.c.id, AREAS.c.code, AREAS.c.district).where(AREAS.c.layer_id == layer.id)).all()
    primary_areas = pd.DataFrame([tuple(r) for r in area_rows], columns=["id", "code", "district"])
    names = [tuple(sorted(d, key=d.get)) for d in labels]
    return IncidentCube(version, *arrays, sources=names[0], sexes=names[1], ages=names[2],
                        categories=categories, primary_areas=primary_areas, layer=layer,
                        areas=None if layer is None else area_frame(conn, layer), salt=salt,
                        **_derived(arrays), build_seconds=time.perf_counter() - started)


def _derived(arrays: list[np.ndarray]) -> dict:
    """What a cube derives from its columns at build time (see :class:`IncidentCube`): the area
    index, the rows per category, the month of each day and each groupable column's range.

    Why the area index: a neighbourhood filter otherwise tests every row of the window for a few
    hundred rows.
    """
    day, hour, weekday, category, area = arrays[:5]
    # A stable sort keeps each area's rows in date order (the cube's own order).
    order = np.argsort(area, kind="stable").astype(np.int32 if area.size < 2**31 else np.int64)
    keys, starts = np.unique(area[order], return_index=True)
    first, last = (int(day[0]), int(day[-1])) if day.size else (0, 0)
    month_of_day = _month_of_days(np.arange(first, last + 1, dtype=np.int64))

    def domain(values: np.ndarray) -> tuple[int, int]:
        low = int(values.min()) if values.size else 0
        return low, (int(values.max()) - low + 1) if values.size else 1

    return {"by_area": order, "area_keys": keys, "area_bounds": np.append(starts, area.size).astype(order.dtype),
            "category_rows": np.bincount(category[category >= 0].astype(np.int64)), "month_of_day": month_of_day,
            "domains": {"day": domain(day), "month": domain(month_of_day if day.size else day), "hour": domain(hour),
                        "weekday": domain(weekday), "category": domain(category), "area": domain(area)}}


def _month_of_days(days: np.ndarray) -> np.ndarray:
    """Months since 1970-01 (int64) of days since 1970-01-01."""
    return days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
