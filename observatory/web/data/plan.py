"""Plan targets and intervention evaluations."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from observatory.queries.access import published_values, too_suppressed
from observatory.web.cache import cached
from observatory.web.data.areas import (
    _weights,
    areas,
)
from observatory.web.data.maps import (
    selects_sensitive,
)
from observatory.web.data.reference import (
    to_filters,
)
from observatory.web.data.runtime import (
    engine,
    version,
)
from observatory.web.state import ViewState

# --- plan targets and interventions --------------------------------------------------------------

TARGET_KINDS: tuple[str, ...] = ("rate_per_100k", "count")
TARGET_COLUMNS: list[str] = ["id", "indicator", "kind", "category", "scope", "baseline_value", "baseline_on",
                             "target_value", "target_on", "current_value", "current_on", "progress",
                             "expected_progress", "status"]


def _scope_filter(scope: str) -> tuple[dict, dict]:
    """Filters keyword and ``indicators.scope`` keyword of a target's ``scope``: "city", a district or
    an area code (unassigned incidents count in the city only, as everywhere)."""
    gdf = areas()
    if scope in ("", "city"):
        return {}, {}
    if len(gdf) and (gdf["district"].astype(str) == scope).any():
        return {"districts": (scope,)}, {"districts": (scope,)}
    return {"neighbourhoods": (scope,)}, {"codes": (scope,)}


def _target_window(last: dt.date, role: str) -> tuple[dt.date, dt.date]:
    """The 12 months a target's current value covers, ending with the data: the 365 days ending
    ``last`` for analysts; for the public the last COMPLETE calendar year (one period of the public
    grid: any other 12 months would be widened to two whole years, doubling the figure)."""
    from observatory.queries.access import is_restricted

    if is_restricted(role):
        return last - dt.timedelta(days=364), last
    year = last.year if (last.month, last.day) == (12, 31) else last.year - 1
    return dt.date(year, 1, 1), dt.date(year, 12, 31)


@cached(version)
def _plan_targets(role: str) -> pd.DataFrame:
    from observatory import queries
    from observatory.indicators.scope import scope_rate
    from observatory.indicators.targets import target_progress
    from observatory.queries import Filters

    stored = queries.targets(engine())
    if stored.empty:
        return pd.DataFrame(columns=TARGET_COLUMNS)
    bounds = queries.date_bounds(engine())
    last = bounds[1] if isinstance(bounds, tuple) else None
    rows = []
    for target in stored.itertuples(index=False):
        kind, _, category = str(target.indicator).partition(":")
        value = None
        if last is not None and kind in TARGET_KINDS and category:
            # The current value is the last 12 months of data, as the plan's baselines are annual.
            scope_kw, residents = _scope_filter(str(target.scope))
            start, end = _target_window(last, role)
            filters = Filters(start=start, end=end, categories=(category,), **scope_kw)
            count = queries.total(engine(), filters, role)  # None when suppressed for the role
            if count is not None:
                rate = scope_rate(count, areas(), **residents)
                value = float(count) if kind == "count" else (None if pd.isna(rate) else rate)
        rows.append({"indicator": target.indicator, "scope": target.scope, "current_value": value,
                     "current_on": _target_window(last, role)[1] if value is not None else None})
    out = target_progress(stored, pd.DataFrame(rows))
    parts = out["indicator"].astype(str).str.partition(":")
    out["kind"], out["category"] = parts[0], parts[2]
    return out[TARGET_COLUMNS].reset_index(drop=True)


def plan_targets(role: str = "public") -> pd.DataFrame:
    """Progress of every stored plan target (``indicators.targets.target_progress``).

    Indicators are ``rate_per_100k:<category>`` (recorded incidents per 100,000 inhabitants of
    the scope) or ``count:<category>``; the scope is "city", a district or an area code. The
    current value is the last 12 months of data (both sources) ending at the last day with data
    (for the public: the last complete calendar year, a published total);
    counts the role may not see give ``no data``. Columns: id, indicator, kind, category, scope,
    baseline_value, baseline_on, target_value, target_on, current_value, current_on, progress
    (0 at baseline, 1 at target), expected_progress, status (achieved, on track, off track, no data).
    """
    return _plan_targets(role)


INTERVENTION_COLUMNS: list[str] = ["id", "name", "started_on", "ended_on", "area_codes", "months_before",
                                   "months_after", "rr", "rr_low", "rr_high", "effect_pct", "p_value",
                                   "significant", "verdict", "dispersion", "inference", "n_comparison",
                                   "comparison_areas", "excluded_neighbours"]


def intervention_verdict(rr: float, significant: bool) -> str:
    """Plain verdict of a ratio of ratios: ``drop``, ``rise`` (significant either way) or ``no_change``."""
    if rr is None or pd.isna(rr) or not significant:
        return "no_change"
    return "drop" if rr < 1 else "rise"


# The page filters the intervention panel cannot apply: each intervention's start fixes its period
# (12 months either side) and its areas against every other area fix the geography.
INTERVENTION_UNAPPLIED: tuple[str, ...] = ("dates", "district")


def intervention_unapplied_filters(state: ViewState) -> list[str]:
    """The filters set in ``state`` that the intervention panel does not apply (``dates``, ``district``).

    Categories, source and victim sex and age do apply: they choose which incidents are counted.
    """
    chosen = {"dates": bool(state.date_from or state.date_to), "district": bool(state.district)}
    return [name for name in INTERVENTION_UNAPPLIED if chosen[name]]


def _intervention_key(state: ViewState | None) -> dict:
    """The part of a view state the intervention panel applies (its cache key)."""
    state = state or ViewState()
    return {"categories": list(state.categories), "source": state.source, "sex": state.sex, "age": state.age}


def _intervention_counts(state_json: dict, role: str) -> pd.DataFrame | None:
    """Area x month counts behind the panel: true counts for analysts; for the public the
    published counts (``queries.counts_by_area_month(..., "public")``), or None for a selection
    with a sensitive category (published only on the coarse grid: no per-area evaluation)."""
    from observatory import queries
    from observatory.queries.access import is_restricted

    state = ViewState.from_dict(state_json)
    if is_restricted(role):
        return queries.true_counts_by_area_month(engine(), to_filters(state), role)
    if selects_sensitive(state):
        return None
    return queries.counts_by_area_month(engine(), to_filters(state), role)


def _public_withheld(area_month: pd.DataFrame, treated: list[str]) -> bool:
    """A public evaluation is withheld when more than WITHHOLD_SHARE of the treated areas'
    area-months, or of all area-months, are suppressed: the ratio would mostly describe the
    imputed values (the same rule as the map's hotspot statistics)."""
    if "suppressed" not in area_month or area_month.empty:
        return False
    suppressed = area_month["suppressed"].astype(bool)
    in_treated = area_month["code"].astype(str).isin([str(c) for c in treated])
    return too_suppressed(suppressed[in_treated]) or too_suppressed(suppressed)


@cached(version)
def _intervention_results(state_json: dict, role: str) -> pd.DataFrame:
    from observatory import queries
    from observatory.indicators.intervention import evaluate_intervention
    from observatory.queries.access import threshold

    stored = queries.interventions(engine())
    if stored.empty:
        return pd.DataFrame(columns=INTERVENTION_COLUMNS)
    # No dates, no district: see INTERVENTION_UNAPPLIED. Analysts: the true counts; the public: the
    # published area-months only (None: withheld for the public, see _intervention_counts).
    area_month = _intervention_counts(state_json, role)
    # The ratio and its interval give the four counts back (Var log RR = 1/T0 + 1/T1 + 1/C0 + 1/C1): a
    # narrow filter must not publish counts the role would see suppressed, so those results are withheld.
    smallest = threshold(role)
    gdf = areas()
    population = pd.to_numeric(gdf.set_index(gdf["code"].astype(str))["population"], errors="coerce")
    population = population if population.notna().all() and (population > 0).all() else None
    neighbours = _neighbour_codes()
    rows = []
    for item in stored.itertuples(index=False):
        ended = None if item.ended_on is None or pd.isna(item.ended_on) else item.ended_on
        row = {"id": item.id, "name": item.name, "started_on": item.started_on, "ended_on": ended,
               "area_codes": ", ".join(item.area_codes)}
        if area_month is None or _public_withheld(area_month, list(item.area_codes)):
            rows.append(row | {"verdict": "withheld"})
            continue
        try:
            # Comparison: every other area but the treated areas' neighbours (where displacement shows).
            result = evaluate_intervention(area_month.assign(count=published_values(area_month["count"], role)),
                                           list(item.area_codes), item.started_on, ended_on=ended,
                                           population=population, neighbours=neighbours).iloc[0]
        except ValueError:  # no treated/comparison areas or no months on one side of the start
            rows.append(row | {"verdict": "insufficient"})
            continue
        rows.append(row | _published_result(result, smallest))
    return pd.DataFrame(rows).reindex(columns=INTERVENTION_COLUMNS)


def _published_result(result: pd.Series, smallest: int) -> dict:
    """The columns of one evaluation the role may see: the comparison group always; the ratio, its
    interval and verdict unless a count behind them is below the role's threshold (``withheld``)."""
    group = {"n_comparison": int(result["n_comparison"]),
             "comparison_areas": ", ".join(result["comparison_areas"]),
             "excluded_neighbours": ", ".join(result["excluded_neighbours"])}
    counts = result[["treated_before", "treated_after", "comparison_before", "comparison_after"]]
    if smallest and float(counts.min()) < smallest:
        return group | {"verdict": "withheld"}
    shown = {k: result[k] for k in ("months_before", "months_after", "rr", "rr_low", "rr_high", "effect_pct",
                                    "p_value", "dispersion", "inference")}
    return group | shown | {"significant": bool(result["significant"]),
                            "verdict": intervention_verdict(result["rr"], bool(result["significant"]))}


def _neighbour_codes() -> dict[str, list[str]]:
    """Area code -> the codes of its queen-contiguity neighbours (the primary layer's weights)."""
    from observatory.geo.weights import neighbour_dict

    gdf = areas()
    return neighbour_dict(_weights(), gdf["code"]) if len(gdf) >= 2 else {}


def intervention_results(state: ViewState | None = None, role: str = "public") -> pd.DataFrame:
    """Before/after result of every stored intervention against every other area except the treated
    areas' neighbours (``indicators.intervention.evaluate_intervention``, 12 months each side,
    quasi-Poisson inference: the variance is scaled by the dispersion the areas show).

    Counts the incidents of ``state``'s categories, source, victim sex and age (all incidents
    without a state); its period and district do not apply (:func:`intervention_unapplied_filters`).
    Columns: id, name, started_on, ended_on, area_codes (comma-separated), months_before,
    months_after, rr (ratio of ratios), rr_low, rr_high (95% CI), effect_pct, p_value,
    significant, verdict (``drop``, ``no_change``, ``rise``, ``insufficient`` data, or
    ``withheld`` when a count behind the ratio is below the role's suppression threshold),
    dispersion (quasi-Poisson phi), inference (a sentence), n_comparison, comparison_areas and
    excluded_neighbours (comma-separated codes of the comparison group and of the buffer left out).

    For the public the evaluation reads the published area-month counts only (suppressed cells at
    ``maps.suppressed_value``) and is ``withheld`` when most of the treated areas' area-months (or
    of all area-months) are suppressed, or when the selection has a sensitive category.
    """
    return _intervention_results(_intervention_key(state), role)
