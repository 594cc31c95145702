"""An import killed with SIGKILL mid-batch leaves the database consistent; a re-run completes.

A child process imports a file of police reports. A test-only wrapper around the importer's
``write_chunk`` (installed in the child only) signals once the first block of rows has been
written inside the import's transaction and then sleeps; the test checks that concurrent
readers cannot see the half-written batch, kills the child with SIGKILL, and checks that the
database holds no trace of the batch (no batch row, no incidents, no rejected rows, nothing
``running``), that SQLite's integrity check passes, and that importing the same file again
loads exactly the expected rows.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from observatory.db.session import get_engine
from observatory.ingest.incidents import ingest_incidents
from tests.conftest import REPO_ROOT

COLUMNS = ["record_id", "occurred_date", "occurred_time", "category", "latitude", "longitude", "address",
           "description"]

CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import observatory.ingest.incidents as inc
    from observatory.db.session import get_engine

    original = inc.write_chunk
    ready = Path(sys.argv[3])

    def write_then_stall(*args, **kwargs):
        original(*args, **kwargs)
        ready.write_text("rows written, transaction open")
        time.sleep(120)  # the parent kills us here

    inc.write_chunk = write_then_stall
    inc.ingest_incidents(sys.argv[2], source_kind="police", profile="generic_incidents", engine=get_engine(sys.argv[1]))
    print("finished without being killed", flush=True)
""")


def incident_file(path: Path, n: int, seed: int = 1, bad: int = 3) -> Path:
    """``n`` valid generic police reports plus ``bad`` rows with an invalid date."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "record_id": [f"C{seed}-{i}" for i in range(n)],
        "occurred_date": [f"2023-{m:02d}-{d:02d}" for m, d in zip(rng.integers(1, 13, n), rng.integers(1, 29, n),
                                                                  strict=True)],
        "occurred_time": [f"{h:02d}:15" for h in rng.integers(0, 24, n)],
        "category": rng.choice(["robbery_person", "vehicle_theft", "assault", "homicide"], n),
        "latitude": np.round(rng.uniform(19.3, 19.5, n), 6),
        "longitude": np.round(rng.uniform(-99.2, -99.0, n), 6),
        "address": [f"Calle {i}" for i in range(n)],
        "description": ["" for _ in range(n)],
    })
    broken = frame.head(bad).assign(record_id=[f"B{seed}-{i}" for i in range(bad)], occurred_date="31/31/2023")
    pd.concat([frame, broken]).to_csv(path, index=False, columns=COLUMNS)
    return path


def state(engine) -> dict:
    with engine.connect() as conn:
        one = conn.execute(text(
            "SELECT (SELECT COUNT(*) FROM import_batches), (SELECT COUNT(*) FROM incidents), "
            "(SELECT COUNT(*) FROM rejected_rows), (SELECT COUNT(*) FROM import_batches WHERE status <> 'done')"
        )).one()
    return dict(zip(("batches", "incidents", "rejected", "unfinished"), one, strict=True))


def test_sigkill_mid_batch_then_rerun(db_url, tmp_path):
    engine = get_engine(db_url)
    warmup = incident_file(tmp_path / "earlier.csv", 200, seed=7)
    ingest_incidents(warmup, source_kind="police", profile="generic_incidents", engine=engine)
    before = state(engine)
    assert before == {"batches": 1, "incidents": 200, "rejected": 3, "unfinished": 0}

    data = incident_file(tmp_path / "big.csv", 5000, seed=8)
    ready = tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", CHILD, db_url, str(data), str(ready)], cwd=REPO_ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if child.poll() is not None:
                pytest.fail(f"the import ended before the kill: {child.stdout.read()} {child.stderr.read()[-2000:]}")
            assert time.monotonic() < deadline, "the child never wrote its first block"
            time.sleep(0.05)
        # Rows are written but not committed: no reader may see any of them yet.
        assert state(engine) == before
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    if engine.dialect.name == "postgresql":
        # The server rolls back once it notices the dead client; wait for its backend to go.
        with engine.connect() as conn:
            for _ in range(100):
                busy = conn.execute(text("SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'idle in transaction' "
                                         "AND datname = current_database()")).scalar_one()
                if not busy:
                    break
                time.sleep(0.1)
    else:
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    assert state(engine) == before, "the killed import left rows behind"

    report = ingest_incidents(data, source_kind="police", profile="generic_incidents", engine=engine)
    assert (report.total, report.loaded, report.rejected, report.duplicates) == (5003, 5000, 3, 0)
    after = state(engine)
    assert after == {"batches": 2, "incidents": 5200, "rejected": 6, "unfinished": 0}
    again = ingest_incidents(data, source_kind="police", profile="generic_incidents", engine=engine)
    assert (again.loaded, again.duplicates) == (0, 5000)  # a third run only finds duplicates


# --- the import's audit event is part of its transaction (issue 9) ---------------------------------------

AUDIT_CHILD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import observatory.audit as audit
    from observatory.cli import main

    original = audit.record
    ready = Path(sys.argv[2])

    def record_then_stall(*args, **kwargs):
        original(*args, **kwargs)
        ready.write_text("audit event written")
        time.sleep(120)  # the parent kills us here

    audit.record = record_then_stall
    main(["--user", "ana", "ingest", "police", sys.argv[1], "--profile", "generic_incidents", "--quiet"])
    print("finished without being killed", flush=True)
""")


def audited_batches(engine) -> tuple[int, int]:
    """(batches, import audit events that name a batch)."""
    with engine.connect() as conn:
        batches = conn.execute(text("SELECT COUNT(*) FROM import_batches")).scalar_one()
        events = conn.execute(text("SELECT detail FROM audit_events WHERE action = 'import'")).scalars().all()
    details = [e if isinstance(e, dict) else json.loads(e) for e in events]
    return batches, sum(1 for d in details if d.get("batch_id"))


def test_sigkill_after_the_audit_write_leaves_no_batch_without_its_audit_event(db_url, tmp_path):
    engine = get_engine(db_url)
    data = incident_file(tmp_path / "audited.csv", 300, seed=9)
    ready = tmp_path / "ready"
    child = subprocess.Popen([sys.executable, "-c", AUDIT_CHILD, str(data), str(ready)], cwd=REPO_ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "OBSERVATORY_DATABASE_URL": db_url})
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            if child.poll() is not None:
                pytest.fail(f"the import ended before the kill: {child.stdout.read()} {child.stderr.read()[-2000:]}")
            assert time.monotonic() < deadline, "the child never wrote its audit event"
            time.sleep(0.05)
        batches, events = audited_batches(engine)
        assert batches == events == 0, "a batch was committed before its audit event"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            for _ in range(100):
                if not conn.execute(text("SELECT COUNT(*) FROM pg_stat_activity WHERE state = 'idle in transaction' "
                                         "AND datname = current_database()")).scalar_one():
                    break
                time.sleep(0.1)
    assert audited_batches(engine) == (0, 0)
    assert state(engine)["incidents"] == 0


def test_cli_imports_record_one_audit_event_with_their_batch(db_url, tmp_path, capsys):
    from observatory.cli import main

    engine = get_engine(db_url)
    data = incident_file(tmp_path / "ok.csv", 50, seed=10)
    assert main(["--user", "ana", "ingest", "police", str(data), "--profile", "generic_incidents", "--json"]) == 0
    batch_id = json.loads(capsys.readouterr().out)["batch_id"]
    bad = incident_file(tmp_path / "bad.csv", 21, seed=11, bad=0)
    frame = pd.read_csv(bad, dtype=str, keep_default_na=False)
    frame.loc[1:, "occurred_date"] = "31/31/2023"  # 20 of 21 rows rejected: the import fails
    frame.to_csv(bad, index=False)
    assert main(["ingest", "police", str(bad), "--profile", "generic_incidents", "--quiet"]) == 2
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT user_name, detail FROM audit_events WHERE action = 'import' ORDER BY id"))
        events = [(user, d if isinstance(d, dict) else json.loads(d)) for user, d in rows]
        failed_id = conn.execute(text("SELECT id FROM import_batches WHERE status = 'failed'")).scalar_one()
    assert [(u, d["batch_id"], d["status"], d["via"]) for u, d in events] == [
        ("ana", batch_id, "done", "cli"), ("cli", failed_id, "failed", "cli")]
    assert (events[0][1]["total"], events[0][1]["loaded"], events[0][1]["rejected"]) == (53, 50, 3)
