"""Import a boundary layer (neighbourhoods, districts, police quadrants...) from GeoJSON, GeoPackage or Shapefile.

Areas are stored in WGS84 (EPSG:4326) as WKB with their area in km² (measured in a Lambert azimuthal
equal-area projection centred on the layer) and their centroid. A layer can be imported again from a new
version of its file: areas whose code persists keep their id, new codes are added, vanished codes are
deactivated, and incidents (and, for the primary layer, survey responses) are reassigned in the same
transaction, so none is lost.
"""

from __future__ import annotations

import codecs
import math
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import shapely
from pyproj import CRS
from sqlalchemy import Connection, Engine, insert, select, update

from observatory.db.models import BoundaryLayer, Neighbourhood
from observatory.db.session import get_engine
from observatory.ingest.assign import reassign_layer
from observatory.ingest.batches import close_batch, open_batch
from observatory.ingest.report import ImportFailed, ImportReport, file_sha256
from observatory.ingest.surveys import reassign_survey_responses
from observatory.text import fold
from observatory.vocabulary import BOUNDARY_LEVELS as LEVELS

# "ISO-8859-1" rather than "latin-1": GDAL recodes shapefiles itself and its iconv does not know "latin-1"
FALLBACK_ENCODINGS = ("cp1252", "ISO-8859-1")
# Read with this, every byte of the attribute text becomes the character of the same number (U+0000-U+00FF),
# in every driver: pyogrio has GDAL recode shapefiles and decodes the other formats itself.
RAW_ENCODING = "ISO-8859-1"
_POLYGONAL = ("Polygon", "MultiPolygon")


# --- reading ----------------------------------------------------------------------------------------------


def _is_polygonal(geometry_type: object) -> bool:
    """True for a layer geometry type such as "Polygon", "MultiPolygon Z" or "3D MultiPolygon"."""
    return "polygon" in str(geometry_type or "").lower()


def _may_hold_polygons(geometry_type: object) -> bool:
    """True when a layer's declared type does not rule polygons out ("Unknown", "Geometry", collections).

    A layer without geometry type (pyogrio gives None, or "" here) is a plain table: it holds no polygons.
    """
    kind = str(geometry_type or "").lower()
    return _is_polygonal(kind) or kind.split()[0:1] in (["unknown"], ["geometry"]) or "collection" in kind


def _describe_layers(path: Path, layers: list[tuple[str, str]]) -> str:
    """``'a' (MultiPolygon, 12 features), 'b' (Point, 3 features)`` for error messages."""
    parts = []
    for name, geometry_type in layers:
        try:
            count = int(pyogrio.read_info(path, layer=name)["features"])
            size = f", {count} feature{'s' if count != 1 else ''}" if count >= 0 else ""
        except Exception:  # a count is a courtesy; a layer GDAL cannot describe is still listed
            size = ""
        parts.append(f"{name!r} ({geometry_type or 'no geometry'}{size})")
    return ", ".join(parts)


def choose_source_layer(path: Path, source_layer: str | None) -> tuple[str | None, str | None, list[str]]:
    """The layer of ``path`` to read (GeoPackages and some other formats hold several) and report warnings.

    Input: the file and the layer the user chose (None: choose automatically). Output: the layer name to
    pass to pyogrio (None: the file's only layer, GDAL's default), the name of the layer that will be read
    (None when the file's layers cannot be listed) and warnings. A file with several layers and no choice
    is read only when exactly one layer holds polygons; otherwise :class:`ImportFailed` lists the layers,
    because silently picking one could load the wrong boundaries.
    """
    try:
        layers = [(str(name), str(kind) if kind is not None else "") for name, kind in pyogrio.list_layers(path)]
    except Exception as exc:
        if source_layer is None:
            return None, None, []  # let the reader report an unreadable file with its own message
        raise ImportFailed(f"{path.name}: cannot list the layers of the file to find {source_layer!r} ({exc})"
                           ) from exc
    if source_layer is not None:
        kinds = dict(layers)
        if source_layer not in kinds:
            raise ImportFailed(f"{path.name}: no layer named {source_layer!r} in the file (layers: "
                               f"{_describe_layers(path, layers)})")
        if not _may_hold_polygons(kinds[source_layer]):
            polygon_layers = [(n, k) for n, k in layers if _is_polygonal(k)]
            listed = _describe_layers(path, polygon_layers) if polygon_layers else "none"
            raise ImportFailed(f"{path.name}: layer {source_layer!r} holds {kinds[source_layer] or 'no geometry'}, "
                               f"not polygons (polygon layers: {listed})")
        return source_layer, source_layer, ([f"read layer {source_layer!r} of a file with {len(layers)} layers"]
                                            if len(layers) > 1 else [])
    if len(layers) <= 1:
        return None, (layers[0][0] if layers else None), []
    polygonal = [(n, k) for n, k in layers if _is_polygonal(k)]
    what, whats = "polygon layer", "polygon layers"
    if not polygonal:
        # declared types such as "Unknown" may still hold polygons; only one such layer is unambiguous
        polygonal = [(n, k) for n, k in layers if _may_hold_polygons(k)]
        what, whats = "layer that can hold polygons", "layers that can hold polygons"
    if len(polygonal) == 1:
        name = polygonal[0][0]
        return name, name, [f"read layer {name!r}, the only {what} of a file with {len(layers)} layers"]
    if not polygonal:
        raise ImportFailed(f"{path.name}: none of the file's {len(layers)} layers holds polygons (layers: "
                           f"{_describe_layers(path, layers)})")
    raise ImportFailed(f"{path.name}: the file holds {len(polygonal)} {whats}: "
                       f"{_describe_layers(path, polygonal)}; choose one with --source-layer NAME "
                       f"(source_layer= in Python)")


def _undo_mojibake(frame: pd.DataFrame) -> bool:
    """Repair text columns of a .dbf without .cpg that GDAL read as Latin-1 but that hold UTF-8 bytes.

    Returns True when a column was repaired. A column is re-decoded only if every value round-trips as
    UTF-8 and at least one changes, which genuine Latin-1 text (``Ã`` followed by a symbol) never does.
    """
    repaired = False
    for column in frame.columns:
        if column == "geometry" or not (pd.api.types.is_string_dtype(frame[column])
                                        or frame[column].dtype == object):
            continue
        values = frame[column]
        texts = [v for v in values.dropna().unique().tolist() if isinstance(v, str)]
        if not texts or all(t.isascii() for t in texts):
            continue
        try:
            fixed = {t: t.encode("latin-1").decode("utf-8") for t in texts}
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if any(k != v for k, v in fixed.items()):
            frame[column] = values.map(lambda v, f=fixed: f.get(v, v) if isinstance(v, str) else v)
            repaired = True
    return repaired


def _first_feature(values: pd.Series, text: str) -> int:
    """1-based feature number of the first row of ``values`` equal to ``text``."""
    return int(np.flatnonzero((values == text).to_numpy(dtype=bool, na_value=False))[0]) + 1


def _decode_as(frame: gpd.GeoDataFrame, encoding: str, file_name: str) -> gpd.GeoDataFrame:
    """Decode field names and text values read byte-for-byte (:data:`RAW_ENCODING`) with ``encoding``.

    Python's codec does the decoding, strictly, so every Python encoding name works for every format (GDAL's
    iconv knows other names) and bytes that are not valid in ``encoding`` stop the import with the feature
    and field instead of being dropped or replaced. Raises :class:`ImportFailed`.
    """
    geometry_name = frame.geometry.name

    def decode(text: str) -> str:
        try:
            raw = text.encode("latin-1")
        except UnicodeEncodeError:  # a driver that returned decoded text already: keep it
            return text
        return raw.decode(encoding)

    others = [e for e in ("utf-8", "cp1252", "latin-1") if not _same_encoding(e, encoding)]

    def hint(exc: UnicodeDecodeError) -> str:
        bad = exc.object[exc.start:exc.end]
        return (f"byte {bad.hex(' ')} at position {exc.start} is not valid {encoding}; the file is in another "
                f"encoding: try --encoding {' or '.join(others)}")

    renames: dict[str, str] = {}
    for column in frame.columns:
        if column == geometry_name:
            continue
        try:
            renames[column] = decode(str(column))
        except UnicodeDecodeError as exc:
            raise ImportFailed(f"{file_name}: field name {str(column)!r} ({hint(exc)})") from exc
        values = frame[column]
        if not (pd.api.types.is_string_dtype(values) or values.dtype == object):
            continue
        texts = [v for v in values.dropna().unique().tolist() if isinstance(v, str) and not v.isascii()]
        fixed: dict[str, str] = {}
        for text in texts:
            try:
                fixed[text] = decode(text)
            except UnicodeDecodeError as exc:
                raise ImportFailed(f"{file_name}, feature {_first_feature(values, text)}, field "
                                   f"{renames[column]!r}: {hint(exc)}") from exc
        if fixed:
            frame[column] = values.map(lambda v, f=fixed: f.get(v, v) if isinstance(v, str) else v)
    return frame.rename(columns=renames)


def _declared_cpg(path: Path) -> str | None:
    """The encoding a shapefile's ``.cpg`` declares (its text), None without one."""
    cpg = path.with_suffix(".cpg")
    if path.suffix.lower() != ".shp" or not cpg.exists():
        return None
    return cpg.read_text(encoding="ascii", errors="replace").strip() or None


def _same_encoding(a: str, b: str) -> bool:
    try:
        return codecs.lookup(a).name == codecs.lookup(b).name
    except LookupError:
        return False


def _read(path: Path, layer: str | None, encoding: str | None) -> gpd.GeoDataFrame:
    """One pyogrio read; GDAL errors (not decoding errors) become :class:`ImportFailed` naming the file."""
    try:
        frame = gpd.read_file(path, engine="pyogrio", layer=layer, encoding=encoding)
    except UnicodeDecodeError:
        raise
    except Exception as exc:  # GDAL errors come in many classes; name the file
        raise ImportFailed(f"{path.name}: cannot read as GeoJSON, GeoPackage or Shapefile ({exc})") from exc
    if not isinstance(frame, gpd.GeoDataFrame) or frame._geometry_column_name not in frame.columns:
        # GDAL also reads CSV and other tables without geometries: not a boundary file.
        raise ImportFailed(f"{path.name}: the file has no geometries (GeoJSON, GeoPackage or Shapefile expected)")
    return frame


def read_boundary_file(path: str | Path, encoding: str | None = None,
                       source_layer: str | None = None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Read a GeoJSON, GeoPackage or Shapefile into a GeoDataFrame (source CRS, geometries as read).

    Inputs: the file; ``encoding`` of its attribute text (any Python codec name, e.g. ``"latin-1"``,
    ``"cp1252"``, ``"utf-8"``); ``source_layer``, the layer to read in a file holding several (see
    :func:`choose_source_layer`).
    Text encoding: with ``encoding`` the text is decoded with it, strictly (overriding a shapefile's
    ``.cpg``; a byte it cannot decode stops the import naming the feature and field). Without it, the
    file's declared encoding (a shapefile's ``.cpg``) is used; when decoding fails, cp1252 then Latin-1 are
    tried, and UTF-8 text misread as Latin-1 (a ``.dbf`` without ``.cpg``) is repaired.
    Output: the frame (``frame.attrs["source_layer"]``: the layer read, when known) and warnings for the
    import report. Raises :class:`ImportFailed`.
    """
    path = Path(path)
    if not path.exists():
        raise ImportFailed(f"{path}: file not found")
    if encoding is not None:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ImportFailed(f"{path.name}: unknown text encoding {encoding!r} (e.g. utf-8, cp1252, latin-1)"
                               ) from None
    layer, layer_read, warnings = choose_source_layer(path, source_layer)
    if encoding is not None:
        # read the bytes untouched, then decode them with Python's codec (see _decode_as)
        try:
            raw = _read(path, layer, RAW_ENCODING)
        except UnicodeDecodeError as exc:  # not expected: every byte is valid ISO-8859-1
            raise ImportFailed(f"{path.name}: cannot read the attribute text ({exc})") from exc
        frame = _decode_as(raw, encoding, path.name)
        declared = _declared_cpg(path)
        if declared and not _same_encoding(declared, encoding):
            warnings.append(f"the .cpg declares {declared}; text decoded as {encoding} as asked")
        frame.attrs["source_layer"] = layer_read
        return frame, warnings
    attempts: list[str | None] = [None, *FALLBACK_ENCODINGS]
    last_error: Exception | None = None
    for enc in attempts:
        try:
            frame = _read(path, layer, enc)
        except UnicodeDecodeError as exc:
            last_error = exc
            continue
        if enc is not None:
            warnings.append(f"text decoded as {enc} (the declared encoding failed)")
        if path.suffix.lower() == ".shp" and enc is None and not path.with_suffix(".cpg").exists():
            if _undo_mojibake(frame):
                warnings.append("the .dbf has no .cpg but holds UTF-8 text: decoded as UTF-8")
        frame.attrs["source_layer"] = layer_read
        return frame, warnings
    raise ImportFailed(f"{path.name}: cannot decode the attribute text ({last_error}); pass the file's encoding "
                       "(--encoding)")


# --- geometry ---------------------------------------------------------------------------------------------


def _to_wgs84(frame: gpd.GeoDataFrame, crs: str | None, file_name: str) -> tuple[gpd.GeoDataFrame, str, list[str]]:
    """Reproject to EPSG:4326 in 2-D; returns (frame, source CRS as text, warnings)."""
    warnings: list[str] = []
    geometry = frame.geometry
    if geometry.has_z.any():
        # 3-D files (EPSG:4979, PolygonZ) carry heights we do not use; flatten before anything else
        frame = frame.set_geometry(shapely.force_2d(geometry.values))
    source = frame.crs
    if crs is not None:
        given = CRS.from_user_input(crs)
        if source is not None and CRS.from_user_input(source) != given:
            warnings.append(f"the file declares {CRS.from_user_input(source).to_string()}; using {crs} as asked")
        source = given
    if source is None:
        minx, miny, maxx, maxy = frame.total_bounds
        if np.all(np.isfinite([minx, miny, maxx, maxy])) and -180 <= minx <= maxx <= 180 and -90 <= miny <= maxy <= 90:
            warnings.append("the file declares no CRS; its coordinates look like WGS84 lon/lat (EPSG:4326)")
            source = CRS.from_epsg(4326)
        else:
            raise ImportFailed(
                f"{file_name}: the file declares no coordinate reference system and its coordinates are not "
                f"lon/lat (x {minx:.0f}..{maxx:.0f}); pass it with --crs (e.g. --crs EPSG:3435)"
            )
    source = CRS.from_user_input(source)
    source_2d = source.to_2d() if len(source.axis_info) > 2 else source
    frame = frame.set_crs(source_2d, allow_override=True)
    if not source_2d.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        frame = frame.to_crs(4326)
    else:
        frame = frame.set_crs(4326, allow_override=True)
    return frame, source.to_string(), warnings


def _polygonal_part(geom: shapely.Geometry) -> shapely.Geometry | None:
    """The polygons of ``geom`` as a Polygon/MultiPolygon (None if it has none)."""
    if geom is None or geom.is_empty:
        return None
    if geom.geom_type in _POLYGONAL:
        return geom
    if geom.geom_type == "GeometryCollection" or geom.geom_type.startswith("Multi"):
        parts = [p for g in shapely.get_parts(geom) for p in ([g] if g.geom_type == "Polygon" else
                                                                shapely.get_parts(g) if g.geom_type == "MultiPolygon"
                                                                else [])]
        parts = [p for p in parts if p.geom_type == "Polygon" and not p.is_empty]
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
    return None


def repair(geometries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Make polygon geometries valid, keeping only their polygonal parts (holes and multiparts kept).

    Input: array of shapely geometries. Output: (repaired array, boolean array "was invalid and repaired");
    a geometry with no polygonal part becomes None.
    """
    valid = shapely.is_valid(geometries)
    out = np.array(geometries, dtype=object)
    invalid = np.flatnonzero(~valid & ~shapely.is_missing(geometries))
    if len(invalid):
        fixed = shapely.make_valid(geometries[invalid])
        for i, geom in zip(invalid, fixed, strict=True):
            out[i] = _polygonal_part(geom)
    for i in np.flatnonzero(valid):
        out[i] = _polygonal_part(out[i])
    repaired = np.zeros(len(out), dtype=bool)
    repaired[invalid] = True
    return out, repaired


def equal_area_crs(lon: float, lat: float) -> CRS:
    """A Lambert azimuthal equal-area CRS (metres) centred on ``lon``/``lat`` degrees, for measuring areas."""
    return CRS.from_proj4(f"+proj=laea +lat_0={lat:.6f} +lon_0={lon:.6f} +datum=WGS84 +units=m +no_defs")


def measure(geometries: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(area in km², centroid lon, centroid lat) of WGS84 polygons, measured in :func:`equal_area_crs`."""
    minx, miny, maxx, maxy = geometries.total_bounds
    target = equal_area_crs((minx + maxx) / 2, (miny + maxy) / 2)
    projected = geometries.to_crs(target)
    centroids = projected.centroid.to_crs(4326)
    return projected.area.to_numpy() / 1e6, centroids.x.to_numpy(), centroids.y.to_numpy()


# --- attribute parsing ------------------------------------------------------------------------------------


def _code(value: Any) -> str | None:
    """An area code as text: ``5001.0`` -> ``"5001"``, blanks -> None."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _text(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def parse_population(value: Any) -> float | None:
    """A population count from a number or text (``"12,345"``, ``"12.345"``, ``"1 234,0"``); blanks -> None.

    Raises ``ValueError`` for text that is not a number or for negative values.
    """
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        if math.isnan(number):
            return None
    else:
        text = str(value).strip().replace(" ", "").replace("\u00a0", "")
        if not text:
            return None
        if "," in text and "." in text:  # the last separator is the decimal one
            decimal_comma = text.rfind(",") > text.rfind(".")
            text = text.replace(".", "").replace(",", ".") if decimal_comma else text.replace(",", "")
        elif "," in text:
            # one comma followed by exactly three digits is a thousands separator (12,345), else decimal
            head, _, tail = text.rpartition(",")
            text = text.replace(",", "") if len(tail) == 3 and head else text.replace(",", ".")
        elif text.count(".") > 1:
            text = text.replace(".", "")
        number = float(text)
    if number < 0 or not math.isfinite(number):
        raise ValueError(f"{value!r} is not a population")
    return number


# --- the import -------------------------------------------------------------------------------------------


def _require_field(frame: pd.DataFrame, field: str | None, what: str, file_name: str) -> None:
    if field is not None and field not in frame.columns:
        fields = ", ".join(c for c in frame.columns if c != frame.geometry.name)
        raise ImportFailed(f"{file_name}: the {what} field {field!r} is not in the file (fields: {fields})")


def non_unique_id(file_name: str, id_field: str, clashes: dict[str, int]) -> ImportFailed:
    """The refusal of an id field that names several different areas with one code (first codes + count)."""
    ordered = sorted(clashes.items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{code!r} ({n} features)" for code, n in ordered[:5])
    more = f" and {len(ordered) - 5} more" if len(ordered) > 5 else ""
    return ImportFailed(f"{file_name}: the id field {id_field!r} is not unique: {len(ordered)} codes are used by "
                        f"more than one area ({shown}{more}); choose a field with one code per area "
                        "(nothing was stored)")


def _note_fixes(report: ImportReport, repaired: np.ndarray, bad_population: list[int], unnamed: list[int],
                population_field: str | None, name_field: str) -> None:
    """Report repaired geometries, unreadable populations and unnamed features (each loaded anyway)."""
    repaired_features = [int(i) + 1 for i in np.flatnonzero(repaired)]
    report.details["repaired_geometries"] = len(repaired_features)
    report.details["repaired_features"] = repaired_features[:100]
    if repaired_features:
        listed = ", ".join(map(str, repaired_features[:10])) + ("..." if len(repaired_features) > 10 else "")
        report.warnings.append(f"{len(repaired_features)} invalid geometries repaired (features {listed})")
    if bad_population:
        report.warnings.append(f"population in {population_field!r} is not a number in features "
                               f"{', '.join(map(str, bad_population[:10]))}: stored as unknown")
    if unnamed:
        report.warnings.append(f"no name in {name_field!r} for features {', '.join(map(str, unnamed[:10]))}: "
                               "their code is used as name")


def prepare_areas(frame: gpd.GeoDataFrame, report: ImportReport, *, id_field: str, name_field: str,
                  population_field: str | None, district_field: str | None) -> pd.DataFrame:
    """Validate features (WGS84 already) into area rows; rejects and counts go to ``report``.

    Output columns: code, name, name_key, district, population, area_km2, centroid_lon, centroid_lat,
    geometry_wkb, feature (1-based feature number in the file).
    """
    file_name = report.file_name
    for field, what in ((id_field, "id"), (name_field, "name"), (population_field, "population"),
                        (district_field, "district")):
        _require_field(frame, field, what, file_name)
    report.total = len(frame)
    geometries, repaired = repair(np.asarray(frame.geometry.values, dtype=object))
    seen: dict[str, tuple[int, bytes, str]] = {}
    rows: list[dict[str, Any]] = []
    bad_population: list[int] = []
    unnamed: list[int] = []
    clashes: dict[str, int] = {}  # code -> features using it (not exact copies)
    records = frame.drop(columns=frame.geometry.name).to_dict("records")
    for i, (record, geom) in enumerate(zip(records, geometries, strict=True)):
        feature = i + 1
        raw = {k: v for k, v in record.items() if k in {id_field, name_field, population_field, district_field}}
        code = _code(record.get(id_field))
        if code is None:
            report.reject(feature, id_field, f"{file_name}, feature {feature}: missing id in field {id_field!r}", raw)
            continue
        if geom is None:
            kind = "no geometry" if frame.geometry.values[i] is None else (
                f"a {frame.geometry.values[i].geom_type} with no polygon")
            report.reject(feature, "geometry", f"{file_name}, feature {feature} (id {code}): {kind}", raw)
            continue
        name = _text(record.get(name_field))
        if name is None:
            unnamed.append(feature)
            name = code
        wkb = shapely.to_wkb(geom, output_dimension=2)
        if code in seen:
            _first, first_wkb, first_name = seen[code]
            if first_wkb == wkb and first_name == name:
                report.duplicates += 1  # an exact copy of an earlier feature: harmless
            else:
                clashes[code] = clashes.get(code, 1) + 1
            continue
        seen[code] = (feature, wkb, name)
        population = None
        if population_field is not None:
            try:
                population = parse_population(record.get(population_field))
            except ValueError:
                bad_population.append(feature)
        rows.append({"feature": feature, "code": code, "name": name, "name_key": fold(name),
                     "district": _text(record.get(district_field)) if district_field else None,
                     "population": population, "geometry": geom, "geometry_wkb": wkb})
    if clashes:
        raise non_unique_id(file_name, id_field, clashes)
    report.loaded = len(rows)
    _note_fixes(report, repaired, bad_population, unnamed, population_field, name_field)
    areas = pd.DataFrame(rows, columns=["feature", "code", "name", "name_key", "district", "population",
                                        "geometry", "geometry_wkb"])
    if areas.empty:
        return areas.assign(area_km2=[], centroid_lon=[], centroid_lat=[]).drop(columns="geometry")
    km2, clon, clat = measure(gpd.GeoSeries(areas["geometry"].to_numpy(), crs=4326))
    areas["area_km2"], areas["centroid_lon"], areas["centroid_lat"] = km2, clon, clat
    return areas.drop(columns="geometry")


def _same(old: Any, new: Any) -> bool:
    if old is None or new is None:
        return old is None and new is None
    if isinstance(new, float):
        return math.isclose(float(old), new, rel_tol=1e-9, abs_tol=1e-12)
    return old == new


def _write_areas(conn: Connection, layer_id: int, areas: pd.DataFrame, report: ImportReport) -> bool:
    """Upsert areas by code, deactivate vanished ones; True when anything that affects assignment changed.

    Unchanged areas count as duplicates in ``report`` (so importing the same file again loads 0).
    """
    columns = ["code", "name", "name_key", "district", "population", "area_km2", "centroid_lon", "centroid_lat",
               "geometry_wkb"]
    existing = {row.code: row for row in conn.execute(
        select(Neighbourhood.id, Neighbourhood.active, *[getattr(Neighbourhood, c) for c in columns])
        .where(Neighbourhood.layer_id == layer_id)).all()}
    inserts, updates = [], []
    spatial_change = False
    unchanged = 0
    for record in areas[columns].to_dict("records"):
        record = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in record.items()}
        old = existing.get(record["code"])
        if old is None:
            inserts.append({**record, "layer_id": layer_id, "active": True})
            spatial_change = True
            continue
        if old.active and all(_same(getattr(old, c), record[c]) for c in columns):
            unchanged += 1
            continue
        if not old.active or old.geometry_wkb != record["geometry_wkb"] or old.name_key != record["name_key"]:
            spatial_change = True
        updates.append({**record, "active": True, "b_id": old.id})
    if inserts:
        conn.execute(insert(Neighbourhood), inserts)
    for values in updates:
        conn.execute(update(Neighbourhood).where(Neighbourhood.id == values.pop("b_id")).values(**values))
    new_codes = set(areas["code"])
    vanished = [row.id for code, row in existing.items() if row.active and code not in new_codes]
    if vanished:
        conn.execute(update(Neighbourhood).where(Neighbourhood.id.in_(vanished)).values(active=False))
        spatial_change = True
    # an unchanged area is a duplicate of what is stored; everything else in ``loaded`` was written
    report.duplicates += unchanged
    report.loaded -= unchanged
    report.revised = len(updates)
    report.details.update({"areas_added": len(inserts), "areas_updated": len(updates),
                           "areas_unchanged": unchanged, "areas_deactivated": len(vanished)})
    return spatial_change


def _set_primary(conn: Connection, layer_id: int, make_primary: bool, was_primary: bool,
                 current_primary: list[int], changed: bool) -> list[int]:
    """Give or take the primary role; returns the layers whose incidents must be reassigned."""
    if make_primary and not was_primary:
        previous = [i for i in current_primary if i != layer_id]
        if previous:
            conn.execute(update(BoundaryLayer).where(BoundaryLayer.id.in_(previous)).values(is_primary=False))
        conn.execute(update(BoundaryLayer).where(BoundaryLayer.id == layer_id).values(is_primary=True))
        return [layer_id, *previous]
    if was_primary and not make_primary:
        conn.execute(update(BoundaryLayer).where(BoundaryLayer.id == layer_id).values(is_primary=False))
        return [layer_id]
    return [layer_id] if changed else []


def import_boundaries(path: str | Path, *, layer: str, id_field: str, name_field: str,
                      population_field: str | None = None, district_field: str | None = None,
                      crs: str | None = None, level: str = "neighbourhood", primary: bool | None = None,
                      engine: Engine | None = None, user_name: str | None = None,
                      encoding: str | None = None, source_layer: str | None = None) -> ImportReport:
    """Import (or replace) boundary layer ``layer`` from a GeoJSON, GeoPackage or Shapefile.

    Inputs: the file; the layer name; the fields holding each area's unique id (stored as its code), name,
    optional population (a count of residents; blanks -> unknown) and district; ``crs`` for files that
    declare none (any pyproj string, e.g. ``"EPSG:3435"``); ``level`` ("neighbourhood", "district" or
    "other"); ``primary``: True makes this the layer incidents' neighbourhood refers to, False stops it
    being so, None keeps the layer's current role (a new neighbourhood layer becomes primary when there is
    none yet); ``encoding`` of the attribute text (a Python codec name such as ``"latin-1"``; None: the
    file's declared encoding with fallbacks, see :func:`read_boundary_file`); ``source_layer``, the layer
    inside a multi-layer file (GeoPackage) to read (None: the only polygon layer; several fail).
    Output: the :class:`ImportReport`; ``details`` holds repaired geometries, areas added/updated/
    deactivated, ``reassigned`` (layer id -> incident rows rewritten), ``survey_responses_reassigned``
    (survey responses whose neighbourhood or district changed; 0 unless the primary layer changed) and
    ``survey_responses_unassigned`` (responses with an area code left without a neighbourhood; None when
    they were not recomputed). The batch, areas and both reassignments form one transaction.
    Raises :class:`ImportFailed` for an unreadable file, an ambiguous or missing layer, text that is not in
    the given encoding, a missing field or an unknown CRS.
    """
    path = Path(path)
    if level not in LEVELS:
        raise ImportFailed(f"{path.name}: level must be one of {', '.join(LEVELS)}, not {level!r}")
    if not layer or not str(layer).strip():
        raise ImportFailed(f"{path.name}: a layer name is required")
    report = ImportReport(file_name=path.name, source_kind="boundaries", profile="boundaries",
                          sha256=file_sha256(path) if path.exists() else "")
    frame, warnings = read_boundary_file(path, encoding=encoding, source_layer=source_layer)
    report.warnings.extend(warnings)
    read_layer = frame.attrs.get("source_layer")
    try:
        frame, source_crs, crs_warnings = _to_wgs84(frame, crs, path.name)
    except ImportFailed:
        raise
    except Exception as exc:  # pyproj raises CRSError and others; name the file and the CRS
        raise ImportFailed(f"{path.name}: cannot use the coordinate reference system {crs or frame.crs} "
                           f"({exc})") from exc
    report.warnings.extend(crs_warnings)
    areas = prepare_areas(frame, report, id_field=id_field, name_field=name_field,
                          population_field=population_field, district_field=district_field)
    report.details.update({"layer": layer, "level": level, "source_crs": source_crs, "source_layer": read_layer,
                           "encoding": encoding or "auto"})
    if areas.empty:
        raise ImportFailed(f"{path.name}: no usable area ({report.rejected} features rejected"
                           f"{': ' + report.rejections[0].reason if report.rejections else ''})")

    engine = engine or get_engine()
    with engine.begin() as conn:
        batch_id = open_batch(conn, report, layer=layer, user_name=user_name)
        existing = conn.execute(select(BoundaryLayer.id, BoundaryLayer.is_primary)
                                .where(BoundaryLayer.name == layer)).first()
        current_primary = conn.execute(select(BoundaryLayer.id)
                                       .where(BoundaryLayer.is_primary.is_(True))).scalars().all()
        if existing is None:
            make_primary = primary if primary is not None else (level == "neighbourhood" and not current_primary)
            layer_id = int(conn.execute(insert(BoundaryLayer).values(
                name=layer, level=level, is_primary=False, source_crs=source_crs, batch_id=batch_id, version=1,
            )).inserted_primary_key[0])
            was_primary = False
        else:
            layer_id, was_primary = int(existing.id), bool(existing.is_primary)
            make_primary = was_primary if primary is None else primary
        changed = _write_areas(conn, layer_id, areas, report)
        if existing is not None:
            values: dict[str, Any] = {"level": level, "source_crs": source_crs, "batch_id": batch_id}
            if changed or report.revised:
                values["version"] = BoundaryLayer.version + 1
            conn.execute(update(BoundaryLayer).where(BoundaryLayer.id == layer_id).values(**values))

        to_reassign = _set_primary(conn, layer_id, make_primary, was_primary, list(current_primary),
                                   changed or existing is None)
        reassigned = {str(i): reassign_layer(conn, i) for i in to_reassign}
        # Survey responses get their neighbourhood (and its district) from the primary layer by area code:
        # whenever that layer changes (areas moved, renamed, retired, districts revised) or another layer
        # takes or gives up the primary role, they are re-derived here, in the same transaction.
        survey_changed, survey_unassigned = 0, None
        if (make_primary or was_primary) and (to_reassign or report.revised):
            survey_changed, survey_unassigned = reassign_survey_responses(conn)
        report.details["primary"] = bool(make_primary)
        report.details["reassigned"] = reassigned
        report.details["survey_responses_reassigned"] = survey_changed
        report.details["survey_responses_unassigned"] = survey_unassigned
        if make_primary:
            from observatory.ingest.population import missing_population_warning  # imports this module

            warning = missing_population_warning(conn, layer_id)
            report.warnings.extend([warning] if warning else [])
        close_batch(conn, report)
    return report
