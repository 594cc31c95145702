"""Spatial weights between areas (libpysal), with islands attached to their nearest area.

Contiguity (queen: a shared vertex is enough; rook: a shared edge is needed) comes from the polygons
themselves. k-nearest neighbours and distance bands are measured between area centroids in metres, in
the CRS chosen by :func:`observatory.geo.projection.metric_crs`.

An *island* is an area with no neighbour (a polygon detached from the rest, or a centroid farther than
the distance band from every other). Local statistics are undefined there, so, as GeoDa and libpysal's
``attach_islands`` do, each island is linked (both ways, weight 1) to its nearest area by centroid
distance; the ids of the islands are reported in :attr:`SpatialWeights.islands`.
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
from libpysal.weights import KNN, DistanceBand, Queen, Rook, W, attach_islands

from observatory.geo.projection import to_metric

KINDS = ("queen", "rook", "knn", "distance")
TRANSFORMS = ("B", "R")


@dataclass
class SpatialWeights:
    """Weights of ``n`` areas in the row order of the GeoDataFrame they were built from.

    ``w`` is a libpysal ``W`` whose ids are positions 0..n-1; ``ids`` are the GeoDataFrame's index
    labels in the same order; ``islands`` are the index labels of areas that had no neighbour and were
    given their nearest one.
    """

    w: W
    kind: str
    ids: list
    islands: list = field(default_factory=list)

    @property
    def n(self) -> int:
        """Number of areas."""
        return self.w.n


def _centroids(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Area centroids in metres (points stay points), positional index."""
    metric = to_metric(gdf.geometry)
    return gpd.GeoDataFrame(geometry=metric.centroid.values, crs=metric.crs)


def _knn(points: gpd.GeoDataFrame, k: int) -> W:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return KNN.from_dataframe(points, k=k, use_index=False)


def build_weights(
    gdf: gpd.GeoDataFrame,
    kind: str = "queen",
    *,
    k: int = 8,
    distance: float | None = None,
    transform: str = "B",
    attach: bool = True,
) -> SpatialWeights:
    """Spatial weights for the rows of ``gdf``.

    Inputs: ``gdf`` with polygon (or point) geometries; ``kind`` one of "queen", "rook", "knn" (``k``
    nearest centroids) or "distance" (centroids within ``distance`` metres, binary); ``transform`` "B"
    (binary, 1 per neighbour) or "R" (row-standardised, each row sums to 1); ``attach`` links islands to
    their nearest area. Output: a :class:`SpatialWeights` (ids are row positions).

    Geometries without CRS are taken as planar: ``distance`` is then in the data's own units.
    """
    if kind not in KINDS:
        raise ValueError(f"weights kind must be one of {KINDS}, got {kind!r}")
    if transform.upper() not in TRANSFORMS:
        raise ValueError(f"weights transform must be 'B' or 'R', got {transform!r}")
    if len(gdf) < 2:
        raise ValueError(f"spatial weights need at least 2 areas, got {len(gdf)}")
    if gdf.geometry.isna().any() or gdf.geometry.is_empty.any():
        bad = list(gdf.index[gdf.geometry.isna() | gdf.geometry.is_empty][:5])
        raise ValueError(f"areas without geometry cannot be weighted: {bad}")
    frame = gpd.GeoDataFrame(geometry=gdf.geometry.values, crs=gdf.crs)
    # libpysal warns about islands and disconnected components; we report islands ourselves.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if kind == "queen":
            w = Queen.from_dataframe(frame, use_index=False)
        elif kind == "rook":
            w = Rook.from_dataframe(frame, use_index=False)
        elif kind == "knn":
            if not 0 < k < len(gdf):
                raise ValueError(f"k must be between 1 and {len(gdf) - 1}, got {k}")
            w = _knn(_centroids(frame), k)
        else:
            if distance is None or not distance > 0:
                raise ValueError("distance-band weights need a positive distance (metres)")
            w = DistanceBand.from_dataframe(_centroids(frame), threshold=float(distance), binary=True,
                                            use_index=False)
    islands_pos = list(w.islands)
    if islands_pos and attach:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            w = attach_islands(w, _knn(_centroids(frame), 1))
    w.id_order = list(range(len(gdf)))  # explicit, so esda's smoothers accept it
    w.transform = transform.upper()
    labels = list(gdf.index)
    return SpatialWeights(w=w, kind=kind, ids=labels, islands=[labels[i] for i in islands_pos])


def resolve_weights(
    gdf: gpd.GeoDataFrame,
    weights: str | SpatialWeights | W,
    *,
    k: int = 8,
    distance: float | None = None,
    transform: str = "B",
) -> SpatialWeights:
    """Accept a kind name, a :class:`SpatialWeights` or a libpysal ``W`` and return SpatialWeights.

    A ready ``W`` must have ``n == len(gdf)`` and is used in its ``id_order`` (the caller's
    responsibility to match the rows). Prebuilt weights are not modified: a shallow copy gets the
    ``transform``.
    """
    if isinstance(weights, str):
        return build_weights(gdf, weights, k=k, distance=distance, transform=transform)
    if isinstance(weights, SpatialWeights):
        sw = weights
    elif isinstance(weights, W):
        sw = SpatialWeights(w=weights, kind="custom", ids=list(gdf.index))
    else:
        raise TypeError(f"weights must be a kind name, SpatialWeights or libpysal W, got {type(weights)}")
    if sw.n != len(gdf):
        raise ValueError(f"weights cover {sw.n} areas but the data have {len(gdf)} rows")
    # A shallow copy: callers (e.g. a web app) share one cached W between threads and statistics with
    # different transforms; setting the transform on the copy rebinds only the copy's attributes.
    w = copy.copy(sw.w)
    w.transform = transform.upper()
    return SpatialWeights(w=w, kind=sw.kind, ids=sw.ids, islands=list(sw.islands))


def neighbour_counts(sw: SpatialWeights) -> np.ndarray:
    """Number of neighbours of each area, in row order."""
    return np.array([sw.w.cardinalities[i] for i in sw.w.id_order])


def neighbour_dict(sw: SpatialWeights, labels=None) -> dict[str, list[str]]:
    """Neighbours as ``{label: [neighbour labels]}`` (labels as strings), e.g. for the comparison
    buffer of :func:`observatory.indicators.intervention.evaluate_intervention`.

    ``labels``: one per area in row order (e.g. ``gdf["code"]``); default ``sw.ids``.
    """
    names = [str(x) for x in (sw.ids if labels is None else list(labels))]
    if len(names) != sw.n:
        raise ValueError(f"{len(names)} labels for {sw.n} areas")
    position = {area: i for i, area in enumerate(sw.w.id_order)}
    return {names[position[a]]: [names[position[b]] for b in sw.w.neighbors[a]] for a in sw.w.id_order}
