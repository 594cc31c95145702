"""Assign incidents to the areas of every boundary layer: by point, else by declared code or name.

Input is a DataFrame of records with ``lon``/``lat`` (WGS84 degrees, NaN when missing) and the area a
record declares (``declared_area_code``, ``declared_area_name``). Output is, for the primary layer, the
neighbourhood id and how it was found (``point``, ``code``, ``name``, ``fuzzy_name``), and for each
secondary layer (police quadrants, districts...) the area id.

Rules, in order:

1. Point in polygon with a sort-based spatial index (see :func:`_point_hits`), predicate
   ``intersects`` so that a point exactly on an edge is not lost; a point on a border shared by several
   areas goes to the area with the smallest id, so each point gets one area and the choice is stable.
2. A point that falls in no area of any layer (or whose latitude is out of range) but whose swapped
   lat/lon does, is swapped and flagged ``swapped``.
3. Records without usable coordinates, or whose point falls in no area of a layer, are assigned by the
   declared code (accents/case ignored, numeric codes compared without zero padding, so DANE ``5001``
   finds ``05001``), then by the declared name (:func:`observatory.text.fold`), then by a close name
   (rapidfuzz, score >= 90 and only when one area clearly wins).

Everything is vectorised over rows; Python loops run only over distinct declared values and layers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rapidfuzz import fuzz, process
from sqlalchemy import (
    Connection,
    Engine,
    select,
)

from observatory.db.models import BoundaryLayer, Neighbourhood
from observatory.text import fold

FUZZY_CUTOFF = 90.0  # rapidfuzz token_sort_ratio score (0-100) a close name needs
FUZZY_MARGIN = 3.0  # the best candidate must beat the runner-up by this much to be unambiguous
REASSIGN_CHUNK = 200_000  # incidents read and updated per round trip in reassign_layer

_NUMERIC = re.compile(r"^\d+$")
_FLOAT_INT = re.compile(r"^(\d+)\.0+$")


@dataclass
class LayerAreas:
    """The active areas of one boundary layer, ready for matching.

    ``areas`` is a GeoDataFrame in EPSG:4326 with columns ``id`` (neighbourhood id), ``code``, ``name``,
    ``name_key`` (folded name), ``district`` and ``geometry``, sorted by ``id``.
    """

    layer_id: int
    name: str
    level: str
    is_primary: bool
    areas: gpd.GeoDataFrame
    _code_lookup: dict[str, int] | None = field(default=None, repr=False)
    _name_lookup: dict[str, int] | None = field(default=None, repr=False)
    _name_choices: list[str] | None = field(default=None, repr=False)

    @property
    def code_lookup(self) -> dict[str, int]:
        """Normalised code -> area id (see :func:`code_keys`)."""
        if self._code_lookup is None:
            lookup: dict[str, int] = {}
            numeric: dict[str, list[int]] = {}
            for area_id, code in zip(self.areas["id"].tolist(), self.areas["code"].tolist(), strict=True):
                exact, number = code_keys(code)
                lookup.setdefault(exact, int(area_id))
                if number is not None:
                    numeric.setdefault(number, []).append(int(area_id))
            # "5001" and "05001" are the same DANE code; only when that reading is unambiguous in the layer
            for number, ids in numeric.items():
                if len(ids) == 1:
                    lookup.setdefault(number, ids[0])
            self._code_lookup = lookup
        return self._code_lookup

    @property
    def name_lookup(self) -> dict[str, int]:
        """Folded name -> area id, only for names that are unique in the layer."""
        if self._name_lookup is None:
            keys = self.areas["name_key"].astype(object)
            counts = keys.value_counts()
            unique = counts[counts == 1].index
            mask = keys.isin(unique)
            self._name_lookup = dict(zip(keys[mask].tolist(), self.areas.loc[mask, "id"].astype(int).tolist(),
                                         strict=True))
            self._name_choices = list(self._name_lookup)
        return self._name_lookup


@dataclass
class Assignment:
    """Result of :func:`assign`.

    ``primary``: DataFrame indexed like the input with ``neighbourhood_id`` (Int64, nullable),
    ``assignment`` ("point" | "code" | "name" | "fuzzy_name" | None, object dtype), ``declared_area_agrees``
    (nullable boolean: None when the record lacks a point or a declared area, or the declared value names
    no area of any layer), ``outside`` (had usable coordinates but fell in no primary area; such a record
    may still be assigned by its declared code or name, see ``assignment``), ``swapped``
    (lat/lon were swapped and fixed) and ``lon``/``lat`` (the coordinates used, after the swap fix; NaN
    when unusable).
    ``secondary``: layer id -> Series of area ids (Int64) for every non-primary layer.
    ``disagreement_rate``: share of records whose point falls in an area of a layer where their declared
    code or name also names an area, and the two differ (None when no record could be compared). A record
    whose point falls in no area of the layer is not compared: it is assigned BY its declared area, not
    flagged as disagreeing with it. ``stats``: counts for the import report, with ``declared_uncompared``
    (records declaring an area that could not be compared: no point, a point outside every area, or a
    declared value naming no area). ``unmatched``: ``{"code": {value: rows}, "name": {value: rows}}`` for
    declared values that name no area of any layer (exactly or, for names, closely).
    """

    primary: pd.DataFrame
    secondary: dict[int, pd.Series]
    disagreement_rate: float | None
    stats: dict[str, int]
    unmatched: dict[str, dict[str, int]] = field(default_factory=dict)


def code_keys(code: object) -> tuple[str, str | None]:
    """Matching keys of an area code: (folded code, its integer value as text if purely numeric).

    ``code_keys(" 05001 ") == ("05001", "5001")``; ``code_keys("5001.0") == ("5001", "5001")`` (codes
    read as floats from spreadsheets); ``code_keys("C-1.1.1") == ("c-1.1.1", None)``.
    """
    key = fold(code)
    match = _FLOAT_INT.match(key)
    if match:
        key = match.group(1)
    if _NUMERIC.match(key):
        return key, str(int(key))
    return key, None


def load_layers(conn: Connection) -> list[LayerAreas]:
    """The active areas of every boundary layer, primary layer first, then by layer id.

    Input: an open SQLAlchemy connection. Output: one :class:`LayerAreas` per layer that has active areas.
    """
    layers = conn.execute(
        select(BoundaryLayer.id, BoundaryLayer.name, BoundaryLayer.level, BoundaryLayer.is_primary)
        .order_by(BoundaryLayer.is_primary.desc(), BoundaryLayer.id)
    ).all()
    out = []
    for layer_id, name, level, is_primary in layers:
        rows = conn.execute(
            select(Neighbourhood.id, Neighbourhood.code, Neighbourhood.name, Neighbourhood.name_key,
                   Neighbourhood.district, Neighbourhood.geometry_wkb)
            .where(Neighbourhood.layer_id == layer_id, Neighbourhood.active.is_(True))
            .order_by(Neighbourhood.id)
        ).all()
        if not rows:
            continue
        ids, codes, names, keys, districts, wkbs = zip(*rows, strict=True)
        areas = gpd.GeoDataFrame(
            {"id": np.asarray(ids, dtype="int64"), "code": list(codes), "name": list(names),
             "name_key": list(keys), "district": list(districts)},
            geometry=shapely.from_wkb(np.asarray(wkbs, dtype=object)), crs="EPSG:4326",
        )
        out.append(LayerAreas(int(layer_id), name, level, bool(is_primary), areas))
    return out


def _point_hits(areas: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Area id (int64, -1 for none) containing each point (x=lon, y=lat); NaN coordinates get -1.

    Spatial index: the points are sorted by x once; each polygon takes the slab of points within its
    bounding box (two binary searches and a y mask) and tests them with ``shapely.intersects_xy`` against
    the prepared polygon. For millions of points this is about five times faster than an STRtree (the
    index behind GeoPandas ``sjoin``), because no shapely point objects are created. ``intersects`` counts
    a point on an edge as inside; areas are visited by increasing id and a point keeps its first area, so a
    point on a border shared by several areas takes the smallest id.
    """
    result = np.full(len(x), -1, dtype="int64")
    ok = np.isfinite(x) & np.isfinite(y)
    if not ok.any() or areas.empty:
        return result
    idx = np.flatnonzero(ok)
    order = idx[np.argsort(x[idx], kind="stable")]
    sx, sy = x[order], y[order]
    areas = areas.sort_values("id")
    geoms = np.asarray(areas.geometry.values, dtype=object)
    shapely.prepare(geoms)
    bounds = shapely.bounds(geoms)
    lo = np.searchsorted(sx, bounds[:, 0], side="left")
    hi = np.searchsorted(sx, bounds[:, 2], side="right")
    for geom, area_id, (_, miny, _, maxy), a, b in zip(geoms, areas["id"].to_numpy(), bounds, lo, hi,
                                                        strict=True):
        if a >= b or geom is None:
            continue
        seg_y = sy[a:b]
        candidates = np.flatnonzero((seg_y >= miny) & (seg_y <= maxy)) + a
        if len(candidates) == 0:
            continue
        inside = candidates[shapely.intersects_xy(geom, sx[candidates], sy[candidates])]
        rows = order[inside]
        rows = rows[result[rows] < 0]
        result[rows] = area_id
    return result


def _clean_text(values: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Factorise declared values: (codes per row, -1 for blank; the distinct non-blank values)."""
    text = values.astype("string").str.strip()  # vectorised; None/NaN stay missing
    text = text.mask(text == "")
    codes, uniques = pd.factorize(text, use_na_sentinel=True)
    return np.asarray(codes), [str(u) for u in uniques]


def _lookup_codes(uniques: list[str], layer: LayerAreas) -> np.ndarray:
    """Area id (or -1) for each distinct declared code."""
    lookup = layer.code_lookup
    out = np.full(len(uniques), -1, dtype="int64")
    for i, value in enumerate(uniques):
        exact, number = code_keys(value)
        hit = lookup.get(exact)
        if hit is None and number is not None:
            hit = lookup.get(number)
        if hit is not None:
            out[i] = hit
    return out


def _lookup_names(uniques: list[str], layer: LayerAreas, fuzzy: bool) -> tuple[np.ndarray, np.ndarray]:
    """(area id or -1 by exact folded name, area id or -1 by close name) for each distinct declared name."""
    lookup = layer.name_lookup
    choices = layer._name_choices or []
    exact = np.full(len(uniques), -1, dtype="int64")
    close = np.full(len(uniques), -1, dtype="int64")
    for i, value in enumerate(uniques):
        key = fold(value)
        hit = lookup.get(key)
        if hit is not None:
            exact[i] = hit
            continue
        if not fuzzy or not choices or not key:
            continue
        best = process.extract(key, choices, scorer=fuzz.token_sort_ratio, limit=2, score_cutoff=FUZZY_CUTOFF)
        if best and (len(best) == 1 or best[0][1] - best[1][1] >= FUZZY_MARGIN):
            close[i] = lookup[best[0][0]]
    return exact, close


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name in frame.columns:
        return frame[name]
    return pd.Series([None] * len(frame), index=frame.index, dtype=object)


def _coordinates(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    lon = pd.to_numeric(_column(frame, "lon"), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    lat = pd.to_numeric(_column(frame, "lat"), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    # (0, 0) is the null-island placeholder of exports that lost the coordinates, never a real place here
    null_island = (lon == 0) & (lat == 0)
    lon = np.where(null_island, np.nan, lon)
    lat = np.where(null_island, np.nan, lat)
    return lon, lat


def assign(frame: pd.DataFrame, layers: list[LayerAreas]) -> Assignment:
    """Assign each record of ``frame`` to an area of every layer.

    Input: ``frame`` with columns ``lon``, ``lat`` (WGS84 degrees; NaN, non-numeric or (0, 0) = missing),
    ``declared_area_code``, ``declared_area_name`` (str or None; a missing column counts as all None);
    ``layers`` from :func:`load_layers` (the one with ``is_primary`` feeds ``primary``).
    Output: an :class:`Assignment` (see there). Pure: no I/O.
    """
    n = len(frame)
    lon, lat = _coordinates(frame)
    present = np.isfinite(lon) & np.isfinite(lat)
    in_range = present & (np.abs(lon) <= 180) & (np.abs(lat) <= 90)

    # 1. points, as given
    hits = {layer.layer_id: _point_hits(layer.areas, np.where(in_range, lon, np.nan), lat) for layer in layers}
    located = np.zeros(n, dtype=bool)
    for h in hits.values():
        located |= h >= 0

    # 2. swapped lat/lon: only points that land nowhere as given, and only if the swap lands somewhere
    swapped = np.zeros(n, dtype=bool)
    candidates = present & ~located & (np.abs(lat) <= 180) & (np.abs(lon) <= 90)
    if candidates.any() and layers:
        sx = np.where(candidates, lat, np.nan)
        sy = np.where(candidates, lon, np.nan)
        swap_hits = {layer.layer_id: _point_hits(layer.areas, sx, sy) for layer in layers}
        for h in swap_hits.values():
            swapped |= h >= 0
        for layer_id, h in swap_hits.items():
            hits[layer_id] = np.where(swapped, h, hits[layer_id])
        lon, lat = np.where(swapped, lat, lon), np.where(swapped, lon, lat)
        in_range |= swapped
    usable = in_range

    # 3. declared code / name, looked up once per distinct value
    code_idx, code_uniques = _clean_text(_column(frame, "declared_area_code"))
    name_idx, name_uniques = _clean_text(_column(frame, "declared_area_name"))
    has_code, has_name = code_idx >= 0, name_idx >= 0

    primary_layer = next((layer for layer in layers if layer.is_primary), None)
    secondary: dict[int, pd.Series] = {}
    primary_ids = np.full(n, -1, dtype="int64")
    method = np.full(n, None, dtype=object)
    checkable = np.zeros(n, dtype=bool)
    agrees = np.zeros(n, dtype=bool)
    code_found = np.zeros(len(code_uniques), dtype=bool)
    name_found = np.zeros(len(name_uniques), dtype=bool)

    for layer in layers:
        by_code_u = _lookup_codes(code_uniques, layer)
        by_name_u, by_fuzzy_u = _lookup_names(name_uniques, layer, fuzzy=True)
        by_code = np.where(has_code, by_code_u[code_idx] if len(code_uniques) else -1, -1)
        by_name = np.where(has_name, by_name_u[name_idx] if len(name_uniques) else -1, -1)
        by_fuzzy = np.where(has_name, by_fuzzy_u[name_idx] if len(name_uniques) else -1, -1)
        code_found |= by_code_u >= 0
        name_found |= (by_name_u >= 0) | (by_fuzzy_u >= 0)

        point = hits[layer.layer_id]
        area = point.copy()
        how = np.where(point >= 0, "point", None).astype(object)
        for ids, label in ((by_code, "code"), (by_name, "name"), (by_fuzzy, "fuzzy_name")):
            take = (area < 0) & (ids >= 0)
            area = np.where(take, ids, area)
            how[take] = label

        # agreement: the declared value names an area of this layer; does the point fall in it?
        declared = np.where(by_code >= 0, by_code, by_name)
        relevant = usable & (declared >= 0) & (point >= 0)  # a point in no area is assigned BY the declared one
        checkable |= relevant
        agrees |= relevant & (point == declared)

        if layer is primary_layer:
            primary_ids, method = area, how
        else:
            secondary[layer.layer_id] = pd.Series(pd.array(np.where(area >= 0, area, 0), dtype="Int64"),
                                                  index=frame.index).mask(area < 0)

    outside = usable & (hits[primary_layer.layer_id] < 0 if primary_layer else np.zeros(n, dtype=bool))
    agree_values = pd.array(np.where(checkable, agrees, False), dtype="boolean")
    agree_values[~checkable] = pd.NA
    primary = pd.DataFrame({
        "neighbourhood_id": pd.array(np.where(primary_ids >= 0, primary_ids, 0), dtype="Int64"),
        "assignment": pd.Series(method, index=frame.index, dtype=object),  # object keeps None (not NaN)
        "declared_area_agrees": agree_values,
        "outside": outside,
        "swapped": swapped,
        "lon": np.where(usable, lon, np.nan),
        "lat": np.where(usable, lat, np.nan),
    }, index=frame.index)
    primary.loc[primary_ids < 0, "neighbourhood_id"] = pd.NA

    n_checked = int(checkable.sum())
    n_disagree = int((checkable & ~agrees).sum())
    stats = {
        "rows": n,
        "point": int((method == "point").sum()),
        "code": int((method == "code").sum()),
        "name": int((method == "name").sum()),
        "fuzzy_name": int((method == "fuzzy_name").sum()),
        "unassigned": int((primary_ids < 0).sum()),
        "no_coordinates": int((~usable).sum()),
        "outside": int(outside.sum()),
        "swapped": int(swapped.sum()),
        "declared_checked": n_checked,
        "declared_disagree": n_disagree,
        "declared_uncompared": int(((has_code | has_name) & ~checkable).sum()),
    }
    unmatched = {"code": _unmatched(code_idx, code_uniques, code_found),
                 "name": _unmatched(name_idx, name_uniques, name_found)}
    return Assignment(primary, secondary, (n_disagree / n_checked) if n_checked else None, stats, unmatched)


def _unmatched(idx: np.ndarray, uniques: list[str], found: np.ndarray) -> dict[str, int]:
    """Declared values that name no area of any layer, with their row counts, most frequent first."""
    if not len(uniques) or found.all():
        return {}
    rows = np.bincount(idx[idx >= 0], minlength=len(uniques))
    missing = [(uniques[i], int(rows[i])) for i in np.flatnonzero(~found)]
    return dict(sorted(missing, key=lambda item: (-item[1], item[0])))


def reassign_layer(engine: Engine | Connection, layer_id: int, chunk: int = REASSIGN_CHUNK) -> int:
    """Recompute incidents' areas of layer ``layer_id`` after a boundary change (see
    :func:`observatory.ingest.reassign.reassign_layer`); returns the number of incidents changed."""
    from observatory.ingest.reassign import reassign_layer as run

    return run(engine, layer_id, chunk)
