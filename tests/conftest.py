"""Shared fixtures: real SQLite and PostgreSQL databases, and the shared real data."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("OBSERVATORY_SHARED_DIR", REPO_ROOT.parent / "shared"))
REALDATA = SHARED_DIR / "realdata"
EXAMPLES = REPO_ROOT / "data" / "examples"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# .ci/run sets these: there a missing ../shared or an unreachable PostgreSQL is a failure, not a skip.
REQUIRE_SHARED = os.environ.get("OBSERVATORY_REQUIRE_SHARED") == "1"
REQUIRE_POSTGRES = os.environ.get("OBSERVATORY_REQUIRE_POSTGRES") == "1"
# The in-memory incident cube answers the dashboard aggregates: built on first use in tests, so
# every test sees exactly the data it just wrote (the app's default builds it in a thread).
# tests/test_queries_cube.py checks the SQL path gives the same frames.
os.environ.setdefault("OBSERVATORY_CUBE", "sync")
POSTGRES_URL = os.environ.get("OBSERVATORY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def realdata(*parts: str) -> Path:
    """Path to a file of ``../shared/realdata``; skips (or fails under CI) when it is absent."""
    path = REALDATA.joinpath(*parts)
    if not path.exists():
        message = f"real data not available: {path} (clone the project beside ../shared to run this test)"
        if REQUIRE_SHARED:
            pytest.fail(message)
        pytest.skip(message)
    return path


def _postgres_schema_url() -> tuple[str, str]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    try:
        admin = create_engine(POSTGRES_URL)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
    except Exception as exc:
        message = f"PostgreSQL not reachable at {POSTGRES_URL}: {exc}"
        if REQUIRE_POSTGRES:
            pytest.fail(message)
        pytest.skip(message)
    sep = "&" if "?" in POSTGRES_URL else "?"
    return f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}", schema


def _drop_postgres_schema(schema: str) -> None:
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
    admin.dispose()


def make_database(kind: str, tmp_path: Path):
    """Create an empty, migrated database; returns ``(url, cleanup)``."""
    from observatory.db.session import get_engine, upgrade_to_head

    if kind == "sqlite":
        url = f"sqlite:///{tmp_path / f'obs-{uuid.uuid4().hex[:6]}.db'}"
        schema = None
    else:
        url, schema = _postgres_schema_url()
    upgrade_to_head(url)

    def cleanup() -> None:
        get_engine(url).dispose()
        get_engine.cache_clear()
        if schema:
            _drop_postgres_schema(schema)

    return url, cleanup


@contextlib.contextmanager
def module_sqlite(folder: Path) -> Iterator[str]:
    """A migrated SQLite database for a module-scoped fixture, set as the configured database with the
    response cache off and the default suppression threshold; environment and file undone on exit."""
    url, cleanup = make_database("sqlite", folder)
    mp = pytest.MonkeyPatch()
    mp.setenv("OBSERVATORY_DATABASE_URL", url)
    mp.setenv("OBSERVATORY_CACHE", "null")
    mp.delenv("OBSERVATORY_SUPPRESSION_K", raising=False)
    try:
        yield url
    finally:
        mp.undo()
        cleanup()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path, monkeypatch) -> str:
    """A fresh migrated database on each backend; also set as OBSERVATORY_DATABASE_URL."""
    url, cleanup = make_database(request.param, tmp_path)
    monkeypatch.setenv("OBSERVATORY_DATABASE_URL", url)
    yield url
    cleanup()


@pytest.fixture
def sqlite_url(tmp_path, monkeypatch) -> str:
    """A fresh migrated SQLite database only (for the heavy real-data tests)."""
    url, cleanup = make_database("sqlite", tmp_path)
    monkeypatch.setenv("OBSERVATORY_DATABASE_URL", url)
    yield url
    cleanup()


@pytest.fixture
def city(db_url, monkeypatch):
    """The random test city of ``tests/test_queries_cube.py`` on ``db_url``, answered by the incident
    cube built synchronously (the cube and disclosure tests compare it with SQL)."""
    from observatory.db.session import get_engine
    from observatory.queries import cube
    from tests.test_queries_cube import load_random_city

    monkeypatch.setenv("OBSERVATORY_CUBE", "sync")
    load_random_city(db_url)
    cube.forget()
    yield get_engine(db_url)
    cube.forget()
