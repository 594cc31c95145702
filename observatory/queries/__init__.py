"""The query layer: every view of the observatory reads the database through these functions.

Aggregation happens in SQL (``SUM(count)``), identically on SQLite and PostgreSQL, or, for the
dashboard's aggregates once it is built, in the in-memory incident cube
(:mod:`observatory.queries.cube`), which gives the same frames; access
rules for the roles ``public``, ``analyst`` and ``admin`` live in
:mod:`observatory.queries.access` and are applied here, not in the pages: for the public, every
count returned is the published figure (docs/disclosure.md); true counts come only from
``true_counts_*``, which refuse the public.
"""

from observatory.db.planner import refresh_statistics
from observatory.queries.access import ROLES, check_role, is_restricted, public_notices
from observatory.queries.filters import Filters
from observatory.queries.incidents import (
    area_counts,
    counts_by_area,
    counts_by_area_month,
    counts_by_category,
    counts_by_day,
    counts_by_district,
    counts_by_hour_weekday,
    counts_by_month,
    total,
    true_counts_by_area,
    true_counts_by_area_month,
)
from observatory.queries.records import incident_records, points
from observatory.queries.reference import (
    areas,
    categories,
    data_version,
    date_bounds,
    districts,
    import_history,
    interventions,
    layers,
    rejected_rows,
    targets,
    unassigned_summary,
    unknown_labels,
)
from observatory.queries.surveys import survey_profile_facts, survey_responses, survey_waves

__all__ = [
    "ROLES",
    "Filters",
    "area_counts",
    "areas",
    "categories",
    "check_role",
    "counts_by_area",
    "counts_by_area_month",
    "counts_by_category",
    "counts_by_day",
    "counts_by_district",
    "counts_by_hour_weekday",
    "counts_by_month",
    "data_version",
    "date_bounds",
    "districts",
    "import_history",
    "incident_records",
    "interventions",
    "is_restricted",
    "layers",
    "points",
    "public_notices",
    "refresh_statistics",
    "rejected_rows",
    "survey_profile_facts",
    "survey_responses",
    "survey_waves",
    "targets",
    "total",
    "true_counts_by_area",
    "true_counts_by_area_month",
    "unassigned_summary",
    "unknown_labels",
]
