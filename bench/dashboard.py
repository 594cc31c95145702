"""Dashboard benchmark: every callback against the bare SQL aggregate it needs.

Generates (once; reused with ``--reuse``) a SQLite database of 2,000,000 incidents over
2,000 neighbourhoods with raw ``sqlite3.executemany`` inserts, then for at least 30 varied
filter sets times each page's callback function (what the Dash callback runs, with the
response cache OFF so each call computes) and, in the same run, the bare SQL aggregate that
callback needs. Prints p50/p95 of both and the ratio; targets p95 <= 250 ms and <= 3x.

Two tables: callbacks answered from the in-memory incident cube (the app's steady state; its
build time and size are printed first), then the same callbacks with the cube off (pure SQL,
what answers while the cube is being built after an import). ``--no-sql-table`` skips the
second.

    python bench/dashboard.py [--db PATH] [--incidents 2000000] [--areas 2000] [--sets 30] [--reuse]
                              [--backend sqlite|postgresql] [--no-sql-table] [--role public|analyst]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sqlite3
import statistics
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
os.environ.setdefault("OBSERVATORY_CACHE", "null")  # measure the computation, not the cache
os.environ["OBSERVATORY_CUBE"] = "sync"  # switched per table below

END = dt.date(2024, 6, 30)
MONTHS = 36


def generate(path: Path, n_incidents: int, n_areas: int, seed: int = 11) -> None:
    """Write the benchmark database: a grid of ``n_areas`` squares, ``n_incidents`` incidents."""
    import shapely
    from sqlalchemy import insert, select

    from observatory.db.models import BoundaryLayer, CrimeCategory, ImportBatch, Neighbourhood
    from observatory.db.session import get_engine, upgrade_to_head

    url = f"sqlite:///{path}"
    upgrade_to_head(url)
    engine = get_engine(url)
    rng = np.random.default_rng(seed)
    nx = int(np.ceil(np.sqrt(n_areas * 1.25)))
    cell = 0.004
    with engine.begin() as conn:
        now = dt.datetime(2024, 7, 1)
        batch = conn.execute(insert(ImportBatch).values(file_name="bench.csv", sha256="0" * 64, source_kind="police",
                                                        profile="bench", started_at=now, finished_at=now,
                                                        status="done", total=n_incidents, loaded=n_incidents)
                             ).inserted_primary_key[0]
        layer = conn.execute(insert(BoundaryLayer).values(name="bench", level="neighbourhood", is_primary=True,
                                                          batch_id=batch)).inserted_primary_key[0]
        rows = []
        for k in range(n_areas):
            i, j = k % nx, k // nx
            x0, y0 = -99.2 + i * cell, 19.3 + j * cell
            rows.append({"layer_id": layer, "code": f"N{k:05d}", "name": f"Barrio {k}", "name_key": f"barrio {k}",
                         "district": f"D{(i * 8) // nx}", "population": float(rng.integers(2000, 40000)),
                         "area_km2": 0.2, "centroid_lon": x0 + cell / 2, "centroid_lat": y0 + cell / 2,
                         "geometry_wkb": shapely.to_wkb(shapely.box(x0, y0, x0 + cell, y0 + cell)), "active": True})
        conn.execute(insert(Neighbourhood), rows)
        area_ids = np.array(list(conn.execute(select(Neighbourhood.id).order_by(Neighbourhood.code)).scalars()))
        cats = list(conn.execute(select(CrimeCategory.id, CrimeCategory.code, CrimeCategory.sensitive)))
    engine.dispose()
    cat_ids = np.array([c[0] for c in cats])
    sensitive = np.array([bool(c[2]) for c in cats])
    p_cat = rng.dirichlet(np.ones(len(cats)) * 0.6)
    weight = rng.gamma(2.0, 1.0, n_areas)
    weight /= weight.sum()
    start = (END.replace(day=1) - dt.timedelta(days=31 * (MONTHS - 1))).replace(day=1)
    span = (END - start).days + 1
    days = [start + dt.timedelta(days=d) for d in range(span)]
    iso = np.array([d.isoformat() for d in days])
    month = np.array([d.replace(day=1).isoformat() for d in days])
    weekday = np.array([d.weekday() for d in days])
    con = sqlite3.connect(path)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=OFF")
    sql = ("INSERT INTO incidents (source_kind, record_key, content_hash, revision, batch_id, profile, occurred_on,"
           " occurred_month, hour, weekday, category_id, original_label, count, sensitive, lon, lat,"
           " neighbourhood_id, assignment, victim_sex, victim_age_group) VALUES"
           " (?,?,?,1,?,'bench',?,?,?,?,?,'x',?,?,?,?,?,'point',?,?)")
    chunk = 200_000
    sexes = np.array(["F", "M", "X"])
    ages = np.array(["0-17", "18-29", "30-44", "45-59", "60+"])
    for offset in range(0, n_incidents, chunk):
        m = min(chunk, n_incidents - offset)
        a = rng.choice(n_areas, m, p=weight)
        d = rng.integers(0, span, m)
        c = rng.choice(len(cats), m, p=p_cat)
        i, j = a % nx, a // nx
        lon = -99.2 + (i + rng.random(m)) * cell
        lat = 19.3 + (j + rng.random(m)) * cell
        keys = np.arange(offset, offset + m)
        con.executemany(sql, zip(
            np.where(keys % 2 == 0, "police", "complaint").tolist(), keys.astype(str).tolist(),
            keys.astype(str).tolist(), [1] * m, iso[d].tolist(), month[d].tolist(),
            rng.integers(0, 24, m).tolist(), weekday[d].tolist(), cat_ids[c].tolist(),
            np.where(rng.random(m) < 0.05, 2, 1).tolist(), sensitive[c].astype(int).tolist(), lon.tolist(),
            lat.tolist(), area_ids[a].tolist(), sexes[rng.integers(0, 3, m)].tolist(),
            ages[rng.integers(0, 5, m)].tolist(), strict=True))
        con.commit()
    con.execute("ANALYZE")
    con.commit()
    con.close()


POSTGRES_URL = os.environ.get("OBSERVATORY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
PG_SCHEMA = "bench_dashboard"
COPIED = ("import_batches", "boundary_layers", "neighbourhoods", "incidents")  # in foreign-key order


def postgres_copy(sqlite_path: Path, reuse: bool) -> str:
    """The benchmark database copied into PostgreSQL schema ``bench_dashboard`` (COPY); its URL.

    Category ids are those of the taxonomy both databases seed identically (checked).
    """
    import psycopg
    from sqlalchemy import create_engine, text

    from observatory.db.planner import refresh_statistics
    from observatory.db.session import get_engine, upgrade_to_head

    url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}options=-csearch_path%3D{PG_SCHEMA}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        exists = conn.execute(text("SELECT count(*) FROM information_schema.tables WHERE table_schema = :s"
                                   " AND table_name = 'incidents'"), {"s": PG_SCHEMA}).scalar_one()
        if exists and reuse:
            rows = conn.execute(text(f'SELECT count(*) FROM "{PG_SCHEMA}".incidents')).scalar_one()
            if rows:
                return url
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE'))
        conn.execute(text(f'CREATE SCHEMA "{PG_SCHEMA}"'))
    admin.dispose()
    upgrade_to_head(url)
    lite = sqlite3.connect(sqlite_path)
    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, options=f"-csearch_path={PG_SCHEMA}") as pg:
        codes = dict(pg.execute("SELECT id, code FROM crime_categories").fetchall())
        assert codes == dict(lite.execute("SELECT id, code FROM crime_categories").fetchall()), "taxonomy ids differ"
        for table in COPIED:
            cols = [row[1] for row in lite.execute(f"PRAGMA table_info({table})")]
            kinds = dict(pg.execute("SELECT column_name, data_type FROM information_schema.columns"
                                    " WHERE table_schema = %s AND table_name = %s", (PG_SCHEMA, table)).fetchall())
            bools = {c for c in cols if kinds.get(c) == "boolean"}
            with pg.cursor().copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                for row in lite.execute(f"SELECT {', '.join(cols)} FROM {table}"):
                    copy.write_row([bool(v) if c in bools and v is not None else v
                                    for c, v in zip(cols, row, strict=True)])
            pg.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    lite.close()
    refresh_statistics(get_engine(url))
    return url


class PgBare:
    """``execute(sql, args)`` of the SQLite-style bare aggregates on PostgreSQL (``?`` -> ``%s``)."""

    def __init__(self) -> None:
        import psycopg

        dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
        self.con = psycopg.connect(dsn, options=f"-csearch_path={PG_SCHEMA}", autocommit=True)

    def execute(self, sql: str, args: list):
        dates = {i for i, a in enumerate(args) if isinstance(a, str) and len(a) == 10 and a[4] == "-"}
        values = [dt.date.fromisoformat(a) if i in dates else a for i, a in enumerate(args)]
        return self.con.execute(sql.replace("?", "%s"), values)


def filter_sets(n: int, seed: int = 3) -> list:
    """``n`` varied view states: periods, category groups, sources, districts, sexes, ages."""
    from observatory.web.state import ViewState

    rnd = random.Random(seed)
    cats = [(), ("s04",), ("s05",), ("robbery_person",), ("s01", "s02"), ("theft", "vehicle_theft"), ("s05", "s04")]
    states = []
    for k in range(n):
        months_back = rnd.choice([3, 6, 12, 24, 36])
        end = END - dt.timedelta(days=rnd.randint(0, 60))
        start = end - dt.timedelta(days=30 * months_back)
        states.append(ViewState(
            date_from=start.isoformat(), date_to=end.isoformat(), categories=rnd.choice(cats),
            source=rnd.choice(["both", "both", "police", "complaint"]),
            district=rnd.choice([None, None, "D1", "D5"]), sex=rnd.choice([None, None, "F"]),
            age=rnd.choice([None, None, "18-29"]), area=str(rnd.randint(1, 2000)),
            layer=("counts", "gi", "rates", "smoothed")[k % 4]))
    return states


def bare_sql(con: sqlite3.Connection | PgBare, state, group: str) -> float:
    """Time the bare aggregate ``SELECT <group>, SUM(count) ... GROUP BY <group>`` for ``state``.

    ``group`` may end with ``@2y`` (the period widened two years back, as CompStat needs),
    ``@12m`` / ``@prev12m`` (the last 12 months / the 12 before), or ``@area`` (one area).
    """
    group, _, mod = group.partition("@")
    start, end = state.date_from, state.date_to
    end_day = dt.date.fromisoformat(end)
    if mod == "2y":
        start = end_day.replace(year=end_day.year - 2, day=min(end_day.day, 28)).isoformat()
    elif mod == "12m":
        start = (end_day - dt.timedelta(days=364)).isoformat()
    elif mod == "prev12m":
        start, end = (end_day - dt.timedelta(days=729)).isoformat(), (end_day - dt.timedelta(days=365)).isoformat()
    where, args = ["occurred_on BETWEEN ? AND ?"], [start, end]
    if mod == "area":
        where.append("neighbourhood_id = ?")
        args.append(int(state.area))
    if state.categories:
        secs = [c[1:] for c in state.categories if c.startswith("s") and c[1:].isdigit()]
        codes = [c for c in state.categories if c not in {f"s{s}" for s in secs}]
        marks = ",".join("?" * len(codes)) or "''", ",".join("?" * len(secs)) or "''"
        where.append(f"category_id IN (SELECT id FROM crime_categories WHERE code IN ({marks[0]})"
                     f" OR iccs_section IN ({marks[1]}))")
        args += codes + secs
    if state.source != "both":
        where.append("source_kind = ?")
        args.append(state.source)
    if state.district:
        where.append("neighbourhood_id IN (SELECT id FROM neighbourhoods WHERE district = ?)")
        args.append(state.district)
    if state.sex:
        where.append("victim_sex = ?")
        args.append(state.sex)
    if state.age:
        where.append("victim_age_group = ?")
        args.append(state.age)
    grouping = f" GROUP BY {group}" if group else ""
    sql = f"SELECT {group or 1}, SUM(count) FROM incidents WHERE {' AND '.join(where)}{grouping}"
    started = time.perf_counter()
    con.execute(sql, args).fetchall()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", type=Path, default=Path("/tmp/observatory-bench-dashboard.db"))
    parser.add_argument("--incidents", type=int, default=2_000_000)
    parser.add_argument("--areas", type=int, default=2000)
    parser.add_argument("--sets", type=int, default=30)
    parser.add_argument("--reuse", action="store_true", help="reuse an existing database at --db")
    parser.add_argument("--no-sql-table", action="store_true", help="skip the table with the incident cube off")
    parser.add_argument("--role", choices=("public", "analyst"), default="public",
                        help="the viewer the callbacks answer (public: published counts; analyst: true counts)")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite",
                        help="postgresql: the same data COPYed into schema bench_dashboard of "
                             "OBSERVATORY_TEST_POSTGRES_URL, callbacks and bare SQL run there")
    args = parser.parse_args()
    if not (args.reuse and args.db.exists()):
        for suffix in ("", "-wal", "-shm"):
            Path(f"{args.db}{suffix}").unlink(missing_ok=True)
        started = time.perf_counter()
        generate(args.db, args.incidents, args.areas)
        took = time.perf_counter() - started
        print(f"generated {args.incidents:,} incidents over {args.areas:,} areas in {took:.1f} s")

    from observatory.web import data
    from observatory.web.maps import map_figure
    from observatory.web.state import replace_state

    url = f"sqlite:///{args.db}"
    if args.backend == "postgresql":
        started = time.perf_counter()
        url = postgres_copy(args.db, args.reuse)
        print(f"PostgreSQL copy ready in {time.perf_counter() - started:.1f} s")
    data.configure(url)
    import importlib.util

    def page(name: str):
        path = REPO / "observatory/web/pages" / f"{name}.py"
        spec = importlib.util.spec_from_file_location(f"bench_pages.{name}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    import dash

    dash.Dash(__name__, use_pages=True, pages_folder="")  # lets the page modules call register_page
    overview, trends, profile = page("resumen"), page("tendencias"), page("barrio")
    role = args.role
    overview.current_role = lambda: role  # the overview's callback reads the role from the session
    print(f"role: {role}")
    area = "neighbourhood_id"
    callbacks = {
        # callback: (function of the view state, the bare aggregates it needs: GROUP BY [@period])
        # Area tables are read twice (published counts, and true counts for Gi*/rates).
        "map (choropleth / Gi*)": (lambda s: map_figure(s, role), [area, area]),
        "overview": (lambda s: overview._update_overview(s.to_dict()),
                     [area, area, "occurred_on@2y", f"{area}@12m", f"{area}@prev12m", ""]),
        "trends": (lambda s: trends.trends_figures(s, role), ["occurred_month", "weekday, hour",
                                                              "occurred_month, category_id"]),
        "neighbourhood profile": (lambda s: profile.profile_outputs(s, role),
                                  [area, area, "occurred_month", "occurred_month@area", "category_id",
                                   "category_id@area"]),
    }
    states = filter_sets(args.sets)
    # Warm the per-process objects that do not depend on filters (areas, GeoJSON, weights), as the
    # app does at start (data.warm_areas).
    data.warm_areas()
    map_figure(replace_state(states[0], layer="gi"))
    from observatory.queries import cube

    built = cube.warm(data.engine())
    print(f"\nincident cube: {built.rows:,} incidents, {built.nbytes / 1e6:.1f} MB, "
          f"built in {built.build_seconds:.1f} s")
    con = PgBare() if args.backend == "postgresql" else sqlite3.connect(args.db)
    tables = [("sync", "incident cube")] + ([] if args.no_sql_table else [("off", "SQL only, cube off")])
    for mode, title in tables:
        os.environ["OBSERVATORY_CUBE"] = mode
        print(f"\n[{title}]")
        print(f"{'callback':<24} {'p50 ms':>8} {'p95 ms':>8} {'SQL p50':>8} {'SQL p95':>8} {'ratio p95':>9}")
        for name, (fn, groups) in callbacks.items():
            times, sql_times = [], []
            for state in states:
                started = time.perf_counter()
                fn(state)
                times.append(time.perf_counter() - started)
                sql_times.append(sum(bare_sql(con, state, group) for group in groups))
            p50, p95 = statistics.median(times), float(np.percentile(times, 95))
            s50, s95 = statistics.median(sql_times), float(np.percentile(sql_times, 95))
            print(f"{name:<24} {p50 * 1e3:8.0f} {p95 * 1e3:8.0f} {s50 * 1e3:8.0f} {s95 * 1e3:8.0f} "
                  f"{p95 / s95:9.1f}")
    os.environ["OBSERVATORY_CUBE"] = "sync"
    # The same callbacks answered from the response cache (a repeated view, any worker with
    # OBSERVATORY_CACHE_DIR): what most page loads of a dashboard cost.
    import flask

    from observatory.web import cache as web_cache

    os.environ["OBSERVATORY_CACHE"] = ""
    server = flask.Flask(__name__)
    web_cache.init_cache(server)
    print(f"\n{'callback (cache hit)':<24} {'p50 ms':>8} {'p95 ms':>8}")
    with server.app_context():
        for name, (fn, _groups) in callbacks.items():
            hits = []
            for state in states[:10]:
                fn(state)
                started = time.perf_counter()
                fn(state)
                hits.append(time.perf_counter() - started)
            print(f"{name:<24} {statistics.median(hits) * 1e3:8.0f} {float(np.percentile(hits, 95)) * 1e3:8.0f}")
    print("\ntargets: p95 <= 250 ms and <= 3x the bare aggregate")


if __name__ == "__main__":
    main()
