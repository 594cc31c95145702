"""Covering indexes for victim filters; area and month indexes ordered for GROUP BY.

- ``ix_incidents_dashboard`` becomes (occurred_on, weekday, hour, ...): grouped by day,
  weekday and hour the rows come out in index order, so the hour x weekday table is summed
  from a per-day aggregate instead of sorting every matching row.
- Every dashboard index now covers ``victim_sex`` and ``victim_age_group``: a sex or age
  filter no longer looks up each row in the table (SQLite: 1M row lookups per query).
- ``ix_incidents_area_month`` becomes (neighbourhood_id, occurred_month, occurred_on, ...):
  area totals over a date range are read in area order with a skip-scan on the area
  (no sort of every matching row to group them); ``occurred_on`` is filtered in the index.
- ``ix_incidents_month_cat`` is replaced by ``ix_incidents_category_month`` (category_id,
  occurred_month, occurred_on, ...): totals per category and per month x category are read
  in group order with a skip-scan on the category (no sort); the monthly series is summed
  from the month x category aggregate.

The query layer adds the (redundant) ``occurred_month`` bounds of every date range so these
month-led indexes can be range-scanned when the dates are not on month boundaries.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

VICTIM = ["victim_sex", "victim_age_group"]


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.drop_index("ix_incidents_dashboard")
        batch_op.drop_index("ix_incidents_area_month")
        batch_op.drop_index("ix_incidents_month_cat")
        batch_op.create_index("ix_incidents_dashboard", ["occurred_on", "weekday", "hour", "category_id",
                                                         "neighbourhood_id", "source_kind", *VICTIM, "count"])
        batch_op.create_index("ix_incidents_area_month", ["neighbourhood_id", "occurred_month", "occurred_on",
                                                          "category_id", "source_kind", *VICTIM, "count"])
        batch_op.create_index("ix_incidents_category_month", ["category_id", "occurred_month", "occurred_on",
                                                              "source_kind", *VICTIM, "count"])


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch_op:
        batch_op.drop_index("ix_incidents_dashboard")
        batch_op.drop_index("ix_incidents_area_month")
        batch_op.drop_index("ix_incidents_category_month")
        batch_op.create_index("ix_incidents_dashboard", ["occurred_on", "category_id", "neighbourhood_id",
                                                         "source_kind", "weekday", "hour", "count"])
        batch_op.create_index("ix_incidents_area_month", ["neighbourhood_id", "occurred_month", "category_id",
                                                          "source_kind", "count"])
        batch_op.create_index("ix_incidents_month_cat", ["occurred_month", "category_id", "source_kind", "count"])
