"""Choose a projected, metric coordinate reference system for distance-based work.

Distances (k-nearest neighbours, distance bands, kernel bandwidths, grid cells) only make sense in a
projected CRS whose unit is the metre. Crime data arrive in WGS84 lon/lat (EPSG:4326) or in a local
projection that may use feet (Chicago's EPSG:3435); both are turned into metres here.
"""

from __future__ import annotations

import geopandas as gpd
from pyproj import CRS


def _is_metric(crs: CRS) -> bool:
    """True for a projected CRS whose horizontal axes are in metres."""
    if not crs.is_projected:
        return False
    units = {(axis.unit_name or "").lower() for axis in crs.axis_info[:2]}
    return units <= {"metre", "meter"}


def metric_crs(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> CRS | None:
    """The CRS to measure ``gdf`` in, in metres.

    Input: a GeoDataFrame or GeoSeries. Output:
    - the data's own CRS when it is already projected in metres (keeps a city's official projection);
    - otherwise the UTM zone containing the data's centre (``estimate_utm_crs``, from pyproj's database),
      e.g. EPSG:32614 for Mexico City, EPSG:32618 for New York;
    - ``None`` when the data carry no CRS: coordinates are then taken as planar and used as they are
      (libpysal's bundled example shapefiles, for instance, have no CRS).
    """
    crs = gdf.crs
    if crs is None:
        return None
    crs = CRS.from_user_input(crs)
    if _is_metric(crs):
        return crs
    if gdf.empty:
        raise ValueError("cannot choose a metric CRS for an empty layer")
    return gdf.estimate_utm_crs()


def to_metric(gdf: gpd.GeoDataFrame | gpd.GeoSeries) -> gpd.GeoDataFrame | gpd.GeoSeries:
    """``gdf`` reprojected to :func:`metric_crs` (unchanged when it has no CRS or is already metric)."""
    target = metric_crs(gdf)
    if target is None or CRS.from_user_input(gdf.crs) == target:
        return gdf
    return gdf.to_crs(target)
