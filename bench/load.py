"""Load test: simulated users against gunicorn serving the dashboard, on SQLite and PostgreSQL.

For each backend the script builds the demo city in a fresh database (a temporary SQLite
file; a new schema on the PostgreSQL server), starts ``gunicorn app:server`` with several
workers on 127.0.0.1, and runs ``--users`` concurrent simulated users for ``--duration``
seconds. A user either loads a page (the HTML, ``/_dash-layout``, ``/_dash-dependencies``) or
fires one of the dashboard's data callbacks (``POST /_dash-update-component``) with a random
view: date range, crime categories, source, district, map layer. It then thinks for a random
0 to ``--think`` seconds. Reported per backend: requests per second, latency p50/p95/p99 in
milliseconds (overall, page loads, callbacks) and the error count (non-2xx answers and
connection failures; the target is 0).

Loopback only, bounded: at most 200 users, 600 seconds and 500,000 requests per backend.

    python bench/load.py                         # both backends, 50 users, 60 s, 3 workers
    python bench/load.py --backend sqlite --users 20 --duration 15
    python bench/load.py --postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test --json out.json

Needs ``gunicorn`` (in requirements.txt) and, for PostgreSQL, a reachable server
(``OBSERVATORY_TEST_POSTGRES_URL`` or ``--postgres-url``).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

HOST = "127.0.0.1"  # loopback only
MAX_USERS, MAX_DURATION, MAX_REQUESTS = 200, 600.0, 500_000
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


# --- the database -----------------------------------------------------------------------------------


def prepare_database(backend: str, workdir: Path, postgres_url: str) -> tuple[str, callable]:
    """A fresh migrated database holding the demo city; returns ``(url, cleanup)``."""
    from sqlalchemy import create_engine, text

    from observatory.db.session import get_engine, upgrade_to_head
    from observatory.demo import build_demo

    schema = None
    if backend == "sqlite":
        url = f"sqlite:///{workdir / 'load.db'}"
    else:
        schema = f"load_{uuid.uuid4().hex[:10]}"
        admin = create_engine(postgres_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        sep = "&" if "?" in postgres_url else "?"
        url = f"{postgres_url}{sep}options=-csearch_path%3D{schema}"
    upgrade_to_head(url)
    started = time.monotonic()
    build_demo(get_engine(url), out_dir=workdir / "demo")
    print(f"[{backend}] demo city loaded in {time.monotonic() - started:.1f} s", flush=True)
    get_engine(url).dispose()

    def cleanup() -> None:
        if schema:
            admin = create_engine(postgres_url)
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()

    return url, cleanup


# --- the server -------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def start_gunicorn(url: str, workers: int, port: int, workdir: Path) -> subprocess.Popen:
    """``gunicorn app:server`` on 127.0.0.1:port; waits until ``/health`` answers 200."""
    env = {**os.environ, "OBSERVATORY_DATABASE_URL": url, "OBSERVATORY_NO_DEMO": "1",
           "OBSERVATORY_SECRET_KEY": uuid.uuid4().hex * 2, "OBSERVATORY_CACHE_DIR": str(workdir / "cache"),
           "PYTHONPATH": str(REPO_ROOT)}
    log = open(workdir / "gunicorn.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "--workers", str(workers), "--bind", f"{HOST}:{port}",
                             "--timeout", "120", "--graceful-timeout", "5", "app:server"],
                            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited ({proc.returncode}); see {workdir / 'gunicorn.log'}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                conn.close()
                return proc
        except OSError:
            pass
        time.sleep(0.5)
    proc.kill()
    raise RuntimeError("gunicorn did not become healthy within 180 s")


# --- what users do ----------------------------------------------------------------------------------


@dataclass
class Plan:
    """The pages and callbacks a simulated user picks from."""

    pages: list[str]
    callbacks: list[dict]  # {"key", "inputs", "state"} as in _dash-dependencies
    categories: list[str]
    districts: list[str]
    bounds: tuple[str, str]


def make_plan(port: int, url: str) -> Plan:
    from observatory import queries
    from observatory.db.session import get_engine

    conn = http.client.HTTPConnection(HOST, port, timeout=60)
    conn.request("GET", "/_dash-dependencies")
    deps = json.loads(conn.getresponse().read())
    conn.close()
    callbacks = []
    for dep in deps:
        if dep.get("clientside_function"):
            continue
        ids = [d["id"] for d in dep["inputs"] + dep["state"]]
        if "view-state" in ids and "{" not in dep["output"]:
            callbacks.append(dep)
    engine = get_engine(url)
    cats = queries.categories(engine)
    dists = queries.districts(engine)
    start, end = queries.date_bounds(engine)
    engine.dispose()
    return Plan(pages=["/", "/mapa", "/tendencias", "/percepcion", "/barrio", "/datos"],
                callbacks=callbacks, categories=list(cats["code"]),
                districts=[str(d) for d in dists.iloc[:, 0].dropna()] if len(dists) else [],
                bounds=(str(start), str(end)))


def random_state(plan: Plan, rng: random.Random) -> dict:
    from observatory.web.state import MAP_LAYERS, ViewState

    start, end = (plan.bounds[0], plan.bounds[1])
    state = ViewState(
        date_from=rng.choice([None, start, "2025-01-01", "2025-06-01"]),
        date_to=rng.choice([None, end, "2026-06-30"]),
        categories=tuple(rng.sample(plan.categories, k=rng.choice([0, 0, 1, 2]))) if plan.categories else (),
        source=rng.choice(["both", "both", "police", "complaint"]),
        district=rng.choice([None, None, *plan.districts[:5]]) if plan.districts else None,
        layer=rng.choice(MAP_LAYERS), lang=rng.choice(["es", "en"]),
    )
    return ViewState.from_dict(state.to_dict()).to_dict()


def callback_body(dep: dict, state: dict) -> dict:
    def entry(d: dict) -> dict:
        value = state if d["id"] == "view-state" else (1 if d["property"] == "n_clicks" else None)
        return {"id": d["id"], "property": d["property"], "value": value}

    out = dep["output"]
    if out.startswith(".."):
        outputs = [dict(zip(("id", "property"), p.rsplit(".", 1), strict=True))
                   for p in out.strip(".").split("...") if p]
    else:
        ident, prop = out.rsplit(".", 1)
        outputs = {"id": ident, "property": prop}
    return {"output": out, "outputs": outputs, "inputs": [entry(d) for d in dep["inputs"]],
            "state": [entry(d) for d in dep["state"]],
            "changedPropIds": [f"{dep['inputs'][0]['id']}.{dep['inputs'][0]['property']}"]}


@dataclass
class Results:
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"page": [], "callback": []})
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, seconds: float, error: str | None) -> None:
        with self.lock:
            self.latencies[kind].append(seconds)
            if error:
                self.errors.append(error)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.latencies.values())


def user(port: int, plan: Plan, results: Results, stop: threading.Event, seed: int, think: float) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection(HOST, port, timeout=120)

    def request(kind: str, method: str, path: str, body: bytes | None = None) -> None:
        nonlocal conn
        headers = {"Content-Type": "application/json"} if body else {}
        started = time.perf_counter()
        error = None
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            if resp.status not in (200, 204):
                error = f"{method} {path}: HTTP {resp.status}"
        except (OSError, http.client.HTTPException) as exc:
            error = f"{method} {path}: {type(exc).__name__} {exc}"
            conn.close()
            conn = http.client.HTTPConnection(HOST, port, timeout=120)
        results.add(kind, time.perf_counter() - started, error)

    while not stop.is_set() and results.count < MAX_REQUESTS:
        if rng.random() < 0.25 or not plan.callbacks:
            page = rng.choice(plan.pages) + rng.choice(["", "?layer=gi", "?src=police", "?lang=en"])
            request("page", "GET", page)
            request("page", "GET", "/_dash-layout")
            request("page", "GET", "/_dash-dependencies")
        else:
            dep = rng.choice(plan.callbacks)
            body = json.dumps(callback_body(dep, random_state(plan, rng))).encode()
            request("callback", "POST", "/_dash-update-component", body)
        if think > 0:
            stop.wait(rng.uniform(0, think))
    conn.close()


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50_ms": float("nan"), "p95_ms": float("nan"), "p99_ms": float("nan")}
    cuts = statistics.quantiles(values, n=100, method="inclusive") if len(values) > 1 else [values[0]] * 99
    return {"p50_ms": round(cuts[49] * 1000, 1), "p95_ms": round(cuts[94] * 1000, 1),
            "p99_ms": round(cuts[98] * 1000, 1)}


def run_backend(backend: str, args: argparse.Namespace) -> dict:
    workdir = Path(tempfile.mkdtemp(prefix=f"load-{backend}-"))
    url, cleanup = prepare_database(backend, workdir, args.postgres_url)
    port = free_port()
    server = start_gunicorn(url, args.workers, port, workdir)
    try:
        plan = make_plan(port, url)
        results = Results()
        stop = threading.Event()
        threads = [threading.Thread(target=user, args=(port, plan, results, stop, args.seed + i, args.think),
                                    daemon=True) for i in range(args.users)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        stop.wait(args.duration)
        stop.set()
        for thread in threads:
            thread.join(timeout=150)
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        cleanup()
    every = results.latencies["page"] + results.latencies["callback"]
    report = {
        "backend": backend, "users": args.users, "workers": args.workers, "duration_s": round(elapsed, 1),
        "requests": len(every), "requests_per_s": round(len(every) / elapsed, 1), **percentiles(every),
        "page": {"requests": len(results.latencies["page"]), **percentiles(results.latencies["page"])},
        "callback": {"requests": len(results.latencies["callback"]), **percentiles(results.latencies["callback"])},
        "callbacks_exercised": len(plan.callbacks), "errors": len(results.errors),
        "first_errors": results.errors[:5],
    }
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load per backend")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--think", type=float, default=1.0, help="max think time between requests (s)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--postgres-url", default=os.environ.get("OBSERVATORY_TEST_POSTGRES_URL", DEFAULT_POSTGRES))
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (database, gunicorn log)")
    args = parser.parse_args(argv)
    if not 1 <= args.users <= MAX_USERS or not 0 < args.duration <= MAX_DURATION:
        parser.error(f"--users must be 1..{MAX_USERS} and --duration 0..{MAX_DURATION:.0f} s")
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    reports = []
    for backend in backends:
        print(f"[{backend}] {args.users} users, {args.duration:.0f} s, {args.workers} gunicorn workers", flush=True)
        report = run_backend(backend, args)
        reports.append(report)
        print(f"[{backend}] {report['requests']} requests, {report['requests_per_s']} req/s, "
              f"p50 {report['p50_ms']} ms, p95 {report['p95_ms']} ms, p99 {report['p99_ms']} ms, "
              f"errors {report['errors']}", flush=True)
        print(f"[{backend}]   callbacks: p50 {report['callback']['p50_ms']} ms, p95 {report['callback']['p95_ms']} ms"
              f"; page loads: p50 {report['page']['p50_ms']} ms, p95 {report['page']['p95_ms']} ms", flush=True)
        for error in report["first_errors"]:
            print(f"[{backend}]   error: {error}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(reports, indent=2))
    return 1 if any(r["errors"] for r in reports) else 0


if __name__ == "__main__":
    raise SystemExit(main())
