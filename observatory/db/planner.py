"""Keep the database's planner statistics fresh so dashboard aggregates use the covering indexes.

Without statistics SQLite guesses that a range on ``occurred_month`` is selective and reads
table rows through a month index (0.6 s for a year of 2M incidents by area and month); with
them it skip-scans the covering ``ix_incidents_area_month`` (0.04 s). Call
:func:`refresh_statistics` after every import. On SQLite the ``ANALYZE`` is complete by
default (about 0.9 s on 2M rows): a sampled one (``analysis_limit``) reads only the first
entries of each index, all of one category, so it believes a category filter selects a few
hundred rows and sends category-filtered tables through the wrong index (a sort of every
matching row instead of an in-order covering scan).
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, text


def refresh_statistics(bind: Engine | Connection, sample_rows: int = 0) -> None:
    """Update planner statistics of the incident tables (SQLite and PostgreSQL: ANALYZE).

    ``bind``: an engine (own transaction) or a connection (the caller's transaction, e.g. the
    import's, so the statistics commit with the data). ``sample_rows``: SQLite's
    ``analysis_limit`` (0 = every row; see the module docstring before sampling).
    """
    if isinstance(bind, Engine):
        with bind.begin() as conn:
            refresh_statistics(conn, sample_rows)
        return
    if bind.dialect.name == "sqlite":
        bind.exec_driver_sql(f"PRAGMA analysis_limit={int(sample_rows)}")
        bind.exec_driver_sql("ANALYZE")
    elif bind.dialect.name == "postgresql":
        for table in ("incidents", "incident_areas", "neighbourhoods"):
            bind.execute(text(f"ANALYZE {table}"))
