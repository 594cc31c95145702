"""The primary layer's areas, their display GeoJSON and contiguity weights, and the warm-up of
what the first request needs."""

from __future__ import annotations

import threading

from observatory.web.data.runtime import (
    _memo,
    engine,
)

# --- areas -------------------------------------------------------------------------------------


def areas():
    """Active areas of the primary layer (GeoDataFrame, EPSG:4326), memoised per data version."""
    from observatory import queries

    return _memo(("areas",), lambda: queries.areas(engine()).reset_index(drop=True))


def areas_geojson() -> dict:
    """GeoJSON of the primary areas keyed by id, simplified for display.

    Memoised by the areas' fingerprint, not the data version: an incident import does not rebuild it.
    """
    from observatory.geo.memo import layer_memo
    from observatory.web.figures import geojson_of

    gdf = areas()

    def build() -> dict:
        if gdf.empty:
            return {"type": "FeatureCollection", "features": []}
        minx, miny, maxx, maxy = gdf.total_bounds
        tolerance = max(maxx - minx, maxy - miny) / 3000  # about a pixel on a full-screen map
        return geojson_of(gdf, simplify=tolerance)

    # Keyed by the fingerprint of the very frame it is built from (ids and shapes): never stale.
    return layer_memo.get(("geojson", layer_memo.fingerprint(gdf, "id")), build)


GEOJSON_ROUTE = "/_observatory/areas.geojson"


def areas_geojson_ref() -> str:
    """URL of the areas GeoJSON served by the app, versioned by the areas' fingerprint: a boundary
    import busts the browser's cache, an incident import keeps it (the polygons did not change)."""
    from observatory.geo.memo import layer_memo

    return f"{GEOJSON_ROUTE}?v={layer_memo.fingerprint(areas(), 'id')[:12]}"


def areas_bounds() -> tuple[float, float, float, float] | None:
    """Bounds of the primary areas (degrees) or None without areas."""
    gdf = areas()
    return None if gdf.empty else tuple(float(v) for v in gdf.total_bounds)


def _weights():
    """Queen contiguity weights (binary) of the primary areas, in ``areas()`` row order.

    Memoised by the areas' fingerprint, not the data version: incident imports do not rebuild them,
    and concurrent first requests share one build (``observatory.geo.memo.LayerMemo``).
    """
    from observatory.geo import build_weights
    from observatory.geo.memo import layer_memo

    gdf = areas()
    key = ("weights", "queen", "B", layer_memo.fingerprint(gdf, "id"))
    return layer_memo.get(key, lambda: build_weights(gdf, "queen", transform="B"))


def warm_areas(background: bool = False) -> threading.Thread | None:
    """Prepare what the first map needs before anyone asks: the primary areas, their queen weights
    (with local Moran's arrays and permuted neighbours), their display GeoJSON, and the import of
    ``observatory.geo`` (SciPy, esda, libpysal, mapclassify: about 0.9 s once per process, the largest
    single cost of a cold first page on real data).

    Input: ``background`` runs it in a daemon thread (returned; None otherwise). Output: nothing; the
    objects land in the memos the request path reads. At app start call it in the foreground (about
    1.1 s for Mexico City's 847 quadrants): importing modules in a thread while a request imports
    others can meet Python's import-lock deadlock detection. After a boundary import (modules already
    loaded) the background is fine: a request arriving meanwhile waits for the build in progress
    instead of repeating it. Errors are logged, never raised: the request path builds the same
    objects again and reports the problem there.
    """
    import logging

    def run() -> None:
        try:
            from observatory import geo  # noqa: F401  (the import is the point: pay it before a request)

            if len(areas()) >= 3:  # as _area_stats: fewer areas get no Gi*, hence no weights
                from observatory.geo import crand
                from observatory.web.data.maps import MORAN_PERMUTATIONS, MORAN_SEED

                # Local Moran's weight arrays and permuted neighbours too (about 30 ms on 2,000 areas).
                crand.warm(_weights().w, MORAN_PERMUTATIONS, MORAN_SEED)
            areas_geojson()
        except Exception:  # a warm-up must never take the app down
            logging.getLogger(__name__).exception("warming the areas failed")

    if not background:
        run()
        return None
    thread = threading.Thread(target=run, name="observatory-warm-areas", daemon=True)
    thread.start()
    return thread


def warm_incident_cube() -> None:
    """Start building the in-memory incident cube of the current data (``queries.cube``).

    In the default ``background`` mode this returns at once (a thread builds it: about 4 s per
    2 million incidents, while requests are answered in SQL); in ``sync`` mode it builds now.
    """
    from observatory.queries import cube

    try:
        cube.current_cube(engine())
    except Exception:  # a warm-up must never take the app down: the SQL path still answers
        import logging

        logging.getLogger(__name__).exception("warming the incident cube failed")


def warm_up(after_boundaries: bool = False) -> None:
    """Prepare the first requests' objects: at app start (areas in the foreground, the incident
    cube in the background) or after an import (both in the background; ``after_boundaries``
    also rebuilds the areas' weights and GeoJSON)."""
    if after_boundaries:
        warm_areas(background=True)
    warm_incident_cube()
