"""Survey figures: fear index, victimisation and perception indicators, recorded vs survey,
and the perception map's level."""

from __future__ import annotations

import pandas as pd

from observatory.vocabulary import FEAR_LEVELS
from observatory.web.cache import cached
from observatory.web.data.maps import (
    area_stats,
)
from observatory.web.data.runtime import (
    engine,
    version,
)
from observatory.web.state import ViewState

# --- surveys -------------------------------------------------------------------------------------


@cached(version)
def survey_persons(district: str | None = None) -> pd.DataFrame:
    """Person-level survey responses of every wave (items as columns), optionally one district.

    Adds ``wave`` (wave name) and ``area`` (neighbourhood code) columns when available.
    """
    from observatory import queries

    waves = queries.survey_waves(engine())
    if waves.empty:
        return pd.DataFrame()
    frame = queries.survey_responses(engine(), unit="person")
    if frame.empty:
        return frame
    if "wave" not in frame.columns:
        for name in ("wave_name", "wave_id"):
            if name in frame.columns:
                frame = frame.rename(columns={name: "wave"})
                break
    for name in ("neighbourhood_code", "neighbourhood", "code", "area_code"):
        if name in frame.columns:
            frame = frame.assign(area=frame[name])
            break
    if district and "district" in frame.columns:
        frame = frame[frame["district"] == district]
    return frame.reset_index(drop=True)


def wave_order() -> list[str]:
    """Wave names oldest first."""
    from observatory import queries

    waves = queries.survey_waves(engine())
    if waves.empty:
        return []
    sort_col = "period_start" if "period_start" in waves else "name"
    return [str(w) for w in waves.sort_values([sort_col, "name"])["name"]]


def latest_wave(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the newest wave present in ``frame``."""
    if frame.empty or "wave" not in frame:
        return frame
    order = [w for w in wave_order() if w in set(frame["wave"].astype(str))] or sorted(frame["wave"].astype(str))
    return frame[frame["wave"].astype(str) == order[-1]]


def survey_headline(state: ViewState) -> dict:
    """Newest wave's share in high fear and victimisation (None without a survey)."""
    from observatory.indicators import fear, survey

    persons = latest_wave(survey_persons(state.district))
    if persons.empty:
        return {"fear_high": None, "victimisation": None, "survey_wave": None}
    fi = fear.fear_index(persons)
    high = fi[fi["fear_level"] == "high"]["estimate"]
    vict = survey.victimisation_prevalence(persons)["estimate"] if "victim_any" in persons else pd.Series([])
    return {
        "fear_high": float(high.iloc[0]) if len(high) else None,
        "victimisation": float(vict.iloc[0]) if len(vict) else None,
        "survey_wave": str(persons["wave"].iloc[0]) if "wave" in persons else None,
    }


def fear_levels(state: ViewState, by: str | None) -> pd.DataFrame:
    """Fear index shares (low/medium/high, 95% CI) of the newest wave, overall or by ``by``;
    ``by="wave"`` compares the waves."""
    from observatory.indicators import fear

    persons = survey_persons(state.district)
    if persons.empty:
        return pd.DataFrame()
    if by != "wave":
        persons = latest_wave(persons)
    if by and by not in persons:
        return pd.DataFrame()
    return fear.fear_index(persons, by=by)


def fear_shares(state: ViewState, by: str) -> pd.DataFrame:
    """Wide table: group, low, medium, high shares (from :func:`fear_levels`)."""
    long = fear_levels(state, by)
    if long.empty:
        return pd.DataFrame(columns=["group", "low", "medium", "high"])
    wide = long.pivot_table(index=by, columns="fear_level", values="estimate", aggfunc="first").reset_index()
    wide = wide.rename(columns={by: "group"})
    for level in FEAR_LEVELS:
        if level not in wide:
            wide[level] = 0.0
    if by == "wave":
        order = {w: i for i, w in enumerate(wave_order())}
        wide = wide.sort_values("group", key=lambda s: s.astype(str).map(order))
    wide["group"] = wide["group"].astype(str)
    return wide[["group", "low", "medium", "high"]].reset_index(drop=True)


SURVEY_INDICATORS: tuple[str, ...] = (
    "victimisation", "unsafe_city", "unsafe_neighbourhood", "crime_rising", "reporting", "dark_figure",
    "trust_police", "trust_municipality",
)


def survey_indicators(state: ViewState) -> pd.DataFrame:
    """Per wave and indicator: estimate, ci_low, ci_high, n, n_eff, unreliable (indicators.survey)."""
    from observatory.indicators import survey

    persons = survey_persons(state.district)
    if persons.empty:
        return pd.DataFrame()
    makers = {
        "victimisation": lambda f: survey.victimisation_prevalence(f, by="wave"),
        "unsafe_city": lambda f: survey.insecurity_perception(f, "city", by="wave"),
        "unsafe_neighbourhood": lambda f: survey.insecurity_perception(f, "neighbourhood", by="wave"),
        "crime_rising": lambda f: survey.crime_rising_perception(f, by="wave"),
        "reporting": lambda f: survey.reporting_rate(f[f.get("victim_any", 0) == 1], by="wave"),
        "dark_figure": lambda f: survey.dark_figure(f[f.get("victim_any", 0) == 1], "dane", by="wave"),
        "trust_police": lambda f: survey.trust(f, "police", by="wave"),
        "trust_municipality": lambda f: survey.trust(f, "municipality", by="wave"),
    }
    parts = []
    for name, make in makers.items():
        try:
            part = make(persons)
        except KeyError:  # the survey did not ask this item
            continue
        parts.append(part.assign(indicator=name))
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    cols = ["indicator", "wave", "estimate", "ci_low", "ci_high", "n", "n_eff", "unreliable"]
    return out[cols]


def recorded_vs_survey(state: ViewState, role: str = "public") -> pd.DataFrame:
    """Per neighbourhood of the newest wave: recorded rate per 100k and survey victimisation (CI)."""
    from observatory.indicators import survey

    persons = latest_wave(survey_persons(state.district))
    if persons.empty or "area" not in persons or "victim_any" not in persons:
        return pd.DataFrame()
    vict = survey.victimisation_prevalence(persons, by="area")
    stats = area_stats(state, role)[["code", "name", "rate"]]
    out = stats.merge(vict, left_on="code", right_on="area", how="inner")
    return out[["code", "name", "rate", "estimate", "ci_low", "ci_high", "n", "unreliable"]]


# --- perception map ------------------------------------------------------------------------------

UNRELIABLE_MAJORITY = 0.5  # above this share of unreliable neighbourhood estimates the map goes by district


def fear_map_levels(state: ViewState) -> tuple[pd.DataFrame, str]:
    """High-fear share (newest wave) per neighbourhood, or per district when most neighbourhood
    estimates are unreliable (too few respondents): returns (frame, level) with level "area" or
    "district" and frame columns group, estimate, ci_low, ci_high, n, unreliable."""
    cols = ["group", "estimate", "ci_low", "ci_high", "n", "unreliable"]
    by_area = fear_levels(state, "area")
    if by_area.empty:
        return pd.DataFrame(columns=cols), "area"
    high = by_area[by_area["fear_level"] == "high"].rename(columns={"area": "group"})
    level = "area"
    if high["unreliable"].fillna(True).astype(bool).mean() > UNRELIABLE_MAJORITY:
        by_district = fear_levels(state, "district")
        if not by_district.empty:
            high = by_district[by_district["fear_level"] == "high"].rename(columns={"district": "group"})
            level = "district"
    high = high.assign(group=high["group"].astype(str))
    return high.reindex(columns=cols).reset_index(drop=True), level
