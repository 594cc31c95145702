"""Per-area figures of the map: counts, rates, smoothed rates, Gi*, local Moran, emerging hot
spots, the heat layer and the analyst's points."""

from __future__ import annotations

import numpy as np
import pandas as pd
import shapely.geometry

from observatory.queries.access import (  # the public rules; re-exported for the pages and tests
    HOTSPOT_LAYERS as HOTSPOT_LAYERS,
)
from observatory.queries.access import (
    WITHHOLD_SHARE as WITHHOLD_SHARE,
)
from observatory.queries.access import (
    is_restricted,
    published_values,
)
from observatory.queries.access import (
    suppressed_value as suppressed_value,
)
from observatory.web.cache import cached
from observatory.web.data.areas import (
    _weights,
    areas,
    areas_bounds,
)
from observatory.web.data.reference import (
    categories,
    category_names,
    to_filters,
)
from observatory.web.data.runtime import (
    _key,
    _shared,
    engine,
    version,
)
from observatory.web.state import ViewState

# The public rules of these statistics (imputation of suppressed cells, when a statistic is withheld,
# no hotspot statistic for sensitive selections) live in observatory.queries.access.
WITHHELD = "withheld"
# Local Moran's conditional randomisation: permutations (p-values in steps of 1/200, enough for the
# 5% two-sided test) and a fixed seed (the same view always shows the same clusters).
MORAN_PERMUTATIONS = 199
MORAN_SEED = 1


def selects_sensitive(state: ViewState) -> bool:
    """True when the view's category choice names a sensitive category (``access.selects_sensitive``)."""
    from observatory.queries.access import selects_sensitive as names_sensitive

    return names_sensitive(to_filters(state), categories())


def hotspots_withheld(state: ViewState, role: str = "public", layer: str | None = None) -> str | None:
    """Why the public gets no hotspot statistic for ``state`` (notice key ``notice.<key>``), or None
    (``access.hotspots_withheld``: area cells for Gi* and Moran, area-months for emerging hot spots)."""
    from observatory.queries.access import hotspots_withheld as withheld

    layer = layer or state.layer

    def share() -> float:
        if not len(areas()):
            return 0.0
        cells = _public_area_month(_key(state), role) if layer == "emerging" else _area_counts(_key(state), role)[0]
        return float(cells["count"].isna().mean())

    return withheld(role, layer, selects_sensitive(state) if not is_restricted(role) else False, share)


def _statistic_counts(frame: pd.DataFrame, full: pd.DataFrame, role: str) -> tuple[pd.Series, pd.Series]:
    """(counts the statistics use, counts the rates divide): true counts for analysts; for the
    public the published counts (suppressed at :func:`suppressed_value`) and the published ones."""
    if is_restricted(role):
        n = frame["id"].map(full.set_index("neighbourhood_id")["count"].astype(float)).fillna(0).astype(float)
        return n, n
    return published_values(frame["count"], role), pd.to_numeric(frame["count"], errors="coerce").astype(float)


@cached(version)
def _area_stats(state_json: dict, role: str, with_moran: bool, moran_area: int | None = None) -> pd.DataFrame:
    from observatory import geo

    gdf = areas()
    counts, full, _ = _area_counts(state_json, role)
    keep = ["neighbourhood_id", "count", *(["suppressed"] if "suppressed" in counts else [])]
    frame = gdf[["id", "code", "name", "district", "population"]].merge(
        counts[keep], left_on="id", right_on="neighbourhood_id", how="left"
    ).drop(columns="neighbourhood_id")
    # Analysts: true counts. Public: the published counts only (see the section comment above).
    n, shown = _statistic_counts(frame, full, role)
    rates = geo.eb_rates(n, frame["population"])
    frame["rate"] = np.asarray(geo.rate_per_100k(shown.to_numpy(), frame["population"].to_numpy()), dtype=float)
    frame["smoothed"] = rates["eb_rate"].to_numpy()
    # The 95% posterior interval of the smoothed rate (Poisson-gamma EB): shown in hover and CSV.
    frame["smoothed_low"], frame["smoothed_high"] = rates["eb_low"].to_numpy(), rates["eb_high"].to_numpy()
    frame["gi_z"], frame["gi_class"], frame["moran"] = np.nan, "not significant", "not significant"
    withheld = hotspots_withheld(ViewState.from_dict(state_json), role, "gi")
    fdr = bool(state_json.get("fdr"))  # one two-sided 5% convention; optionally Benjamini-Hochberg
    if withheld:
        frame["gi_class"], frame["moran"] = WITHHELD, WITHHELD
    elif len(frame) >= 3 and n.sum() > 0:
        # Moran's rates from the statistics' counts (public: suppressed cells imputed, see above).
        stat = gdf[["geometry"]].assign(n=n.to_numpy(), v=rates["rate"].fillna(0).to_numpy())
        gi = geo.gi_star(stat, "n", weights=_weights(), fdr=fdr)
        frame["gi_z"] = gi["gi_z"].to_numpy()
        frame["gi_class"] = gi["hotspot_class"].to_numpy()
        if with_moran or moran_area is not None:
            # Moran on rates when populations are known (counts otherwise): clusters of risk, not of size.
            column = "v" if frame["population"].fillna(0).gt(0).all() else "n"
            # One area's permutations when only its cluster is shown (the same p-value as among all);
            # every area's with FDR, whose cut-off depends on all of them.
            rows = None if with_moran or fdr else np.flatnonzero(frame["id"].to_numpy() == moran_area).tolist()
            mo = geo.local_moran(stat, column, weights=_weights(), permutations=MORAN_PERMUTATIONS,
                                 seed=MORAN_SEED, fdr=fdr, rows=rows)
            frame["moran"] = mo["cluster"].to_numpy()
    # A rate whose count is NA is NA (a rate times the population gives the count back).
    hidden = frame["count"].isna()
    frame.loc[hidden, ["rate", "smoothed", "smoothed_low", "smoothed_high"]] = np.nan
    return frame


def _area_counts(state_json: dict, role: str) -> tuple[pd.DataFrame, pd.DataFrame, int | None]:
    """(role's counts per area, TRUE counts per area, role's total) from one aggregate
    (``queries.area_counts``), shared within a :func:`shared_scope`. The true counts feed
    derived statistics only (rates, Gi*, Moran): tables and hover use the role's counts."""
    from observatory import queries

    return _shared("area_counts", state_json, role, lambda: queries.area_counts(
        engine(), to_filters(ViewState.from_dict(state_json)), role))


def area_stats(state: ViewState, role: str = "public", with_moran: bool = False,
               moran_area: int | None = None) -> pd.DataFrame:
    """Per area: id, code, name, district, population, count (role-filtered), rate per 100k,
    smoothed (EB) rate with smoothed_low / smoothed_high (its 95% posterior interval, ``geo.eb_rates``),
    gi_z, gi_class (Esri classes), moran (local Moran cluster label, only
    computed ``with_moran``: 199 permutations cost more than everything else together; or for the
    area with id ``moran_area`` alone, the profile's, the same label as among all)."""
    return _area_stats(_key(state), role, with_moran, None if with_moran or moran_area is None else int(moran_area))


# --- maps: emerging hotspots, heat layer, points ------------------------------------------------

EMERGING_CATEGORIES: tuple[str, ...] = ("new", "intensifying", "persistent", "diminishing", "sporadic", "none")


@cached(version)
def _public_area_month(state_json: dict, role: str) -> pd.DataFrame:
    """The published area x month counts of the view (``queries.counts_by_area_month`` for ``role``)."""
    from observatory import queries

    return queries.counts_by_area_month(engine(), to_filters(ViewState.from_dict(state_json)), role)


@cached(version)
def _emerging(state_json: dict, role: str) -> dict:
    from observatory import geo, queries
    from observatory.queries.access import is_restricted

    state = ViewState.from_dict(state_json)
    if hotspots_withheld(state, role, "emerging"):
        return {}
    if is_restricted(role):
        counts = queries.true_counts_by_area_month(engine(), to_filters(state), role)
    else:  # the published area-months, suppressed cells at suppressed_value()
        counts = _public_area_month(state_json, role)
        counts = counts.assign(count=published_values(counts["count"], role))[["neighbourhood_id", "month", "count"]]
    gdf = areas()
    if counts.empty or counts["month"].nunique() < 2 or len(gdf) < 3:
        return {}
    indexed = gdf.set_index("id")
    result = geo.emerging_hotspots(counts.rename(columns={"neighbourhood_id": "area"}), indexed,
                                   weights=_weights())
    return {int(k): v for k, v in result["category"].items()}


def emerging(state: ViewState, role: str = "public") -> dict:
    """Area id -> emerging hot-spot category (Mann-Kendall trend + Gi* history, ``geo.emerging``).

    Analysts: from the true monthly counts. Public: from the published area-month counts
    (suppressed cells at :func:`suppressed_value`); empty when :func:`hotspots_withheld`.
    """
    return _emerging(_key(state), role)


DENSITY_MAX_POINTS = 2_000_000
DENSITY_MAX_CELLS = 4_000_000  # about 32 MB of floats; a city at 100 m cells is far below


@cached(version)
def _density_layer(state_json: dict, role: str) -> dict:
    import geopandas as gpd

    from observatory import geo, queries
    from observatory.geo.density import bandwidth_rule, point_coordinates

    # Every point of the selection (the point layer's newest-50,000 cap would bias the surface).
    pts = queries.points(engine(), to_filters(ViewState.from_dict(state_json)), role, limit=DENSITY_MAX_POINTS)
    bounds = areas_bounds()
    if bounds is not None:
        # The city's own extent: a few mis-geocoded points far away would stretch the grid past any size.
        west, south, east, north = bounds
        pts = pts[pts["lon"].between(west, east) & pts["lat"].between(south, north)]
    if len(pts) < 2:
        return {}
    gdf = gpd.GeoDataFrame(geometry=gpd.points_from_xy(pts["lon"], pts["lat"]), crs="EPSG:4326")
    try:
        # Cells a third of the bandwidth (Scott's rule): fine enough for the surface, light enough to draw.
        cell = max(50.0, round(bandwidth_rule(point_coordinates(gdf)[0]) / 3, -1))
        result = geo.kernel_density(gdf, cell_size=cell, max_cells=DENSITY_MAX_CELLS)
        bands = geo.density_contours(result)
    except ValueError:  # all points at one place, a grid too large, or a surface that is zero everywhere
        return {}
    features = [{"type": "Feature", "id": str(i), "properties": {}, "geometry": shapely.geometry.mapping(g)}
                for i, g in enumerate(bands.geometry)]
    table = pd.DataFrame(bands.drop(columns="geometry")).assign(
        bandwidth_m=result.bandwidth, cell_size_m=result.cell_size, rule=result.rule, n_points=result.n_points)
    return {"geojson": {"type": "FeatureCollection", "features": features}, "bands": table}


def density_layer(state: ViewState, role: str = "public") -> dict:
    """The analyst's heat map: the Gaussian kernel density of the incident points
    (``geo.kernel_density``, incidents per km², Scott's bandwidth) as the highest-density bands
    holding 25/50/75/90% of the incidents (``geo.density_contours``). Returns ``geojson`` (one
    feature per band, id = row of ``bands``) and ``bands`` (share, density_low, density_high, unit,
    bandwidth_m, cell_size_m, rule, n_points); empty for the public (no points) or < 2 points."""
    from observatory.queries.access import can_see_points

    if not can_see_points(role):  # the public's heat layer is density_points: published area counts
        return {}
    return _density_layer(_key(state), role)


def density_points(state: ViewState, role: str = "public") -> pd.DataFrame:
    """Weighted points for the heat layer: incident points for analysts; for the public, area
    centroids weighted by their published counts (suppressed at :func:`suppressed_value`), never
    points, and nothing for a sensitive selection (:func:`hotspots_withheld`)."""
    from observatory.queries.access import can_see_points

    empty = pd.DataFrame({"lon": pd.Series(dtype=float), "lat": pd.Series(dtype=float),
                          "weight": pd.Series(dtype=float)})
    if can_see_points(role):
        pts = points(state, role)
        if not pts.empty:
            return pts[["lon", "lat"]].assign(weight=1.0)
    elif hotspots_withheld(state, role, "density"):
        return empty
    stats = area_stats(state, role)
    gdf = areas()
    if gdf.empty:
        return empty
    cent = gdf.geometry.representative_point()
    frame = pd.DataFrame({"lon": cent.x.to_numpy(), "lat": cent.y.to_numpy(),
                          "weight": published_values(stats["count"], role).to_numpy(dtype=float)})
    return frame[frame["weight"] > 0]


def points(state: ViewState, role: str = "public", limit: int = 50_000) -> pd.DataFrame:
    """Incident points the viewer may see (none for the public), with hover ``text``."""
    from observatory import queries

    pts = queries.points(engine(), to_filters(state), role, limit=limit)
    if pts.empty:
        return pts.assign(text=pd.Series(dtype=str))
    names = category_names(state.lang)
    pts = pts.copy()
    pts["text"] = (pts["category"].map(names).fillna(pts["category"]).astype(str) + " · "
                   + pd.to_datetime(pts["occurred_on"]).dt.strftime("%Y-%m-%d"))
    return pts
