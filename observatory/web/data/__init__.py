"""What the pages show, as DataFrames: the dashboard's only door to the data.

Each function takes a :class:`~observatory.web.state.ViewState` (and the viewer's role), calls
``observatory.queries`` for the aggregates (the access rules of ``observatory.queries.access`` are
applied there) and ``observatory.geo`` / ``observatory.indicators`` for the statistics, and returns
plain DataFrames the figures and tables draw. No SQL and no arithmetic on figures is written here;
results are cached per filter set and data version (``observatory.web.cache``).

One module per kind of figure:

| module | what flows through it |
|---|---|
| ``runtime`` | the configured database, data version, memos, the per-callback shared scope |
| ``reference`` | categories, filter choices, demo marker, ``ViewState`` -> ``Filters`` |
| ``areas`` | primary areas, display GeoJSON, contiguity weights, warm-up |
| ``maps`` | per-area counts, rates, Gi*, local Moran, emerging hot spots, heat layer, points |
| ``recorded`` | monthly series, hour x weekday, categories, CompStat, risers, key figures |
| ``surveys`` | survey indicators, fear index, recorded vs survey, perception map |
| ``datapage`` | import history, rejected rows, unknown labels, unassigned incidents |
| ``profile`` | the neighbourhood profile |
| ``plan`` | plan targets and intervention evaluations |

The pages import this package (``from observatory.web import data``) and call ``data.<name>``.
"""

from observatory.web.data.areas import (
    GEOJSON_ROUTE,
    _weights,
    areas,
    areas_bounds,
    areas_geojson,
    areas_geojson_ref,
    warm_areas,
    warm_incident_cube,
    warm_up,
)
from observatory.web.data.datapage import (
    import_history,
    rejected_rows,
    unassigned_summary,
    unknown_labels,
)
from observatory.web.data.maps import (
    EMERGING_CATEGORIES,
    HOTSPOT_LAYERS,
    WITHHELD,
    WITHHOLD_SHARE,
    area_stats,
    density_layer,
    density_points,
    emerging,
    hotspots_withheld,
    points,
    published_values,
    selects_sensitive,
    suppressed_value,
)
from observatory.web.data.plan import (
    INTERVENTION_COLUMNS,
    INTERVENTION_UNAPPLIED,
    TARGET_COLUMNS,
    TARGET_KINDS,
    intervention_results,
    intervention_unapplied_filters,
    intervention_verdict,
    plan_targets,
)
from observatory.web.data.profile import (
    area_categories,
    area_fear,
    area_monthly,
    area_options,
    area_row,
    city_headline,
)
from observatory.web.data.recorded import (
    category_month,
    compstat,
    compstat_windows,
    hour_weekday,
    kpis,
    monthly,
    replace_dates,
    riser_periods,
    risers,
)
from observatory.web.data.reference import (
    categories,
    category_names,
    category_sections,
    filter_options,
    has_population,
    is_demo,
    to_filters,
)
from observatory.web.data.runtime import (
    configure,
    engine,
    shared_scope,
    sharing,
    version,
)
from observatory.web.data.surveys import (
    UNRELIABLE_MAJORITY,
    fear_levels,
    fear_map_levels,
    fear_shares,
    filters_applied,
    gender_lens,
    has_neighbourhood_level,
    latest_wave,
    recorded_vs_survey,
    survey_changes,
    survey_figures,
    survey_headline,
    survey_indicators,
    survey_persons,
    survey_rows,
    wave_levels,
    wave_order,
    wave_series,
)
