"""Recorded crime series and tables: monthly series, hour x weekday, categories, CompStat,
risers and the overview's key figures."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from observatory.web.cache import cached
from observatory.web.data.areas import (
    areas,
)
from observatory.web.data.maps import (
    _area_counts,
)
from observatory.web.data.reference import (
    categories,
    to_filters,
)
from observatory.web.data.runtime import (
    _SCOPE,
    _key,
    _shared,
    engine,
    version,
)
from observatory.web.data.surveys import (
    survey_headline,
)
from observatory.web.state import ViewState

# --- series and tables ---------------------------------------------------------------------------


@cached(version)
def _monthly(state_json: dict, role: str) -> pd.DataFrame:
    from observatory.indicators.timeseries import monthly_series

    series = _city_monthly(state_json, role)
    if series.empty:
        return series
    start, end = _covered(ViewState.from_dict(state_json))
    # Suppressed months (NA) become NaN: unknown, not zero.
    return monthly_series(series.assign(count=pd.to_numeric(series["count"]).astype("float64")),
                          data_start=start, data_end=end)


def _covered(state: ViewState) -> tuple[dt.date | None, dt.date | None]:
    """First and last day the view's counts cover: the data's bounds cut by the chosen period (a
    month the data or the period covers only in part is a partial month)."""
    from observatory import queries

    bounds = queries.date_bounds(engine())
    low, high = bounds if isinstance(bounds, tuple) else (None, None)
    chosen = [dt.date.fromisoformat(d) if d else None for d in (state.date_from, state.date_to)]
    start = max(d for d in (low, chosen[0]) if d is not None) if (low or chosen[0]) else None
    end = min(d for d in (high, chosen[1]) if d is not None) if (high or chosen[1]) else None
    return start, end


def monthly(state: ViewState, role: str = "public") -> pd.DataFrame:
    """Monthly series (``indicators.timeseries.monthly_series``): month, count, ma3, ma12,
    previous_year, expected, lower, upper (95% band of a Poisson model with trend and calendar
    months), flag ("above"/"below"/"", never on a partial month), partial (a month the data or the
    chosen period cover only in part)."""
    return _monthly(_key(state), role)


@cached(version)
def _hour_weekday(state_json: dict, role: str) -> pd.DataFrame:
    from observatory import queries

    frame = queries.counts_by_hour_weekday(engine(), to_filters(ViewState.from_dict(state_json)), role)
    frame = frame.dropna(subset=["hour"])
    return frame.astype({"hour": "int64"})[["weekday", "hour", "count"]]


def hour_weekday(state: ViewState, role: str = "public") -> pd.DataFrame:
    """Counts by weekday (0 = Monday) and hour (0-23), incidents with a known time."""
    return _hour_weekday(_key(state), role)


def _city_category_month(state_json: dict, role: str) -> pd.DataFrame:
    """``queries.counts_by_month(..., by_category=True)`` of the view's filters (no area
    selection), shared within a :func:`shared_scope`: the monthly series, the category
    breakdown and the profile's city figures are all sums of it."""
    from observatory import queries

    state_json = {k: v for k, v in state_json.items() if k != "area"}
    return _shared("category_month", state_json, role, lambda: queries.counts_by_month(
        engine(), to_filters(ViewState.from_dict(state_json)), role, by_category=True))


def _city_monthly(state_json: dict, role: str) -> pd.DataFrame:
    """Monthly counts (month, count) of the view's filters: ``queries.counts_by_month`` summed
    from :func:`_city_category_month` (no area selection, so no cell is suppressed)."""
    from observatory import queries

    if not queries.is_restricted(role):
        # The public series is the published monthly counts themselves, not a sum of perturbed
        # category cells (which would be a different, noisier figure than the query's).
        state = ViewState.from_dict({k: v for k, v in state_json.items() if k != "area"})
        return _shared("monthly", state_json, role, lambda: queries.counts_by_month(
            engine(), to_filters(state), role)[["month", "count"]])
    by_category = _city_category_month(state_json, role)
    if by_category.empty:  # no incident: the query still lists the months of the range
        state = ViewState.from_dict({k: v for k, v in state_json.items() if k != "area"})
        return queries.counts_by_month(engine(), to_filters(state), role)[["month", "count"]]
    out = by_category.groupby("month", as_index=False, sort=True)["count"].sum()
    out["count"] = out["count"].astype("Int64")
    return out[["month", "count"]]


def _city_categories(state_json: dict, role: str) -> pd.DataFrame:
    """Counts per category (code, name_es, name_en, count; every category, sorted by count
    then code) like ``queries.counts_by_category``, summed from :func:`_city_category_month`
    (for the public, the published ``queries.counts_by_category`` itself)."""
    from observatory import queries

    if not queries.is_restricted(role):
        state = ViewState.from_dict({k: v for k, v in state_json.items() if k != "area"})
        return queries.counts_by_category(engine(), to_filters(state), role)[["code", "name_es", "name_en", "count"]]
    sums = _city_category_month(state_json, role).groupby("category")["count"].sum()
    out = categories()[["code", "name_es", "name_en"]].copy()
    out["count"] = out["code"].map(sums).fillna(0).astype("int64").astype("Int64")
    return out.sort_values(["count", "code"], ascending=[False, True]).reset_index(drop=True)


@cached(version)
def _category_month(state_json: dict, role: str) -> pd.DataFrame:
    return _city_category_month(state_json, role)[["month", "category", "count"]]


def category_month(state: ViewState, role: str = "public") -> pd.DataFrame:
    """Counts by month and category code."""
    return _category_month(_key(state), role)


@cached(version)
def _compstat(state_json: dict, role: str) -> pd.DataFrame:
    from observatory import queries
    from observatory.indicators.compstat import compstat as compstat_table
    from observatory.web.state import replace_state

    state = ViewState.from_dict(state_json)
    as_of = _as_of(state)
    if as_of is None:
        return pd.DataFrame()
    if not queries.is_restricted(role):
        return _public_compstat(state, as_of, role)
    # Only the days of the CompStat periods and their year-ago twins are read, not two years.
    parts = [queries.counts_by_day(engine(), to_filters(replace_state(state, date_from=start.isoformat(),
                                                                      date_to=end.isoformat())),
                                   role, by_category=False) for start, end in compstat_windows(as_of)]
    days = pd.concat(parts, ignore_index=True) if any(len(p) for p in parts) else parts[0]
    if days.empty:
        # No incident in the periods: a table of zeros if the two years hold any, else nothing.
        days = queries.counts_by_day(engine(), to_filters(replace_dates(state, years_back=2)), role,
                                     by_category=False)
        if days.empty:
            return pd.DataFrame()
    table = compstat_table(days.assign(category="total"), as_of, total=False)
    return table.drop(columns=["category"])


def _public_compstat(state: ViewState, as_of: dt.date, role: str) -> pd.DataFrame:
    """CompStat for the public, on the public grid: the calendar period holding ``as_of`` (a month,
    or the coarser period the access layer publishes the selection at) and the year to its end,
    each against a year before. Every current and previous count is ONE published cell
    (``queries.total`` of that window for the role, NA when suppressed), never a sum of day
    counts; start and end are the window the access layer published (``access.release``);
    changes and tests are computed from those published counts (NA when one is NA). The week and
    28-day periods are finer than the public grid: analysts only."""
    from observatory import queries
    from observatory.indicators.compstat import change_test, percent_change
    from observatory.queries import access

    cats = categories()
    base = to_filters(state)

    def published(start: dt.date, end: dt.date) -> tuple[int | None, dt.date, dt.date, str | None]:
        window = base.replace(start=start, end=end)
        rel = access.release(window, role, access.selection_level(window), "window", cats)
        return queries.total(engine(), window, role), rel.filters.start, rel.filters.end, rel.unit

    month = as_of.replace(day=1)
    year_ago = month.replace(year=month.year - 1)
    rows, seen = [], set()
    for name, start, prev_start in (("period", month, year_ago), ("ytd", month.replace(month=1),
                                                                   year_ago.replace(month=1))):
        current, start, end, unit = published(start, as_of)
        previous, prev_start, prev_end, _ = published(prev_start, year_ago)
        if (start, end) in seen:  # the year so far is the period itself (e.g. in January)
            continue
        seen.add((start, end))
        t1, t0 = (end - start).days + 1, (prev_end - prev_start).days + 1
        known = current is not None and previous is not None
        p = change_test(current, previous, t1, t0) if known else float("nan")
        significant = bool(known and p < 0.05)
        rising = known and current * t0 > previous * t1
        rows.append({"period": (unit or "month") if name == "period" else name, "start": start, "end": end,
                     "prev_start": prev_start, "prev_end": prev_end, "current": current, "previous": previous,
                     "change": current - previous if known else None,
                     "pct_change": percent_change(current, previous) if known else float("nan"),
                     "p_value": p, "significant": significant,
                     "direction": ("up" if rising else "down") if significant else "none"})
    out = pd.DataFrame(rows)
    for col in ("current", "previous", "change"):
        out[col] = out[col].astype("Int64")
    return out.astype({"pct_change": "float64", "p_value": "float64"})


def compstat(state: ViewState, role: str = "public") -> pd.DataFrame:
    """CompStat periods (week, last 28 days, year to date) against a year before, for the
    selection (``indicators.compstat``): period, start, end, prev_start, prev_end, current,
    previous, change, pct_change, p_value, significant, direction. For the public the periods
    are on the public grid (the month, or coarser period, and the year to date) and every count
    is a published cell (:func:`_public_compstat`)."""
    return _compstat(_key(state), role)


def compstat_windows(as_of: dt.date) -> list[tuple[dt.date, dt.date]]:
    """Inclusive date ranges covering every CompStat period ending ``as_of`` and its year-ago
    twin: [previous, current] when they are apart, one range when they touch or overlap."""
    from observatory.indicators.compstat import PERIODS, period_bounds

    bounds = [period_bounds(as_of, period) for period in PERIODS]
    current = (min(b[0][0] for b in bounds), max(b[0][1] for b in bounds))
    previous = (min(b[1][0] for b in bounds), max(b[1][1] for b in bounds))
    if previous[1] >= current[0] - dt.timedelta(days=1):
        return [(min(previous[0], current[0]), max(previous[1], current[1]))]
    return [previous, current]


def replace_dates(state: ViewState, years_back: int) -> ViewState:
    """``state`` widened back ``years_back`` years before its end so year-ago periods are included."""
    from observatory.web.state import replace_state

    if not state.date_to:
        return replace_state(state, date_from=None)
    end = dt.date.fromisoformat(state.date_to)
    return replace_state(state, date_from=end.replace(year=end.year - years_back, day=min(end.day, 28)).isoformat())


def _as_of(state: ViewState) -> dt.date | None:
    """The CompStat reference day: the end of the chosen period or the last day with data."""
    if state.date_to:
        return dt.date.fromisoformat(state.date_to)
    from observatory import queries

    bounds = queries.date_bounds(engine())
    return bounds[1] if isinstance(bounds, tuple) else None


RISER_PERIOD_DAYS = 365  # the last 12 months against the 12 before, as the plan's annual figures


def riser_periods(as_of: dt.date, role: str = "analyst") -> tuple[tuple[dt.date, dt.date], tuple[dt.date, dt.date]]:
    """((start, end), (prev_start, prev_end)) of the risers table (inclusive dates): for analysts the
    365 days ending ``as_of`` and the 365 days before them; for the public the last complete calendar
    year and the year before (periods of the public grid: two 365-day windows would each be widened
    to whole years and overlap)."""
    from observatory.queries.access import is_restricted

    if not is_restricted(role):
        year = as_of.year if (as_of.month, as_of.day) == (12, 31) else as_of.year - 1
        return (dt.date(year, 1, 1), dt.date(year, 12, 31)), (dt.date(year - 1, 1, 1), dt.date(year - 1, 12, 31))
    start = as_of - dt.timedelta(days=RISER_PERIOD_DAYS - 1)
    prev_end = start - dt.timedelta(days=1)
    return (start, as_of), (prev_end - dt.timedelta(days=RISER_PERIOD_DAYS - 1), prev_end)


@cached(version)
def _risers(state_json: dict, role: str, direction: str) -> pd.DataFrame:
    from observatory import queries
    from observatory.indicators.ranking import rank_changes
    from observatory.web.state import replace_state

    state = ViewState.from_dict(state_json)
    as_of = _as_of(state)
    if as_of is None:
        return pd.DataFrame()
    period, previous_period = riser_periods(as_of, role)
    cur, prev = (queries.counts_by_area(engine(), to_filters(replace_state(
        state, date_from=start.isoformat(), date_to=end.isoformat())), role)
        for start, end in (period, previous_period))
    both = cur[["code", "count"]].merge(prev[["code", "count"]], on="code", suffixes=("", "_prev"))
    # Suppressed (public, < k) counts cannot be ranked: such areas are left out, not guessed.
    known = set(both.dropna(subset=["count", "count_prev"])["code"])
    if not known:
        return pd.DataFrame()
    ranked = rank_changes(cur[cur["code"].isin(known)][["code", "name", "district", "population", "count"]],
                          prev[prev["code"].isin(known)][["code", "count"]], period=period,
                          previous_period=previous_period, direction=direction)
    # The list shows areas that moved in the chosen direction, in the ranking's order (evidence first).
    moved = ranked["rate_change"].fillna(ranked["change"].astype(float))
    ranked = ranked[moved > 0] if direction == "up" else ranked[moved < 0]
    return ranked.rename(columns={"count": "current"}).head(10).reset_index(drop=True)


def risers(state: ViewState, role: str = "public", direction: str = "up") -> pd.DataFrame:
    """The ten areas with the strongest evidence of a rise (``direction="up"``) or a fall (``"down"``)
    over the last 365 days against the 365 before (the public: the last complete calendar year against
    the year before, :func:`riser_periods`) (``indicators.ranking.rank_changes``: significant
    changes first, then by change of the rate per 100k). Columns: code, name, district, population,
    current, rate, previous, change, pct_change (per day), previous_rate, rate_change, p_value,
    significant, direction, rank, start, end, prev_start, prev_end (the periods, to state on screen)."""
    return _risers(_key(state), role, direction if direction in ("up", "down") else "up")


@cached(version)
def _total(state_json: dict, role: str) -> int | None:
    from observatory import queries

    if _SCOPE.get() is not None:
        # In a callback that also draws the map (the overview): the total comes with the area totals.
        return _area_counts(state_json, role)[2]
    return queries.total(engine(), to_filters(ViewState.from_dict(state_json)), role)


def kpis(state: ViewState, role: str = "public", cs: pd.DataFrame | None = None) -> dict:
    """Key figures: total, rate per 100k of the scope (the chosen district's residents, else the
    city's; ``indicators.scope``), change vs last year (per-day pct, p), high fear, victimisation.

    ``cs`` is the CompStat table when the caller already has it (the year-to-date row is used).
    """
    from observatory.indicators.scope import scope_rate

    total = _total(_key(state), role)
    # The rate of the chosen scope over ITS residents: a district's incidents over the district's
    # population; unassigned incidents count only in the city's (``indicators.scope``).
    rate = scope_rate(total, areas(), (state.district,) if state.district else ())
    cs = compstat(state, role) if cs is None else cs
    ytd = cs[cs["period"] == "ytd"] if not cs.empty else cs
    survey = survey_headline(state)
    return {
        "total": total,
        "rate": None if pd.isna(rate) else rate,
        "change_pct": float(ytd["pct_change"].iloc[0]) if len(ytd) else None,
        "change_p": float(ytd["p_value"].iloc[0]) if len(ytd) else None,
        **survey,
    }
