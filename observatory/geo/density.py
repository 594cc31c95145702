"""Kernel density of incident points on a regular grid in metres (binned Gaussian KDE).

Method: points are projected to metres (:func:`observatory.geo.projection.metric_crs`), counted into
square cells of ``cell_size`` metres, and the counts are convolved with a Gaussian kernel of standard
deviation ``bandwidth`` metres (``scipy.ndimage.gaussian_filter``, truncated at 4 bandwidths). This is
the binned approximation of the Gaussian KDE (Wand 1994); its error is below the cell size, and it
takes well under a second for tens of thousands of points, where an exact KDE would take minutes.

Density unit: incidents per km² (the surface integrates to the number of points, less what the kernel
spreads beyond the grid's margin of 3 bandwidths).

Bandwidth rule (default ``"scott"``): h = σ · n^(-1/6), Scott's rule for a 2-D Gaussian kernel, with σ
the mean over x and y of the robust spread min(std, IQR / 1.349) of the projected coordinates
(Silverman's robust spread, so a few far-away points do not inflate it). For d = 2 Scott's and
Silverman's factors coincide, so ``"silverman"`` gives the same value. Crime points are strongly
clustered and this normal-reference rule oversmooths; pass ``bandwidth`` (metres, e.g. 250-500 in a
city) to override it.

Layers for a map (the surface, not a screen-space heat map whose look changes with the zoom):

- :func:`density_raster`: the grid as an image with its four corners in EPSG:4326 (what a map's
  image layer needs), its unit and bandwidth.
- :func:`density_contours`: GeoJSON-ready polygons of the *highest-density areas* holding 25%, 50%,
  75% and 90% of the incidents (the densest cells first, as in a highest-density region): each band
  is the cells whose density lies between two thresholds, so one colour never covers the city.
  Edges follow the cells (``cell_size``), no interpolation.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import CRS, Transformer
from scipy import ndimage
from shapely import box

from observatory.geo.projection import to_metric

RULES = ("scott", "silverman")


@dataclass
class DensityResult:
    """A density raster.

    ``density``: 2-D array (rows north to south, columns west to east) in incidents per km²;
    ``transform``: GDAL-style affine ``(x_min, cell_size, 0, y_max, 0, -cell_size)`` mapping column c,
    row r to the cell's upper-left corner ``(x_min + c*cell, y_max - r*cell)`` in ``crs`` (metres);
    ``bandwidth`` and ``cell_size`` in metres; ``n_points`` points used; ``rule`` how the bandwidth
    was chosen ("user" when given).
    """

    density: np.ndarray
    transform: tuple[float, float, float, float, float, float]
    crs: CRS | None
    bandwidth: float
    cell_size: float
    n_points: int
    rule: str

    @property
    def shape(self) -> tuple[int, int]:
        """(rows, columns)."""
        return self.density.shape


def bandwidth_rule(xy: np.ndarray, rule: str = "scott") -> float:
    """Normal-reference bandwidth (metres) for projected coordinates ``xy`` (n x 2); see module doc."""
    if rule not in RULES:
        raise ValueError(f"bandwidth rule must be one of {RULES}, got {rule!r}")
    n = len(xy)
    if n < 2:
        raise ValueError("a bandwidth rule needs at least 2 points")
    std = xy.std(axis=0, ddof=1)
    iqr = np.subtract(*np.percentile(xy, [75, 25], axis=0)) / 1.349
    spread = np.where(iqr > 0, np.minimum(std, iqr), std)
    sigma = float(spread.mean())
    if not sigma > 0:
        raise ValueError("all points coincide: give an explicit bandwidth")
    # d = 2: Scott n^(-1/(d+4)) and Silverman (n(d+2)/4)^(-1/(d+4)) are both n^(-1/6).
    return sigma * n ** (-1.0 / 6.0)


def point_coordinates(points: gpd.GeoDataFrame | gpd.GeoSeries) -> tuple[np.ndarray, CRS | None]:
    """Projected (metres) x, y of non-empty point geometries, and their CRS."""
    geoms = points.geometry if isinstance(points, gpd.GeoDataFrame) else points
    geoms = geoms[geoms.notna() & ~geoms.is_empty]
    if len(geoms) and not (geoms.geom_type == "Point").all():
        raise ValueError("kernel density needs point geometries")
    metric = to_metric(geoms)
    return np.column_stack([metric.x.to_numpy(), metric.y.to_numpy()]), metric.crs


def kernel_density(
    points: gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    cell_size: float = 100.0,
    bandwidth: float | None = None,
    rule: str = "scott",
    extent: tuple[float, float, float, float] | None = None,
    max_cells: int = 25_000_000,
) -> DensityResult:
    """Gaussian kernel density surface of ``points`` (see module docstring for method and units).

    Inputs: point GeoDataFrame/GeoSeries (any CRS; missing/empty geometries skipped); ``cell_size`` in
    metres; ``bandwidth`` in metres (None: ``rule``); ``extent`` (x_min, y_min, x_max, y_max) in the
    metric CRS (default: the points' bounds plus 3 bandwidths); ``max_cells`` guards memory.
    Output: :class:`DensityResult`.
    """
    if not cell_size > 0:
        raise ValueError("cell_size must be positive (metres)")
    xy, crs = point_coordinates(points)
    if len(xy) == 0:
        raise ValueError("no points to estimate a density from")
    if bandwidth is None:
        h, used = bandwidth_rule(xy, rule), rule
    else:
        if not bandwidth > 0:
            raise ValueError("bandwidth must be positive (metres)")
        h, used = float(bandwidth), "user"
    if extent is None:
        margin = 3 * h
        x0, y0 = xy.min(axis=0) - margin
        x1, y1 = xy.max(axis=0) + margin
    else:
        x0, y0, x1, y1 = map(float, extent)
    ncol = max(1, int(np.ceil((x1 - x0) / cell_size)))
    nrow = max(1, int(np.ceil((y1 - y0) / cell_size)))
    if ncol * nrow > max_cells:
        raise ValueError(f"grid of {nrow} x {ncol} cells exceeds max_cells={max_cells}: use a larger cell_size")
    y_max = y0 + nrow * cell_size
    # Row 0 is the northern edge, like an image / GeoTIFF.
    col = np.floor((xy[:, 0] - x0) / cell_size).astype(int)
    row = np.floor((y_max - xy[:, 1]) / cell_size).astype(int)
    inside = (col >= 0) & (col < ncol) & (row >= 0) & (row < nrow)
    counts = np.zeros((nrow, ncol), dtype=float)
    np.add.at(counts, (row[inside], col[inside]), 1.0)
    smoothed = ndimage.gaussian_filter(counts, sigma=h / cell_size, mode="constant", truncate=4.0)
    cell_km2 = (cell_size / 1000.0) ** 2
    return DensityResult(
        density=smoothed / cell_km2,
        transform=(float(x0), float(cell_size), 0.0, float(y_max), 0.0, -float(cell_size)),
        crs=crs,
        bandwidth=h,
        cell_size=float(cell_size),
        n_points=int(inside.sum()),
        rule=used,
    )


def density_cells(result: DensityResult, *, min_density: float | None = None, to_crs="EPSG:4326") -> gpd.GeoDataFrame:
    """The density raster as square cell polygons, for a choropleth heat map.

    Inputs: a :class:`DensityResult`; ``min_density`` drops cells below it (incidents per km²; default
    5% of the maximum, which keeps the map light); ``to_crs`` output CRS (None keeps the metric CRS;
    ignored when the result has no CRS). Output: GeoDataFrame with ``row``, ``col``, ``density``.
    """
    d = result.density
    if min_density is None:
        min_density = 0.05 * float(d.max()) if d.size else 0.0
    rows, cols = np.nonzero(d >= min_density) if d.max() > 0 else (np.array([], int), np.array([], int))
    x0, cell, _, y_max, _, _ = result.transform
    xs = x0 + cols * cell
    ys = y_max - rows * cell
    geoms = box(xs, ys - cell, xs + cell, ys)
    gdf = gpd.GeoDataFrame({"row": rows, "col": cols, "density": d[rows, cols]}, geometry=geoms, crs=result.crs)
    if to_crs is not None and result.crs is not None:
        gdf = gdf.to_crs(to_crs)
    return gdf


DENSITY_UNIT = "incidents per km²"


def density_raster(result: DensityResult, *, to_crs="EPSG:4326") -> dict:
    """The density grid as an image layer: values and where its corners lie on the map.

    Output: ``density`` (2-D array, row 0 north, incidents per km²), ``corners`` (lon, lat of the
    top-left, top-right, bottom-right and bottom-left corners in ``to_crs``, the order of a map
    image layer), ``bounds`` (west, south, east, north), ``unit``, ``bandwidth_m``, ``cell_size_m``,
    ``rule``, ``n_points``, ``max``. The grid is square in metres; in lon/lat it is a slightly
    rotated quadrilateral, which the four corners describe. Without a CRS the corners are metres.
    """
    x0, cell, _, y_max, _, _ = result.transform
    nrow, ncol = result.shape
    xs = np.array([x0, x0 + ncol * cell, x0 + ncol * cell, x0])
    ys = np.array([y_max, y_max, y_max - nrow * cell, y_max - nrow * cell])
    if result.crs is not None and to_crs is not None:
        xs, ys = Transformer.from_crs(result.crs, to_crs, always_xy=True).transform(xs, ys)
    corners = [[float(x), float(y)] for x, y in zip(xs, ys, strict=True)]
    return {
        "density": result.density, "corners": corners,
        "bounds": (float(min(xs)), float(min(ys)), float(max(xs)), float(max(ys))),
        "unit": DENSITY_UNIT, "bandwidth_m": result.bandwidth, "cell_size_m": result.cell_size,
        "rule": result.rule, "n_points": result.n_points, "max": float(result.density.max()),
    }


def mass_thresholds(density: np.ndarray, shares) -> np.ndarray:
    """Density (per km²) above which the densest cells hold each share of the surface's mass."""
    values = np.sort(density.ravel())[::-1]
    total = values.sum()
    if total <= 0:
        raise ValueError("the density surface is zero everywhere")
    cumulative = np.cumsum(values) / total
    idx = np.minimum(np.searchsorted(cumulative, np.asarray(shares, dtype=float), side="left"), len(values) - 1)
    return values[idx]


def density_contours(result: DensityResult, *, shares=(0.25, 0.5, 0.75, 0.9), to_crs="EPSG:4326") -> gpd.GeoDataFrame:
    """Polygons of the highest-density areas holding ``shares`` of the incidents (module docstring).

    Output: one row per band, densest first, with ``share`` (the share of incidents in this band
    and the denser ones), ``density_low`` / ``density_high`` (incidents per km² of the band's cells;
    the densest band's high is the maximum), ``unit``, and the band's (Multi)Polygon in ``to_crs``.
    ``attrs``: bandwidth_m, cell_size_m, rule, unit.
    """
    shares = sorted(float(s) for s in shares)
    if not shares or shares[0] <= 0 or shares[-1] > 1:
        raise ValueError(f"shares must be in (0, 1], got {shares}")
    d = result.density
    cuts = mass_thresholds(d, shares)
    x0, cell, _, y_max, _, _ = result.transform
    rows, cols = np.indices(d.shape)
    squares = box(x0 + cols * cell, y_max - (rows + 1) * cell, x0 + (cols + 1) * cell, y_max - rows * cell)
    records, geoms, upper = [], [], np.inf
    for share, cut in zip(shares, cuts, strict=True):
        inside = (d >= cut) & (d < upper)
        if inside.any():
            geoms.append(shapely.coverage_union_all(squares[inside]))
            high = float(d.max()) if np.isinf(upper) else float(upper)
            records.append({"share": share, "density_low": float(cut), "density_high": high, "unit": DENSITY_UNIT})
        upper = cut
    out = gpd.GeoDataFrame(pd.DataFrame(records, columns=["share", "density_low", "density_high", "unit"]),
                           geometry=geoms, crs=result.crs)
    if to_crs is not None and result.crs is not None:
        out = out.to_crs(to_crs)
    out.attrs.update(bandwidth_m=result.bandwidth, cell_size_m=result.cell_size, rule=result.rule,
                     unit=DENSITY_UNIT)
    return out
