"""Indicators an observatory publishes: pure functions, DataFrames in and out, no I/O.

Recorded crime (definitions in ``docs/indicators-recorded.md``):

- :mod:`~observatory.indicators.compstat`: week / 28 days / year to date vs a year before,
  with the exact conditional test of two Poisson counts;
- :mod:`~observatory.indicators.timeseries`: monthly series, moving averages, previous
  year, seasonal expected band and flagged months;
- :mod:`~observatory.indicators.breakdown`: hour x weekday matrix, categories over time;
- :mod:`~observatory.indicators.rates`: the one rate per 100,000 (NaN without population);
- :mod:`~observatory.indicators.ranking`: neighbourhoods by rate per 100,000 and by change,
  ordered by evidence;
- :mod:`~observatory.indicators.targets`: progress towards the plan's targets;
- :mod:`~observatory.indicators.intervention`: before/after against comparison areas;
- :mod:`~observatory.indicators.side_by_side`: recorded crime vs the survey per area.

Survey indicators (victimisation, reporting, dark figure, fear index, trust) are in
:mod:`observatory.indicators.survey` and :mod:`observatory.indicators.fear`.
"""

from observatory.indicators.breakdown import category_breakdown, hour_weekday_matrix
from observatory.indicators.compstat import change_test, compstat, compstat_wide, period_bounds
from observatory.indicators.intervention import evaluate_intervention
from observatory.indicators.ranking import rank_areas, rank_changes, top_risers
from observatory.indicators.rates import rate_per_100k
from observatory.indicators.side_by_side import recorded_vs_survey
from observatory.indicators.targets import target_progress
from observatory.indicators.timeseries import monthly_series, seasonal_band

__all__ = [
    "category_breakdown",
    "change_test",
    "compstat",
    "compstat_wide",
    "evaluate_intervention",
    "hour_weekday_matrix",
    "monthly_series",
    "period_bounds",
    "rank_areas",
    "rank_changes",
    "rate_per_100k",
    "recorded_vs_survey",
    "seasonal_band",
    "target_progress",
    "top_risers",
]
