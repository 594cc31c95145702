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


UNITS = ("person", "household", "event")


@cached(version)
def survey_rows(unit: str = "person", district: str | None = None, sex: str | None = None,
                age: str | None = None) -> pd.DataFrame:
    """Survey rows of one unit (every wave, the observatory's territory only), items as columns.

    ``district`` keeps one district; ``sex`` / ``age`` keep the respondents of that sex / age
    band (rows without the field are then left out: a survey that does not record it shows
    nothing for that filter, and :func:`filters_applied` says so). Adds ``area`` (the
    neighbourhood code).
    """
    from observatory import queries

    frame = queries.survey_responses(engine(), unit=unit)
    if frame.empty:
        return frame
    frame = frame.assign(area=frame["neighbourhood"])
    if district:
        frame = frame[frame["district"] == district]
    if sex:
        frame = frame[frame["sex"] == sex]
    if age:
        frame = frame[frame["age_group"] == age]
    return frame.reset_index(drop=True)


def survey_persons(district: str | None = None, sex: str | None = None, age: str | None = None) -> pd.DataFrame:
    """Person-level survey rows (see :func:`survey_rows`)."""
    return survey_rows("person", district, sex, age)


def _rows(state: ViewState, unit: str) -> pd.DataFrame:
    return survey_rows(unit, state.district, state.sex, state.age)


def filters_applied(state: ViewState) -> dict[str, bool]:
    """Per unit: whether the sex / age filters could be applied (the rows record the respondent's
    sex and age). False means the panel shows every respondent and must say so."""
    chosen = [c for c, v in (("sex", state.sex), ("age_group", state.age)) if v]
    out = {}
    for unit in UNITS:
        rows = survey_rows(unit, state.district)
        # A unit with no rows has nothing to filter: it must not make the page say "filter not applied".
        out[unit] = not chosen or rows.empty or all(rows[c].notna().any() for c in chosen)
    return out


def _filtered(state: ViewState, unit: str) -> pd.DataFrame:
    """Rows of ``unit`` with the sex / age filters when the unit records them, else all rows."""
    if filters_applied(state)[unit]:
        return _rows(state, unit)
    return survey_rows(unit, state.district)


def wave_levels(state: ViewState) -> dict[str, str]:
    """Each wave's geographic level: the territory level its import kept (city, state), "city" for a
    city's own survey (a profile without a territory column), or "survey" when a survey covering
    several territories was loaded whole (the figure is not the observatory's own)."""
    from observatory import queries

    levels: dict[str, str] = {}
    for unit in UNITS:
        rows = survey_rows(unit, state.district)
        if rows.empty:
            continue
        facts = queries.survey_profile_facts(rows["profile"].dropna().unique().tolist())
        for wave, part in rows.groupby("wave"):
            fact = facts.get(part["profile"].iloc[0], {})
            marked = "in_territory" in part and part["in_territory"].notna().all()
            # A city's own survey (no territory column) is the city's; a wider one only once limited to it.
            own = marked or not fact.get("territory_column", False)
            level = fact.get("territory_level", "city") if own else "survey"
            levels.setdefault(str(wave), "district" if state.district else level)
    return levels


@cached(version)
def _figures(district: str | None, sex: str | None, age: str | None) -> pd.DataFrame:
    from observatory import queries
    from observatory.indicators import survey_figures

    state = ViewState(district=district, sex=sex, age=age)
    persons, households, events = (_filtered(state, u) for u in UNITS)
    profiles = pd.concat([f.get("profile", pd.Series(dtype=object)) for f in (persons, households, events)])
    facts = queries.survey_profile_facts(profiles.dropna().unique().tolist())
    definitions = {name: fact["definition"] for name, fact in facts.items()}
    out = survey_figures.wave_figures(persons, households, events, definitions)
    levels = wave_levels(state)
    return out.assign(level=out["wave"].astype(str).map(levels).fillna("survey"))


def survey_figures(state: ViewState) -> pd.DataFrame:
    """Every survey figure of every loaded wave (``indicators.survey_figures.wave_figures``) with
    its ``level`` (city, state, district or "survey"), for the viewer's district, sex and age."""
    return _figures(state.district, state.sex, state.age)


def survey_changes(state: ViewState) -> pd.DataFrame:
    """Change of each indicator from the previous wave to the newest, with its significance."""
    from observatory.indicators import survey_figures as sf

    return sf.changes(survey_figures(state), wave_series())


def wave_series() -> list[list[str]]:
    """The waves of each survey (by the profile family that created the wave), oldest first."""
    from observatory import queries

    waves = queries.survey_waves(engine())
    if waves.empty:
        return []
    waves = waves.sort_values(["period_start", "name"], na_position="first")
    family = waves["name"].astype(str).str.replace(r"[\s\d]+(Q\d)?$", "", regex=True)
    return [group["name"].astype(str).tolist() for _, group in waves.groupby(family, sort=True)]


def has_neighbourhood_level() -> bool:
    """Whether any loaded survey row is placed in a neighbourhood (ENSU is city-level only)."""
    return any(not (rows := survey_rows(u)).empty and rows["neighbourhood_id"].notna().any() for u in UNITS)


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


def _headline_figure(prefix: str, row: pd.Series | None) -> dict:
    """``prefix`` figure with its interval, n, reliability and method (None values when absent)."""
    keys = ("estimate", "ci_low", "ci_high", "n", "unreliable", "method")
    if row is None or int(row["n"]) == 0:  # no data: never "unreliable" next to it
        return {prefix: None} | {f"{prefix}_{k}": None for k in keys[1:]}
    values = {k: row[k] for k in keys}
    return {prefix: float(values["estimate"]), f"{prefix}_ci_low": float(values["ci_low"]),
            f"{prefix}_ci_high": float(values["ci_high"]), f"{prefix}_n": int(values["n"]),
            f"{prefix}_unreliable": bool(values["unreliable"]), f"{prefix}_method": str(values["method"])}


def survey_headline(state: ViewState) -> dict:
    """Newest wave's share in high fear and victimisation, each with its 95% interval, n,
    reliability flag and variance method (None without a survey), the wave and its level."""
    from observatory.indicators import fear, survey

    persons = latest_wave(_filtered(state, "person"))
    if persons.empty:
        return {**_headline_figure("fear_high", None), **_headline_figure("victimisation", None),
                "survey_wave": None, "survey_level": None}
    design = survey.design_columns(persons)
    fi = fear.fear_index(persons, **design)
    high = fi[fi["fear_level"] == "high"]
    vict = survey.victimisation_prevalence(persons, **design) if "victim_any" in persons else pd.DataFrame()
    wave = str(persons["wave"].iloc[0])
    return {**_headline_figure("fear_high", high.iloc[0] if len(high) else None),
            **_headline_figure("victimisation", vict.iloc[0] if len(vict) else None),
            "survey_wave": wave, "survey_level": wave_levels(state).get(wave)}


def fear_levels(state: ViewState, by: str | None) -> pd.DataFrame:
    """Fear index shares (low/medium/high, 95% CI, design-based when the rows carry the design) of
    the newest wave, overall or by ``by``; ``by="wave"`` compares the waves. Groups with no
    answer are left out (no data is not "unreliable"). Adds ``wave`` and ``level``."""
    from observatory.indicators import fear, survey

    persons = _filtered(state, "person")
    if persons.empty:
        return pd.DataFrame()
    if by != "wave":
        persons = latest_wave(persons)
    if by and by not in persons:
        return pd.DataFrame()
    out = fear.fear_index(persons, by=by, **survey.design_columns(persons))
    out = out[out["n"] > 0]
    if by != "wave":
        out = out.assign(wave=str(persons["wave"].iloc[0]))
    levels = wave_levels(state)
    level = {"area": "neighbourhood", "district": "district"}.get(by or "")
    return out.assign(level=level or out["wave"].astype(str).map(levels)).reset_index(drop=True)


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


def survey_indicators(state: ViewState) -> pd.DataFrame:
    """Per wave, the overall figures (every crime type together) of :func:`survey_figures`:
    indicator, wave, level, unit, definition, estimate, ci_low, ci_high, n, unreliable, method.
    Totals (crimes, incidence) are left out: the page draws shares."""
    figures = survey_figures(state)
    if figures.empty:
        return pd.DataFrame()
    shares = figures[(figures["crime_type"] == "all") & ~figures["indicator"].isin(["crimes", "incidence"])]
    cols = ["indicator", "wave", "level", "unit", "definition", "estimate", "ci_low", "ci_high", "se", "n",
            "unreliable", "method"]
    return shares[cols].reset_index(drop=True)


def _wave_period(wave: str) -> tuple | None:
    from observatory import queries

    waves = queries.survey_waves(engine())
    row = waves[waves["name"].astype(str) == wave]
    return None if row.empty else (row["period_start"].iloc[0], row["period_end"].iloc[0])


def _area_perception(persons: pd.DataFrame) -> pd.DataFrame:
    """Per area: feels unsafe in the neighbourhood when asked, else the high-fear share."""
    from observatory.indicators import fear, survey

    design = survey.design_columns(persons)
    if "unsafe_neighbourhood" in persons and persons["unsafe_neighbourhood"].notna().any():
        return survey.insecurity_perception(persons, "neighbourhood", by="area", **design)
    high = fear.fear_index(persons, by="area", **design)
    return high[high["fear_level"] == "high"]


def recorded_vs_survey(state: ViewState, role: str = "public") -> pd.DataFrame:
    """Per neighbourhood of the newest wave, on one period basis (``side_by_side.perception_vs_recorded``):
    recorded rate per 100k annualised (the role's published counts), survey victimisation (CI),
    perception, the survey-to-recorded ratio with its interval, the period mismatch flag; sorted by
    where people fear much more than is recorded. Empty without neighbourhood-level survey rows."""
    from observatory.indicators import side_by_side, survey
    from observatory.web.data.recorded import monthly

    persons = latest_wave(_filtered(state, "person"))
    if persons.empty or "victim_any" not in persons or persons["area"].isna().all():
        return pd.DataFrame()
    series = monthly(state, role)
    if series.empty:
        return pd.DataFrame()
    months = pd.to_datetime(series["month"])
    recorded_period = (months.min(), months.max() + pd.offsets.MonthEnd(0))
    vict = survey.victimisation_prevalence(persons, by="area", **survey.design_columns(persons))
    vict = vict.rename(columns={"area": "code"})
    perception = _area_perception(persons).rename(columns={"area": "code"})
    stats = area_stats(state, role)[["code", "name", "population", "count"]]
    wave = str(persons["wave"].iloc[0])
    out = side_by_side.perception_vs_recorded(stats, vict, perception, recorded_period=recorded_period,
                                              survey_period=_wave_period(wave))
    out = out[out["code"].isin(set(vict["code"]))]
    return out.assign(wave=wave, level="neighbourhood", n=out["code"].map(vict.set_index("code")["n"]))


def _gender_totals(state: ViewState, role: str) -> pd.DataFrame:
    """City totals of each sexual / domestic violence category (category, count; NA = withheld),
    one published query per category: a single category is on the public grid, so for the public
    each total is the perturbed city x quarter figure (None below k), never a false zero from a
    finer table that leaves the sensitive categories out."""
    from observatory import queries
    from observatory.indicators.gender import GENDER_CATEGORIES
    from observatory.web.data.reference import to_filters

    base = to_filters(state)
    rows = [{"category": code,
             "count": queries.total(engine(), base.replace(categories=(code,), sections=()), role)}
            for code in GENDER_CATEGORIES]
    frame = pd.DataFrame(rows, columns=["category", "count"])
    frame["count"] = frame["count"].astype("Int64")
    return frame


def gender_lens(state: ViewState, role: str = "public") -> dict[str, pd.DataFrame]:
    """Violence against women from both sources (``indicators.gender``): ``recorded`` sexual and
    domestic violence counts and rates (the role's published category x month counts: never
    points) and ``survey`` victimisation and high fear of women vs men (newest wave with sex,
    the sex filter left aside so both show), each with its wave and level."""
    from observatory.indicators import gender
    from observatory.web.data.areas import areas

    population = float(areas()["population"].sum()) if len(areas()) else float("nan")
    recorded = gender.recorded_gender_violence(_gender_totals(state, role), population)
    persons = survey_rows("person", state.district, None, state.age)
    if not persons.empty:
        persons = latest_wave(persons[persons["sex"].isin(["F", "M"])])
    by_sex = gender.survey_by_sex(persons)
    if not by_sex.empty:
        wave = str(persons["wave"].iloc[0])
        by_sex = by_sex.assign(wave=wave, level=wave_levels(state).get(wave, "survey"))
    return {"recorded": recorded, "survey": by_sex}


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
