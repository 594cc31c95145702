"""First dashboard page load on real data: where a cold process spends its time, with and without warm-up.

Builds once (reused afterwards; ``--rebuild`` starts again) a SQLite database holding Mexico City's 847
police quadrants and the SSP's 132,692 incident points from ``../shared/realdata`` (or
``$OBSERVATORY_SHARED_DIR/realdata``), through the importers and arguments of
``tests/browser/test_browser_realdata.py``. Then, each in a FRESH Python process (cold imports, empty
memos, as after ``python app.py``):

1. **steps**: each step behind the first map, timed alone: reading the areas (SQL and WKB decode),
   validity and ``make_valid``, importing ``observatory.geo``, the layer fingerprint, the queen weights
   (and, for comparison, other contiguity builders with whether they give the same neighbours), the
   display GeoJSON (simplify, precision, serialisation), Gi*, and what an incident import costs the
   weights and GeoJSON (the data version changes, the polygons do not).
2. **first load** of the overview (``/``) and of the map page (``/mapa``): the page layout, the page's
   callback and the GeoJSON request, as the browser asks for them, in three start-up modes: ``cold``
   (no warm-up, what ``create_app`` does today), ``warm@0s`` (``data.warm_areas(background=True)``
   started with the app and the request arriving at once) and ``warmed`` (``data.warm_areas()``
   finished before the first request).

    python bench/first_load.py [--db PATH | --url URL] [--repeat 3] [--rebuild]

Targets (checked at the end; exit code 1 when one fails): queen weights <= 0.25 s and display GeoJSON
<= 0.30 s on the 847 quadrants; an incident import rebuilds neither (<= 0.05 s to serve both again);
the overview's first load (layout + callback + GeoJSON) with the warm-up finished <= 2.0 s.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # run from a checkout without installing
REALDATA = Path(os.environ.get("OBSERVATORY_SHARED_DIR", REPO.parent / "shared")) / "realdata"
QUADRANTS = REALDATA / "cdmx" / "cuadrantes.geojson"
POINTS = REALDATA / "cdmx" / "ssp_cdmx_crime_lat_long_2013_2016.csv"
N_INCIDENTS = 132_692
PAGES = {"overview": ("/", "_update_overview"), "map": ("/mapa", "_update_map")}
MODES = ("cold", "warm@0s", "warmed")
TARGETS = {"weights": 0.25, "geojson": 0.30, "after_import": 0.05, "overview_warmed": 2.0}


# --- the database ----------------------------------------------------------------------------------


def incident_count(url: str) -> int:
    """Incidents stored at ``url`` (0 when the schema is missing)."""
    from sqlalchemy import func, select

    from observatory.db.models import Incident
    from observatory.db.session import get_engine

    try:
        with get_engine(url).connect() as conn:
            return int(conn.execute(select(func.count()).select_from(Incident)).scalar_one())
    except Exception:
        return 0


def build_database(url: str) -> float:
    """Load the quadrants and the SSP points into ``url`` (migrated first); returns seconds taken.

    Same calls and arguments as the ``cdmx`` fixture of tests/browser/test_browser_realdata.py.
    """
    from observatory.db.session import get_engine, upgrade_to_head
    from observatory.ingest.boundaries import import_boundaries
    from observatory.ingest.incidents import ingest_incidents

    for path in (QUADRANTS, POINTS):
        if not path.exists():
            sys.exit(f"real data not found: {path} (clone the project beside ../shared)")
    started = time.perf_counter()
    upgrade_to_head(url)
    engine = get_engine(url)
    import_boundaries(QUADRANTS, layer="cuadrantes", id_field="cuadrante", name_field="cuadrante",
                      district_field="alcaldia", engine=engine)
    report = ingest_incidents(POINTS, source_kind="police", profile="cdmx_ssp", engine=engine)
    if report.loaded != N_INCIDENTS:
        sys.exit(f"expected {N_INCIDENTS:,} incidents, loaded {report.loaded:,}")
    engine.dispose()
    return time.perf_counter() - started


# --- children: one cold process each --------------------------------------------------------------


def _timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    started = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - started


def child_steps(url: str) -> dict:
    """Each step behind the first map, in a cold process. Output: {"steps": [[label, seconds, note]]}."""
    rows: list[list] = []

    def step(label: str, fn: Callable[[], Any], note: str | Callable[[Any], str] = "") -> Any:
        """Time ``fn()``; ``note`` is text or a function of the result (not timed)."""
        value, took = _timed(fn)
        rows.append([label, took, note(value) if callable(note) else note])
        return value

    step("import observatory.web.app (at app start)", lambda: importlib.import_module("observatory.web.app"))
    import numpy as np
    import shapely
    from sqlalchemy import text

    from observatory import queries
    from observatory.db.session import get_engine

    engine = get_engine(url)
    gdf = step("read areas: SQL + WKB decode (queries.areas)", lambda: queries.areas(engine))
    wkb = shapely.to_wkb(np.asarray(gdf.geometry.values, dtype=object))
    step("  of which WKB decode alone", lambda: shapely.from_wkb(wkb),
         lambda shapes: f"{len(shapes)} areas, {int(shapely.get_num_coordinates(shapes).sum()):,} vertices")
    step("validity check (is_valid)", lambda: shapely.is_valid(gdf.geometry.values),
         lambda valid: f"{int((~valid).sum())} invalid stored")
    step("make_valid (not on the request path: import repairs)", lambda: shapely.make_valid(gdf.geometry.values))
    geo = step("import observatory.geo (SciPy, esda, libpysal, mapclassify)",
               lambda: importlib.import_module("observatory.geo"))
    from observatory.geo.memo import layer_fingerprint

    step("layer fingerprint (memo key: ids + WKB)", lambda: layer_fingerprint(gdf, "id"))
    sw = step("queen weights, first build (libpysal Queen)", lambda: geo.build_weights(gdf, "queen"))
    step("queen weights, again", lambda: geo.build_weights(gdf, "queen"),
         lambda again: f"{again.w.s0:.0f} links, {len(again.islands)} islands")
    _alternatives(gdf, sw, step)
    from observatory.web.figures import geojson_of

    minx, miny, maxx, maxy = gdf.total_bounds
    tolerance = max(maxx - minx, maxy - miny) / 3000
    simple = step("GeoJSON: simplify (display tolerance)",
                  lambda: gdf.geometry.simplify(tolerance, preserve_topology=True))
    step("GeoJSON: set_precision 1e-5 deg", lambda: shapely.set_precision(np.asarray(simple.values, dtype=object),
                                                                          1e-5))
    doc = step("GeoJSON: whole build (geojson_of)", lambda: geojson_of(gdf, simplify=tolerance))
    step("GeoJSON: JSON encoding", lambda: json.dumps(doc), lambda encoded: f"{len(encoded) / 1e6:.2f} MB")
    with engine.connect() as conn:
        counts = dict(conn.execute(text("SELECT neighbourhood_id, SUM(count) FROM incidents "
                                        "WHERE neighbourhood_id IS NOT NULL GROUP BY neighbourhood_id")).all())
    stat = gdf[["geometry"]].assign(n=gdf["id"].map(counts).fillna(0).astype(float).to_numpy())
    step("Gi* (esda G_Local, analytic), first call", lambda: geo.gi_star(stat, "n", weights=sw))
    step("Gi*, again", lambda: geo.gi_star(stat, "n", weights=sw),
         lambda gi: f"{int(gi['hotspot_class'].astype(str).str.startswith('hot').sum())} hot quadrants")

    # What an incident import costs: the data version changes (configure() forgets the per-version
    # memo like a new version does), the polygons do not, so the weights and GeoJSON are memo hits.
    from observatory.geo.memo import layer_memo
    from observatory.web import data

    data.configure(url)
    step("dashboard: weights + GeoJSON on first use", lambda: (data._weights(), data.areas_geojson()))
    builds = layer_memo.builds
    data.configure(url)
    step("dashboard: the same after an incident import", lambda: (data._weights(), data.areas_geojson()),
         lambda _: f"{layer_memo.builds - builds} rebuilt (areas re-read, fingerprint, memo hits)")
    return {"steps": rows}


def _alternatives(gdf, sw, step: Callable) -> None:
    """Other ways to build queen contiguity, timed, with whether they give the dashboard's neighbours."""
    import geopandas as gpd
    from libpysal.graph import Graph
    from libpysal.weights import Queen, fuzzy_contiguity

    from observatory.geo.projection import to_metric

    frame = gpd.GeoDataFrame(geometry=gdf.geometry.values, crs=gdf.crs)
    reference = {i: sorted(js) for i, js in Queen.from_dataframe(frame, use_index=False).neighbors.items()}
    minx, miny, maxx, maxy = frame.total_bounds
    simplified = gpd.GeoDataFrame(geometry=frame.simplify(max(maxx - minx, maxy - miny) / 3000), crs=frame.crs)
    metric = to_metric(frame)
    candidates = {
        "libpysal fuzzy_contiguity": lambda: fuzzy_contiguity(frame),
        "libpysal Graph.build_contiguity strict": lambda: Graph.build_contiguity(frame, rook=False).to_W(),
        "libpysal Graph.build_contiguity non-strict": lambda: Graph.build_contiguity(frame, rook=False,
                                                                                   strict=False).to_W(),
        "Queen on the metric (UTM) projection": lambda: Queen.from_dataframe(metric, use_index=False),
        "Queen on the display-simplified shapes": lambda: Queen.from_dataframe(simplified, use_index=False),
    }

    def verdict(w) -> str:
        same = {i: sorted(js) for i, js in w.neighbors.items()} == reference
        return "same neighbours" if same else "DIFFERENT neighbours"

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # libpysal warns about islands and future defaults
        for label, build in candidates.items():
            step(f"  alternative (unused): {label}", build, verdict)


def child_load(url: str, page: str, mode: str) -> dict:
    """One first page load in a cold process. Output: seconds of start, warm, layout, callback, geojson."""
    out: dict[str, float] = {}
    app, out["start"] = _timed(lambda: importlib.import_module("observatory.web.app").create_app(url))
    import dash
    import flask

    from observatory.web import data
    from observatory.web.state import ViewState

    if mode == "warmed":
        _, out["warm"] = _timed(lambda: data.warm_areas(background=False))
    elif mode == "warm@0s":
        data.warm_areas(background=True)  # the request below arrives while it runs
    path, callback_name = PAGES[page]
    info = next(p for p in dash.page_registry.values() if p["path"] == path)
    callback = getattr(sys.modules[info["module"]], callback_name)
    state = ViewState().to_dict()
    with app.server.test_request_context(path):
        _, out["layout"] = _timed(info["layout"])
        _, out["callback"] = _timed(lambda: callback(state))
        _, out["geojson"] = _timed(lambda: flask.jsonify(data.areas_geojson()).get_data())
    out["first load"] = out["layout"] + out["callback"] + out["geojson"]
    return out


def run_child(url: str, args: list[str]) -> dict:
    """Run this script on ``url`` as a child (a fresh interpreter) and return its JSON output."""
    done = subprocess.run([sys.executable, __file__, "--url", url, *args], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONWARNINGS": "ignore"})
    if done.returncode != 0:
        raise RuntimeError(f"child {args} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the report -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=Path(tempfile.gettempdir()) / "observatory-bench-first-load.db")
    parser.add_argument("--url", help="any database URL instead of --db (loaded when it has no incidents)")
    parser.add_argument("--repeat", type=int, default=3, help="cold processes per page and mode (median shown)")
    parser.add_argument("--rebuild", action="store_true", help="delete --db and load it again")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    url = args.url or f"sqlite:///{args.db}"
    if args.child:
        kind, *rest = args.child
        result = child_steps(url) if kind == "steps" else child_load(url, *rest)
        print(json.dumps(result))
        return 0

    if args.rebuild and not args.url:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
    if incident_count(url) != N_INCIDENTS:
        print(f"loading the CDMX quadrants and {N_INCIDENTS:,} SSP incidents into {url} ...", flush=True)
        print(f"loaded in {build_database(url):.1f} s")
    print(f"database: {url}\n")

    steps = run_child(url, ["--child", "steps"])["steps"]
    print(f"{'step (cold process, 847 quadrants, 132,692 incidents)':<62} {'seconds':>8}  note")
    for label, took, note in steps:
        print(f"{label:<62} {took:8.3f}  {note}")
    by_label = {label: took for label, took, _ in steps}

    loads: dict[tuple[str, str], dict[str, float]] = {}
    for page in PAGES:
        for mode in MODES:
            runs = [run_child(url, ["--child", "load", page, mode]) for _ in range(args.repeat)]
            loads[page, mode] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    parts = ("start", "warm", "layout", "callback", "geojson", "first load")
    print(f"\n{'first page load (median of ' + str(args.repeat) + ' cold processes)':<44}"
          + "".join(f"{p:>11}" for p in parts))
    for (page, mode), row in loads.items():
        print(f"{page + ' / ' + mode:<44}" + "".join(f"{row[p]:11.3f}" if p in row else f"{'-':>11}"
                                                   for p in parts))
    print("start: create_app; warm: data.warm_areas() before the request (warmed only); first load: layout + "
          "callback + GeoJSON")

    checks = [
        ("queen weights build", by_label["queen weights, first build (libpysal Queen)"], TARGETS["weights"]),
        ("display GeoJSON build", by_label["GeoJSON: whole build (geojson_of)"], TARGETS["geojson"]),
        ("weights + GeoJSON after an incident import", by_label["dashboard: the same after an incident import"],
         TARGETS["after_import"]),
        ("overview first load, warm-up finished", loads["overview", "warmed"]["first load"],
         TARGETS["overview_warmed"]),
    ]
    print()
    failed = 0
    for label, value, limit in checks:
        ok = value <= limit
        failed += not ok
        print(f"{'PASS' if ok else 'FAIL'} {label}: {value:.3f} s (target <= {limit} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
