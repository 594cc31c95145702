"""Import a boundary layer (neighbourhoods, districts, police quadrants...) from GeoJSON, GeoPackage or Shapefile.

Areas are stored in WGS84 (EPSG:4326) as WKB with their area in km² (measured in a Lambert azimuthal
equal-area projection centred on the layer) and their centroid. A layer can be imported again from a new
version of its file: areas whose code persists keep their id, new codes are added, vanished codes are
deactivated, and incidents are reassigned in the same transaction, so none is lost.
"""

from __future__ import annotations

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
from observatory.text import fold

LEVELS = ("neighbourhood", "district", "other")
FALLBACK_ENCODINGS = ("cp1252", "latin-1")
_POLYGONAL = ("Polygon", "MultiPolygon")


# --- reading ----------------------------------------------------------------------------------------------


def _polygon_layer(path: Path) -> str | None:
    """Name of the first layer with polygon geometries (GeoPackages may hold several); None if single-layer."""
    try:
        layers = pyogrio.list_layers(path)
    except Exception:  # let read_dataframe report unreadable files with its own message
        return None
    if len(layers) <= 1:
        return None
    for name, geometry_type in layers:
        if geometry_type and "polygon" in str(geometry_type).lower():
            return str(name)
    return str(layers[0][0])


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


def read_boundary_file(path: str | Path, encoding: str | None = None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Read a GeoJSON, GeoPackage or Shapefile into a GeoDataFrame (source CRS, geometries as read).

    Text encoding: the file's declared one (a shapefile's ``.cpg``) or ``encoding``; when decoding fails,
    cp1252 then Latin-1 are tried, and UTF-8 text misread as Latin-1 (a ``.dbf`` without ``.cpg``) is
    repaired. Returns the frame and warnings for the import report. Raises :class:`ImportFailed`.
    """
    path = Path(path)
    if not path.exists():
        raise ImportFailed(f"{path}: file not found")
    layer = _polygon_layer(path)
    warnings: list[str] = []
    attempts: list[str | None] = [encoding, *FALLBACK_ENCODINGS]
    last_error: Exception | None = None
    for enc in attempts:
        try:
            frame = gpd.read_file(path, engine="pyogrio", layer=layer, encoding=enc)
        except UnicodeDecodeError as exc:
            last_error = exc
            continue
        except Exception as exc:  # GDAL errors come in many classes; name the file
            raise ImportFailed(f"{path.name}: cannot read as GeoJSON, GeoPackage or Shapefile ({exc})") from exc
        if not isinstance(frame, gpd.GeoDataFrame) or frame._geometry_column_name not in frame.columns:
            # GDAL also reads CSV and other tables without geometries: not a boundary file.
            raise ImportFailed(f"{path.name}: the file has no geometries (GeoJSON, GeoPackage or Shapefile expected)")
        if enc is not None and enc != encoding:
            warnings.append(f"text decoded as {enc} (the declared encoding failed)")
        if path.suffix.lower() == ".shp" and enc is None and not path.with_suffix(".cpg").exists():
            if _undo_mojibake(frame):
                warnings.append("the .dbf has no .cpg but holds UTF-8 text: decoded as UTF-8")
        if layer:
            warnings.append(f"read layer {layer!r} of a multi-layer file")
        return frame, warnings
    raise ImportFailed(f"{path.name}: cannot decode the attribute text ({last_error}); pass the file's encoding")


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
            first, first_wkb, first_name = seen[code]
            if first_wkb == wkb and first_name == name:
                report.duplicates += 1  # an exact copy of an earlier feature: harmless
            else:
                report.reject(feature, id_field, f"{file_name}, feature {feature}: duplicate id {code!r} in field "
                              f"{id_field!r} (first used by feature {first})", raw)
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
    report.loaded = len(rows)
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


def import_boundaries(path: str | Path, *, layer: str, id_field: str, name_field: str,
                      population_field: str | None = None, district_field: str | None = None,
                      crs: str | None = None, level: str = "neighbourhood", primary: bool | None = None,
                      engine: Engine | None = None, user_name: str | None = None,
                      encoding: str | None = None) -> ImportReport:
    """Import (or replace) boundary layer ``layer`` from a GeoJSON, GeoPackage or Shapefile.

    Inputs: the file; the layer name; the fields holding each area's unique id (stored as its code), name,
    optional population (a count of residents; blanks -> unknown) and district; ``crs`` for files that
    declare none (any pyproj string, e.g. ``"EPSG:3435"``); ``level`` ("neighbourhood", "district" or
    "other"); ``primary``: True makes this the layer incidents' neighbourhood refers to, False stops it
    being so, None keeps the layer's current role (a new neighbourhood layer becomes primary when there is
    none yet); ``encoding`` of the attribute text when the file does not declare it correctly.
    Output: the :class:`ImportReport` (``details`` holds repaired geometries, areas added/updated/
    deactivated and incidents reassigned). The batch, areas and reassignment form one transaction.
    Raises :class:`ImportFailed` for an unreadable file, a missing field or an unknown CRS.
    """
    path = Path(path)
    if level not in LEVELS:
        raise ImportFailed(f"{path.name}: level must be one of {', '.join(LEVELS)}, not {level!r}")
    if not layer or not str(layer).strip():
        raise ImportFailed(f"{path.name}: a layer name is required")
    report = ImportReport(file_name=path.name, source_kind="boundaries", profile="boundaries",
                          sha256=file_sha256(path) if path.exists() else "")
    frame, warnings = read_boundary_file(path, encoding=encoding)
    report.warnings.extend(warnings)
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
    report.details.update({"layer": layer, "level": level, "source_crs": source_crs})
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

        to_reassign: list[int] = []
        if make_primary and not was_primary:
            previous = [i for i in current_primary if i != layer_id]
            if previous:
                conn.execute(update(BoundaryLayer).where(BoundaryLayer.id.in_(previous)).values(is_primary=False))
            conn.execute(update(BoundaryLayer).where(BoundaryLayer.id == layer_id).values(is_primary=True))
            to_reassign = [layer_id, *previous]
        elif was_primary and not make_primary:
            conn.execute(update(BoundaryLayer).where(BoundaryLayer.id == layer_id).values(is_primary=False))
            to_reassign = [layer_id]
        elif changed or existing is None:
            to_reassign = [layer_id]
        reassigned = {str(i): reassign_layer(conn, i) for i in to_reassign}
        report.details["primary"] = bool(make_primary)
        report.details["reassigned"] = reassigned
        close_batch(conn, report)
    return report
