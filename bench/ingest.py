"""Ingestion benchmark: the full import pipeline against a raw insert of the same rows.

    python bench/ingest.py                 # 2,000,000 incidents, SQLite and PostgreSQL
    python bench/ingest.py --n 200000      # smaller run
    python bench/ingest.py --backends sqlite

Generates N incidents in the generic_incidents CSV format over 2,000 square neighbourhoods (a
40 x 50 grid), then for each backend, on a fresh database with the boundaries imported:

1. times ``ingest_incidents`` end to end (read, map, parse, validate, categorise, dedupe,
   assign with the spatial index, insert, batch record);
2. times a raw insert of the very rows that import stored (fetched back, inserted into a
   second fresh database in one transaction: executemany on SQLite, COPY on PostgreSQL).

It prints rows/s for both and their ratio; the target is a full import at >= 1/3 of the raw
insert rate. PostgreSQL is ``OBSERVATORY_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``), each run in a throw-away schema.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from observatory.db.session import get_engine, upgrade_to_head
from observatory.ingest import incidents as inc
from observatory.ingest.boundaries import import_boundaries

POSTGRES_URL = os.environ.get("OBSERVATORY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
GRID = (40, 50)  # 2,000 neighbourhoods
ORIGIN = (-99.30, 19.20)  # lon, lat of the grid's south-west corner
CELL = 0.006  # degrees
LABELS = ["robbery_person", "vehicle_theft", "burglary_residential", "assault", "theft", "Robo a transeúnte",
          "Lesiones", "fraud", "domestic_violence", "homicide", "Hurto", "threat"]


def write_neighbourhoods(path: Path) -> None:
    """A GeoJSON of GRID square neighbourhoods with codes N0000.. and populations."""
    features = []
    for i in range(GRID[0]):
        for j in range(GRID[1]):
            x, y = ORIGIN[0] + i * CELL, ORIGIN[1] + j * CELL
            ring = [[x, y], [x + CELL, y], [x + CELL, y + CELL], [x, y + CELL], [x, y]]
            code = f"N{i * GRID[1] + j:04d}"
            features.append({"type": "Feature", "properties": {"code": code, "name": f"Barrio {code}",
                                                               "population": 5000 + (i * j) % 7000},
                             "geometry": {"type": "Polygon", "coordinates": [ring]}})
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}))


def write_incidents(path: Path, n: int, seed: int = 7) -> None:
    """N incidents in the generic_incidents format: ~3% without coordinates, ~1% outside the grid."""
    rng = np.random.default_rng(seed)
    days = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, n), unit="D")
    minutes = rng.integers(0, 24 * 60, n)
    lon = ORIGIN[0] + rng.uniform(0, GRID[0] * CELL, n)
    lat = ORIGIN[1] + rng.uniform(0, GRID[1] * CELL, n)
    outside = rng.random(n) < 0.01
    lon[outside] -= 1.0
    missing = rng.random(n) < 0.03
    cell = ((lon - ORIGIN[0]) // CELL).astype(int) * GRID[1] + ((lat - ORIGIN[1]) // CELL).astype(int)
    codes = np.where(outside, "", np.char.add("N", np.char.zfill(np.clip(cell, 0, 1999).astype(str), 4)))
    frame = pd.DataFrame({
        "record_id": np.char.add("B", np.arange(n).astype(str)),
        "occurred_date": days.strftime("%Y-%m-%d"),
        "occurred_time": [f"{m // 60:02d}:{m % 60:02d}" for m in minutes.tolist()],
        "occurred_end_date": "", "occurred_end_time": "",
        "reported_date": (days + pd.to_timedelta(rng.integers(0, 5, n), unit="D")).strftime("%Y-%m-%d"),
        "category": np.array(LABELS)[rng.integers(0, len(LABELS), n)],
        "latitude": np.where(missing, "", np.round(lat, 6).astype(str)),
        "longitude": np.where(missing, "", np.round(lon, 6).astype(str)),
        "neighbourhood_code": codes, "neighbourhood_name": "",
        "victim_sex": np.array(["F", "M", ""])[rng.integers(0, 3, n)],
        "victim_age": np.where(rng.random(n) < 0.3, "", rng.integers(12, 90, n).astype(str)),
        "count": "1", "address": "", "description": "",
    })
    frame.to_csv(path, index=False)


def fresh_database(backend: str, folder: Path) -> tuple[str, object]:
    """A migrated database; returns ``(url, cleanup)``."""
    if backend == "sqlite":
        url = f"sqlite:///{folder / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        schema = None
    else:
        schema = f"bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        url = f"{POSTGRES_URL}{'&' if '?' in POSTGRES_URL else '?'}options=-csearch_path%3D{schema}"
    upgrade_to_head(url)

    def cleanup() -> None:
        get_engine(url).dispose()
        get_engine.cache_clear()
        if schema:
            admin = create_engine(POSTGRES_URL)
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()

    return url, cleanup


def run_backend(backend: str, csv_path: Path, areas_path: Path, folder: Path) -> dict:
    """Full import then raw insert of the same rows on ``backend``; returns the timings."""
    url, cleanup = fresh_database(backend, folder)
    raw_url, raw_cleanup = fresh_database(backend, folder)
    try:
        engine = get_engine(url)
        import_boundaries(areas_path, layer="bench_grid", id_field="code", name_field="name",
                          population_field="population", engine=engine)
        started = time.perf_counter()
        report = inc.ingest_incidents(csv_path, source_kind="police", profile="generic_incidents", engine=engine)
        full = time.perf_counter() - started
        assert report.balanced and report.loaded == report.total, report.summary()

        # the same prepared rows, as stored, into an identical second database
        raw_engine = get_engine(raw_url)
        import_boundaries(areas_path, layer="bench_grid", id_field="code", name_field="name",
                          population_field="population", engine=raw_engine)
        columns = ", ".join(inc.WRITE_COLUMNS)
        with engine.connect() as conn:
            rows = [tuple(r) for r in conn.exec_driver_sql(f"SELECT {columns} FROM incidents ORDER BY id")]
            batch = dict(conn.exec_driver_sql(
                f"SELECT * FROM import_batches WHERE id = {report.batch_id}").mappings().one())
        with raw_engine.begin() as conn:
            conn.execute(text("INSERT INTO import_batches (id, file_name, sha256, source_kind, profile, started_at, "
                              "status, total, loaded, rejected, duplicates, revised, unassigned) VALUES (:id, "
                              ":file_name, :sha256, :source_kind, :profile, :started_at, :status, 0, 0, 0, 0, 0, 0)"),
                         {k: batch[k] for k in ("id", "file_name", "sha256", "source_kind", "profile", "started_at",
                                                "status")})
        started = time.perf_counter()
        with raw_engine.begin() as conn:
            inc.tune_connection(conn)
            for start in range(0, len(rows), inc.CHUNK_SIZE):
                inc.write_chunk(conn, rows[start:start + inc.CHUNK_SIZE])
        raw = time.perf_counter() - started
        n = report.loaded
        return {"backend": backend, "rows": n, "full_s": round(full, 2), "full_rows_per_s": round(n / full),
                "raw_s": round(raw, 2), "raw_rows_per_s": round(n / raw), "ratio": round(raw / full, 3),
                "unassigned": report.unassigned}
    finally:
        cleanup()
        raw_cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=2_000_000, help="incidents to generate (default 2,000,000)")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--dir", help="working folder (default: a temporary one)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        areas, data = folder / "grid.geojson", folder / "incidents.csv"
        started = time.perf_counter()
        write_neighbourhoods(areas)
        write_incidents(data, args.n)
        print(f"generated {args.n:,} incidents over {GRID[0] * GRID[1]:,} neighbourhoods in "
              f"{time.perf_counter() - started:.1f} s ({data.stat().st_size / 1e6:.0f} MB)")
        for backend in args.backends.split(","):
            try:
                result = run_backend(backend.strip(), data, areas, folder)
            except Exception as exc:  # a backend that is not reachable must not hide the other's figures
                print(f"{backend}: failed: {exc}")
                continue
            verdict = "OK" if result["ratio"] >= 1 / 3 else "BELOW TARGET"
            print(f"{result['backend']:>10}: full import {result['full_s']:.1f} s "
                  f"({result['full_rows_per_s']:,} rows/s)"
                  f" | raw insert {result['raw_s']:.1f} s ({result['raw_rows_per_s']:,} rows/s)"
                  f" | ratio {result['ratio']:.2f} (target >= 0.33: {verdict})")
            print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
