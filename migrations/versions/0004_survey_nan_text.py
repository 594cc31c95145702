"""Survey responses: blank codes stored as the text 'NaN' become NULL.

Before this release, pandas 3 handed blank string cells to the survey importer as NaN, which
PostgreSQL stored as the text ``'NaN'`` (SQLite stored NULL). Such responses were counted as
having an unknown area code ``NaN`` instead of none. The importer now stores NULL; this turns
the text already stored into NULL. No schema change; downgrade leaves the data as it is.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The optional text columns the importer fills from string cells.
COLUMNS = ("household_key", "area_code", "stratum", "psu", "sex", "age_group")


def upgrade() -> None:
    for column in COLUMNS:
        op.execute(f"UPDATE survey_responses SET {column} = NULL WHERE {column} = 'NaN'")


def downgrade() -> None:
    """Nothing to undo: NULL is what the importer stores for a blank cell."""
