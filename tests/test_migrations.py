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


def test_0004_turns_survey_nan_text_into_null(db_url):
    """Blank codes an older importer stored as the text 'NaN' (PostgreSQL) become NULL; real codes stay."""
    import datetime as dt

    from sqlalchemy import insert, select

    from observatory.db.models import ImportBatch, SurveyResponse, SurveyWave

    cfg = alembic_config(db_url)
    command.downgrade(cfg, "0003")
    engine = get_engine(db_url)
    with engine.begin() as conn:
        batch = conn.execute(insert(ImportBatch).values(
            file_name="old.csv", sha256="5" * 64, source_kind="survey", profile="generic_survey",
            started_at=dt.datetime(2025, 1, 1), status="done")).inserted_primary_key[0]
        wave = conn.execute(insert(SurveyWave).values(name="old", profile="generic_survey")).inserted_primary_key[0]
        conn.execute(insert(SurveyResponse), [
            {"wave_id": wave, "batch_id": batch, "unit": "person", "respondent_key": "r1", "weight": 1.0,
             "area_code": "NaN", "household_key": "NaN", "stratum": "NaN", "psu": "7", "items": {}},
            {"wave_id": wave, "batch_id": batch, "unit": "person", "respondent_key": "r2", "weight": 1.0,
             "area_code": "A1", "household_key": "h2", "stratum": None, "psu": "NaN", "items": {}},
        ])
    command.upgrade(cfg, "head")
    with engine.connect() as conn:
        rows = conn.execute(select(SurveyResponse.respondent_key, SurveyResponse.area_code,
                                   SurveyResponse.household_key, SurveyResponse.stratum, SurveyResponse.psu)
                            .order_by(SurveyResponse.respondent_key)).all()
    assert [tuple(r) for r in rows] == [("r1", None, None, None, "7"), ("r2", "A1", "h2", None, None)]
