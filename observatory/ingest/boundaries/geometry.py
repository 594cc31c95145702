"""Stage 2, normalise the geometries: WGS84, valid, polygonal, measured.

* :func:`to_wgs84` flattens 3-D files and reprojects to EPSG:4326 (a file without CRS whose coordinates
  look like lon/lat is taken as WGS84; otherwise the user must pass ``--crs``);
* :func:`repair` makes invalid polygons valid and keeps only polygonal parts (a feature with none is
  rejected later by :mod:`.prepare`);
* :func:`measure` gives each area's km² and centroid in a Lambert azimuthal equal-area projection
  centred on the layer (:func:`equal_area_crs`), since degrees are no unit of area.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from pyproj import CRS

from observatory.ingest.report import ImportFailed

_POLYGONAL = ("Polygon", "MultiPolygon")


def _reproject(frame: gpd.GeoDataFrame, crs: str | None, file_name: str) -> tuple[gpd.GeoDataFrame, str, list[str]]:
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


def to_wgs84(frame: gpd.GeoDataFrame, crs: str | None, file_name: str) -> tuple[gpd.GeoDataFrame, str, list[str]]:
    """Reproject to EPSG:4326 in 2-D; returns (frame, source CRS as text, warnings).

    ``crs`` overrides (or supplies) the file's CRS. Raises :class:`ImportFailed` naming the file and the CRS.
    """
    try:
        return _reproject(frame, crs, file_name)
    except ImportFailed:
        raise
    except Exception as exc:  # pyproj raises CRSError and others; name the file and the CRS
        raise ImportFailed(f"{file_name}: cannot use the coordinate reference system {crs or frame.crs} "
                           f"({exc})") from exc
