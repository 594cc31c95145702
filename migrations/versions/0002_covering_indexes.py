"""Covering indexes for source, weekday and hour filters of the dashboard.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.drop_index("ix_incidents_dashboard")
        batch_op.drop_index("ix_incidents_area_month")
        batch_op.create_index("ix_incidents_dashboard", ["occurred_on", "category_id", "neighbourhood_id",
                                                         "source_kind", "weekday", "hour", "count"])
        batch_op.create_index("ix_incidents_area_month", ["neighbourhood_id", "occurred_month", "category_id",
                                                          "source_kind", "count"])


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.drop_index("ix_incidents_dashboard")
        batch_op.drop_index("ix_incidents_area_month")
        batch_op.create_index("ix_incidents_dashboard", ["occurred_on", "category_id", "neighbourhood_id", "count"])
        batch_op.create_index("ix_incidents_area_month", ["neighbourhood_id", "occurred_month", "category_id",
                                                          "count"])
