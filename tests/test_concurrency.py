"""Imports while the dashboard reads: no errors and no torn reads (SQLite WAL and PostgreSQL).

A child process imports several files one after another (each one batch, one transaction)
while reader threads in this process query the database as the dashboard does. Every read
checks, in one SQL statement (one snapshot), that the incidents visible are exactly those of
the finished batches: a reader never sees a batch's rows without its batch record and
totals. Readers also call the query layer (public and analyst) and must never fail.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest
from sqlalchemy import text

from observatory import queries
from observatory.db.session import get_engine
from observatory.ingest.incidents import ingest_incidents
from tests.conftest import REPO_ROOT
from tests.test_crash_safety import incident_file

FILES = 3
ROWS = 2000

WRITER = textwrap.dedent("""
    import sys
    from observatory.db.session import get_engine
    from observatory.ingest.incidents import ingest_incidents
    engine = get_engine(sys.argv[1])
    for path in sys.argv[2:]:
        report = ingest_incidents(path, source_kind="police", profile="generic_incidents", engine=engine)
        print(report.batch_id, report.loaded, flush=True)
""")

SNAPSHOT = text(
    "SELECT (SELECT COUNT(*) FROM incidents), "
    "(SELECT COALESCE(SUM(loaded - revised), 0) FROM import_batches WHERE status = 'done' "
    "AND source_kind IN ('police', 'complaint')), "
    "(SELECT COUNT(*) FROM import_batches WHERE status <> 'done')"
)


def test_imports_while_reading(db_url, tmp_path):
    engine = get_engine(db_url)
    ingest_incidents(incident_file(tmp_path / "seed.csv", 100, seed=100), source_kind="police",
                     profile="generic_incidents", engine=engine)
    files = [str(incident_file(tmp_path / f"f{i}.csv", ROWS, seed=200 + i, bad=0)) for i in range(FILES)]

    stop = threading.Event()
    errors: list[BaseException] = []
    torn: list[tuple] = []
    seen: set[int] = set()
    reads = [0]

    def reader(role: str) -> None:
        filters = queries.Filters()
        try:
            while not stop.is_set():
                with engine.connect() as conn:
                    visible, promised, unfinished = conn.execute(SNAPSHOT).one()
                if visible != promised or unfinished:
                    torn.append((visible, promised, unfinished))
                seen.add(int(visible))
                queries.counts_by_month(engine, filters, role)
                queries.counts_by_category(engine, filters, role)
                queries.total(engine, filters, role)
                reads[0] += 1
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(role,)) for role in ("public", "analyst")]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    writer = subprocess.run([sys.executable, "-c", WRITER, db_url, *files], cwd=REPO_ROOT, capture_output=True,
                            text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    time.sleep(0.3)  # a few reads after the last commit
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    elapsed = time.monotonic() - started

    assert writer.returncode == 0, writer.stderr[-3000:]
    assert [line.split()[1] for line in writer.stdout.split("\n") if line] == [str(ROWS)] * FILES
    assert not errors, f"a reader failed: {errors[0]!r}"
    assert not torn, f"torn reads (visible incidents, finished batches' total, unfinished): {torn[:5]}"
    assert reads[0] > 2, f"only {reads[0]} reads in {elapsed:.1f} s"
    assert max(seen) == 100 + FILES * ROWS
    assert seen <= {100 + i * ROWS for i in range(FILES + 1)}, f"partial batches seen: {sorted(seen)}"
    if len(seen) < 2:
        pytest.skip(f"the readers never overlapped an import ({reads[0]} reads); the check was not exercised")
