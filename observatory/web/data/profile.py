"""The neighbourhood profile: the chosen area against the city."""

from __future__ import annotations

import numpy as np
import pandas as pd

from observatory.web.cache import cached
from observatory.web.data.areas import (
    areas,
)
from observatory.web.data.recorded import (
    _city_categories,
    _city_monthly,
)
from observatory.web.data.reference import (
    to_filters,
)
from observatory.web.data.runtime import (
    _key,
    _shared,
    engine,
    version,
)
from observatory.web.data.surveys import (
    latest_wave,
    survey_persons,
)
from observatory.web.state import ViewState, replace_state

# --- neighbourhood profile -----------------------------------------------------------------------


def area_row(state: ViewState) -> pd.Series | None:
    """The primary-layer area chosen in ``state.area`` (id or code), or None."""
    if not state.area:
        return None
    gdf = areas()
    if gdf.empty:
        return None
    key = str(state.area)
    if key.isascii() and key.isdigit() and str(int(key)) == key and pd.api.types.is_integer_dtype(gdf["id"]):
        hit = np.flatnonzero(gdf["id"].to_numpy() == int(key))  # the text comparison below, without 2,000 str()
    else:
        hit = np.flatnonzero((gdf["id"].astype(str) == key).to_numpy())
    if not hit.size:
        hit = np.flatnonzero((gdf["code"].astype(str) == key).to_numpy())
    # One row by position: filtering the GeoDataFrame first would copy every matching geometry.
    return gdf.iloc[int(hit[0])] if hit.size else None


def area_options() -> list[dict]:
    """Dropdown options of the primary areas (value = id, label = name · code)."""
    gdf = areas()
    if gdf.empty:
        return []
    frame = gdf[["id", "code", "name"]].sort_values("name")
    return [{"label": f"{n} · {c}", "value": str(i)} for i, c, n in frame.itertuples(index=False)]


def _city_json(state_json: dict) -> dict:
    """The view's filters for the city line of the profile: no district and no area (the city)."""
    return {k: v for k, v in state_json.items() if k not in ("area", "district")} | {"district": None}


def _city_total(state_json: dict, role: str) -> int | None:
    """``queries.total`` of the city's filters, once per callback: the overview's total without a
    district (there it comes with the area totals, ``queries.area_counts``, whose third element is this
    very figure). Asked directly, it does not need the city's per-area table when a district is chosen."""
    from observatory import queries

    return _shared("total", state_json, role, lambda: queries.total(
        engine(), to_filters(ViewState.from_dict(state_json)), role))


@cached(version)
def _city_headline(state_json: dict, role: str) -> dict:
    from observatory.indicators.scope import scope_rate

    total = _city_total(state_json, role)
    rate = scope_rate(total, areas())
    return {"total": total, "rate": None if pd.isna(rate) else rate}


def city_headline(state: ViewState, role: str = "public") -> dict:
    """The city's total and rate per 100k for the view's filters without district or area: the
    profile's "city" line, equal to the overview's figures without a district filter (unassigned
    incidents count in the city, ``indicators.scope``; the role's published total, never a sum of
    area counts, some of which may be suppressed)."""
    return _city_headline(_city_json(_key(state)), role)


@cached(version)
def _area_monthly(state_json: dict, role: str) -> pd.DataFrame:
    from observatory import queries
    from observatory.indicators.rates import rate_per_100k
    from observatory.indicators.scope import scope_population

    state = ViewState.from_dict(state_json)
    row = area_row(state)
    if row is None:
        return pd.DataFrame(columns=["month", "area_count", "area_rate", "city_count", "city_rate"])
    city = _city_monthly(_city_json(state_json), role)
    # The area's own incidents, whatever district is chosen on the page: the area fixes the geography.
    local = queries.counts_by_month(engine(), to_filters(replace_state(state, district=None), (str(row["code"]),)),
                                    role)[["month", "count"]]
    out = city.rename(columns={"count": "city_count"}).merge(
        local.rename(columns={"count": "area_count"}), on="month", how="left")
    out["area_rate"] = rate_per_100k(out["area_count"], row["population"])
    out["city_rate"] = rate_per_100k(out["city_count"], scope_population(areas()))
    return out[["month", "area_count", "area_rate", "city_count", "city_rate"]]


def area_monthly(state: ViewState, role: str = "public") -> pd.DataFrame:
    """Monthly counts and rates per 100k of the chosen area and of the city (area NA = suppressed)."""
    return _area_monthly(_key(state) | {"area": state.area}, role)


@cached(version)
def _area_categories(state_json: dict, role: str) -> pd.DataFrame:
    from observatory import queries
    from observatory.indicators.scope import shares

    state = ViewState.from_dict(state_json)
    row = area_row(state)
    if row is None:
        return pd.DataFrame(columns=["code", "name_es", "name_en", "area_count", "area_share", "city_share"])
    city_json = _city_json(state_json)
    city = _city_categories(city_json, role)
    area_filters = to_filters(replace_state(state, district=None), (str(row["code"]),))
    local = queries.counts_by_category(engine(), area_filters, role)
    out = city[["code", "name_es", "name_en", "count"]].rename(columns={"count": "city_count"}).merge(
        local[["code", "count"]].rename(columns={"count": "area_count"}), on="code", how="left")
    # Shares of each scope's published total (None when the area's total is itself suppressed).
    out["city_share"] = shares(out["city_count"], _city_total(city_json, role))
    out["area_share"] = shares(out["area_count"], queries.total(engine(), area_filters, role))
    out = out[(out["city_count"].fillna(0) > 0) | (out["area_count"].fillna(0) > 0)]
    return out[["code", "name_es", "name_en", "area_count", "area_share", "city_share"]].reset_index(drop=True)


def area_categories(state: ViewState, role: str = "public") -> pd.DataFrame:
    """Category mix of the chosen area against the city's (shares of each total)."""
    return _area_categories(_key(state) | {"area": state.area}, role)


def area_fear(state: ViewState) -> dict:
    """High-fear share of the chosen area and of the city (newest wave) with the area's reliability."""
    persons = latest_wave(survey_persons(state.district))
    row = area_row(state)
    if persons.empty or row is None or "area" not in persons:
        return {}
    from observatory.indicators import fear

    city = fear.fear_index(persons)
    local = fear.fear_index(persons[persons["area"].astype(str) == str(row["code"])]) if (
        persons["area"].astype(str) == str(row["code"])).any() else pd.DataFrame()
    high_city = city[city["fear_level"] == "high"]
    high_area = local[local["fear_level"] == "high"] if not local.empty else local
    return {
        "city": float(high_city["estimate"].iloc[0]) if len(high_city) else None,
        "area": float(high_area["estimate"].iloc[0]) if len(high_area) else None,
        "unreliable": bool(high_area["unreliable"].iloc[0]) if len(high_area) else True,
    }
