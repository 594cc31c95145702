"""The Alembic migrations build exactly the schema the models describe, both ways."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from observatory.db.models import Base
from observatory.db.session import alembic_config, get_engine


def test_models_and_migrations_agree(db_url):
    with get_engine(db_url).connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_downgrade_to_base_and_up_again(db_url):
    cfg = alembic_config(db_url)
    command.downgrade(cfg, "base")
    tables = set(inspect(get_engine(db_url)).get_table_names()) - {"alembic_version"}
    assert tables == set()
    command.upgrade(cfg, "head")
    assert "incidents" in inspect(get_engine(db_url)).get_table_names()


def test_taxonomy_seeded(db_url):
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    from observatory.db.models import CrimeCategory

    with Session(get_engine(db_url)) as s:
        n = s.scalar(select(func.count()).select_from(CrimeCategory))
        sensitive = set(s.scalars(select(CrimeCategory.code).where(CrimeCategory.sensitive)))
    assert n >= 30
    assert {"rape", "sexual_assault", "domestic_violence"} <= sensitive
