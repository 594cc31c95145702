"""Grid hot spots: Gi* on a regular grid of point counts (for cities whose areas are too large).

Cells are squares (``cell_size`` = side) or flat-topped hexagons (``cell_size`` = distance between
centres of adjacent cells, i.e. the flat-to-flat width), laid out in metres in the CRS chosen by
:func:`observatory.geo.projection.metric_crs`. Only cells that intersect the study area are kept: the
``area`` polygons when given, otherwise the convex hull of the points (so the sea around a coastal city
is not counted as "no crime" when its boundary is given).

Neighbours of a cell are the cells whose centres lie within 1.01 x the distance to a diagonal
neighbour: the 8 surrounding squares (queen contiguity) or the 6 surrounding hexagons. A kept cell with
no kept neighbour gets its nearest cell (see :mod:`observatory.geo.weights`).
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely import box

from observatory.geo.hotspots import gi_star
from observatory.geo.projection import metric_crs
from observatory.geo.weights import build_weights

SHAPES = ("square", "hex")


def _hexagons(x0: float, y0: float, x1: float, y1: float, size: float) -> np.ndarray:
    """Flat-topped hexagons with centre spacing ``size`` covering the box."""
    r = size / np.sqrt(3.0)  # circumradius
    dx = 1.5 * r
    ncol = int(np.ceil((x1 - x0) / dx)) + 2
    nrow = int(np.ceil((y1 - y0) / size)) + 2
    cols, rows = np.meshgrid(np.arange(ncol), np.arange(nrow))
    cx = x0 + cols.ravel() * dx
    cy = y0 + rows.ravel() * size + (cols.ravel() % 2) * size / 2.0
    angles = np.deg2rad(np.arange(0, 360, 60))
    ring = np.stack([cx[:, None] + r * np.cos(angles), cy[:, None] + r * np.sin(angles)], axis=-1)
    return shapely.polygons(ring)


def make_grid(
    extent: gpd.GeoDataFrame | gpd.GeoSeries,
    cell_size: float,
    *,
    shape: str = "square",
    clip_to: str = "geometry",
) -> gpd.GeoDataFrame:
    """Cells of ``cell_size`` metres covering ``extent``, in its metric CRS.

    Inputs: ``extent`` polygons or points (any CRS); ``shape`` "square" or "hex"; ``clip_to``
    "geometry" keeps cells intersecting the union of ``extent`` (use for area polygons),
    "hull" keeps cells intersecting its convex hull (use for points), "bounds" keeps all.
    Output: GeoDataFrame with ``cell_id`` (0..m-1) and polygon geometry, in the metric CRS.
    """
    if shape not in SHAPES:
        raise ValueError(f"grid shape must be one of {SHAPES}, got {shape!r}")
    if not cell_size > 0:
        raise ValueError("cell_size must be positive (metres)")
    geoms = extent.geometry if isinstance(extent, gpd.GeoDataFrame) else extent
    geoms = geoms[geoms.notna() & ~geoms.is_empty]
    if geoms.empty:
        raise ValueError("cannot build a grid over an empty extent")
    crs = metric_crs(geoms)
    if crs is not None and geoms.crs != crs:
        geoms = geoms.to_crs(crs)
    x0, y0, x1, y1 = geoms.total_bounds
    if (x1 - x0) * (y1 - y0) / cell_size**2 > 5_000_000:
        raise ValueError("grid would have more than 5 million cells: use a larger cell_size")
    if shape == "square":
        # Edges from one array so that neighbouring cells share exactly the same coordinates.
        xe = x0 + cell_size * np.arange(int(np.ceil((x1 - x0) / cell_size)) + 1)
        ye = y0 + cell_size * np.arange(int(np.ceil((y1 - y0) / cell_size)) + 1)
        xe = xe if len(xe) > 1 else np.array([x0, x0 + cell_size])
        ye = ye if len(ye) > 1 else np.array([y0, y0 + cell_size])
        ix, iy = np.meshgrid(np.arange(len(xe) - 1), np.arange(len(ye) - 1))
        ix, iy = ix.ravel(), iy.ravel()
        cells = box(xe[ix], ye[iy], xe[ix + 1], ye[iy + 1])
    else:
        cells = _hexagons(x0, y0, x1, y1, cell_size)
    grid = gpd.GeoDataFrame(geometry=cells, crs=crs)
    if clip_to != "bounds":
        union = geoms.union_all()
        target = union.convex_hull if clip_to == "hull" else union
        grid = grid[grid.intersects(target)]
    grid = grid.reset_index(drop=True)
    grid.insert(0, "cell_id", np.arange(len(grid)))
    return grid


def grid_counts(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    cell_size: float,
    *,
    shape: str = "square",
    area: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
) -> gpd.GeoDataFrame:
    """Number of points per grid cell (cells of the study area, see module docstring).

    Output: GeoDataFrame in the metric CRS with ``cell_id``, ``count`` (int; a point on a shared edge
    counts once) and geometry. Points outside every kept cell are not counted
    (``attrs["points_outside"]`` says how many).
    """
    pts = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    pts = pts[pts.notna() & ~pts.is_empty]
    if pts.empty:
        raise ValueError("no points to count")
    if area is not None:
        grid = make_grid(area, cell_size, shape=shape, clip_to="geometry")
    else:
        grid = make_grid(pts, cell_size, shape=shape, clip_to="hull")
    if grid.crs is not None and pts.crs != grid.crs:
        pts = pts.to_crs(grid.crs)
    pt_idx, cell_idx = grid.sindex.query(pts.values, predicate="intersects")
    # A point on an edge intersects two cells: keep the first so totals are preserved.
    first = pd.Series(cell_idx).groupby(pt_idx).first()
    counts = np.bincount(first.to_numpy(), minlength=len(grid))
    grid["count"] = counts.astype(int)
    grid.attrs["points_outside"] = int(len(pts) - len(first))
    return grid


def grid_hotspots(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    cell_size: float = 500.0,
    shape: str = "square",
    area: gpd.GeoDataFrame | gpd.GeoSeries | None = None,
    to_crs="EPSG:4326",
    **gi_options,
) -> gpd.GeoDataFrame:
    """Gi* hot spots of point counts on a grid.

    Inputs: points (any CRS), ``cell_size`` metres, ``shape`` "square"/"hex", optional study ``area``,
    ``to_crs`` output CRS (None keeps metres), and :func:`observatory.geo.hotspots.gi_star` options
    (``permutations``, ``seed``, ``fdr``, ``alpha``, ``transform``, ``star``; ``weights`` defaults to the
    grid's contiguity described in the module docstring). Output: GeoDataFrame with ``cell_id``,
    ``count``, ``gi``, ``gi_z``, ``gi_p``, ``gi_z_sim``, ``hotspot_class``, ``gi_significant``; attrs
    ``islands`` and ``points_outside``.
    """
    grid = grid_counts(points, cell_size, shape=shape, area=area)
    if len(grid) < 2:
        raise ValueError("the grid has fewer than 2 cells: use a smaller cell_size")
    if "weights" not in gi_options:
        reach = cell_size * (np.sqrt(2.0) if shape == "square" else 1.0) * 1.01
        transform = gi_options.get("transform", "B")
        gi_options["weights"] = build_weights(grid, "distance", distance=reach, transform=transform)
    result = gi_star(grid, "count", **gi_options)
    out = grid.join(result)
    out.attrs.update(grid.attrs)
    out.attrs["islands"] = result.attrs.get("islands", [])
    if to_crs is not None and out.crs is not None:
        out = out.to_crs(to_crs)
    return out
