"""Every survey figure the dashboard publishes for the loaded waves, in one long table.

Pure functions (no I/O). Input: the stored microdata of one unit each (persons, households,
crime events; ``observatory.queries.survey_responses``) with a ``wave`` column, and the
reporting definition of each survey profile (``ReportingDefinition``, written in the profile).
Output: one row per wave, indicator and crime type with the estimate, its 95% interval, n, the
reliability flag and the variance ``method`` (design-based Taylor linearisation when every row
carries its stratum and PSU, else Kish-Wilson): see ``docs/indicators-survey.md``.

:func:`change_between` tests the change of an indicator between two waves (or quarters) with
the variances of both estimates (independent samples): ``z = (p2 - p1) / sqrt(se1^2 + se2^2)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from statistics import NormalDist

import numpy as np
import pandas as pd

from observatory.indicators import survey
from observatory.indicators.survey import DEFAULT_DEFINITION, ReportingDefinition
from observatory.indicators.survey_totals import weighted_total

FIGURE_COLUMNS = ["wave", "unit", "indicator", "crime_type", "definition", "estimate", "ci_low", "ci_high", "se",
                  "cv", "n", "unreliable", "method"]
PER = 100_000.0
ALL = "all"  # crime_type of a figure over every crime

PERSON_INDICATORS: dict[str, Callable[..., pd.DataFrame]] = {
    "victimisation": lambda f, **o: survey.victimisation_prevalence(f, **o),
    "revictimisation": lambda f, **o: survey.revictimisation(f, **o),
    "unsafe_city": lambda f, **o: survey.insecurity_perception(f, "city", **o),
    "unsafe_neighbourhood": lambda f, **o: survey.insecurity_perception(f, "neighbourhood", **o),
    "crime_rising": lambda f, **o: survey.crime_rising_perception(f, **o),
    "trust_police": lambda f, **o: survey.trust(f, "police", **o),
    "trust_municipality": lambda f, **o: survey.trust(f, "municipality", **o),
    # ENSU: "very" or "somewhat" effective municipal police.
    "police_effective": lambda f, **o: survey.indicator(f, "police_effective", [1, 2], **o),
}


def _crime_items(frame: pd.DataFrame) -> list[str]:
    return sorted(c for c in frame.columns if c.startswith("victim_") and c != "victim_any"
                  and frame[c].notna().any())


def _run(frame: pd.DataFrame, make: Callable[..., pd.DataFrame], **fixed: object) -> pd.DataFrame | None:
    """One indicator per wave with the design when every row has it; None when the item is absent."""
    parts = []
    for wave, rows in frame.groupby("wave", sort=False):
        try:
            result = make(rows, **survey.design_columns(rows))
        except KeyError:  # the survey did not ask this item
            continue
        result = result[result["n"] > 0]
        if len(result):
            parts.append(result.assign(wave=wave, **fixed))
    return pd.concat(parts, ignore_index=True) if parts else None


def person_figures(persons: pd.DataFrame) -> list[pd.DataFrame]:
    """Victimisation, revictimisation, prevalence per crime type, perception and trust of persons."""
    out = [_run(persons, make, unit="person", indicator=name, crime_type=ALL)
           for name, make in PERSON_INDICATORS.items()]
    for item in _crime_items(persons):
        out.append(_run(persons, lambda f, _i=item, **o: survey.indicator(f, _i, [1], **o),
                        unit="person", indicator="prevalence", crime_type=item.removeprefix("victim_")))
    return [p for p in out if p is not None]


def household_figures(households: pd.DataFrame) -> list[pd.DataFrame]:
    """Households victimised (any crime when asked, and per crime type)."""
    out = [_run(households, lambda f, **o: survey.indicator(f, "victim_any", [1], **o),
                unit="household", indicator="household_victimisation", crime_type=ALL)]
    for item in _crime_items(households):
        out.append(_run(households, lambda f, _i=item, **o: survey.indicator(f, _i, [1], **o),
                        unit="household", indicator="household_victimisation",
                        crime_type=item.removeprefix("victim_")))
    return [p for p in out if p is not None]


def _event_rows(events: pd.DataFrame, definition: ReportingDefinition, crime_type: str) -> list[pd.DataFrame]:
    fixed = {"unit": "event", "crime_type": crime_type, "definition": definition.name}
    makers: dict[str, Callable[..., pd.DataFrame]] = {
        "reporting": lambda f, **o: survey.reporting_rate(f, definition=definition, **o),
        "dark_figure": lambda f, **o: survey.dark_figure(f, definition, **o),
        "file_opened": lambda f, **o: survey.file_opened_rate(f, definition=definition, **o),
        "crimes": lambda f, **o: weighted_total(survey.reporting_universe(f, definition), **o),
    }
    return [p for p in (_run(events, make, indicator=name, **fixed) for name, make in makers.items())
            if p is not None]


def event_figures(events: pd.DataFrame, definitions: Mapping[str, ReportingDefinition]) -> list[pd.DataFrame]:
    """Crimes, reporting rate, file opened and dark figure, overall and per crime type, per definition.

    ``definitions`` maps a profile name (``events["profile"]``) to its definition; profiles not
    listed get the default (not reported to any authority).
    """
    if events.empty:
        return []
    profile = events["profile"] if "profile" in events.columns else pd.Series("", index=events.index)
    chosen = profile.map(lambda p: definitions.get(p, DEFAULT_DEFINITION))
    out: list[pd.DataFrame] = []
    for definition in dict.fromkeys(chosen):
        rows = events[chosen == definition]
        out += _event_rows(rows, definition, ALL)
        for crime in sorted(rows["crime_type"].dropna().unique()) if "crime_type" in rows else []:
            if crime not in definition.exclude_crime_types:
                out += _event_rows(rows[rows["crime_type"] == crime], definition, str(crime))
    return out


def incidence(figures: pd.DataFrame, persons: pd.DataFrame) -> pd.DataFrame:
    """Crimes per 100,000 persons of the wave (ENVIPE's incidence): the estimated crimes over the
    persons' weighted population, which the survey calibrates to the census (held fixed)."""
    crimes = figures[figures["indicator"] == "crimes"]
    if crimes.empty or persons.empty:
        return pd.DataFrame(columns=FIGURE_COLUMNS)
    population = persons.groupby("wave")["weight"].sum()
    scale = crimes["wave"].map(population) / PER
    out = crimes.assign(indicator="incidence")
    for col in ("estimate", "ci_low", "ci_high", "se"):
        out[col] = crimes[col] / scale
    return out[out["estimate"].notna()]


def wave_figures(persons: pd.DataFrame, households: pd.DataFrame, events: pd.DataFrame,
                 definitions: Mapping[str, ReportingDefinition] | None = None) -> pd.DataFrame:
    """Every published figure of every wave (see the module docstring): ``FIGURE_COLUMNS``."""
    parts = person_figures(persons) if not persons.empty else []
    parts += household_figures(households) if not households.empty else []
    parts += event_figures(events, definitions or {})
    if not parts:
        return pd.DataFrame(columns=FIGURE_COLUMNS)
    out = pd.concat(parts, ignore_index=True)
    out = pd.concat([out, incidence(out, persons)], ignore_index=True)
    out["definition"] = (out["definition"] if "definition" in out else pd.Series("", index=out.index)).fillna("")
    # A total is not a proportion: its reliability is its CV alone.
    totals = out["indicator"].isin(["crimes", "incidence"])
    out.loc[totals, "unreliable"] = (out.loc[totals, "cv"] > survey.MAX_CV) | (out.loc[totals, "n"] < survey.MIN_N)
    out["unreliable"] = out["unreliable"].astype(bool)
    return out.reindex(columns=FIGURE_COLUMNS)


def change_between(first: Mapping[str, float], second: Mapping[str, float], level: float = 0.95) -> dict:
    """Change of an estimate between two waves: difference, its interval, z, two-sided p, significant.

    ``first``/``second`` carry ``estimate`` and ``se`` (design-based when the waves have a
    design). The waves are independent samples, so the variance of the difference is the sum.
    """
    diff = float(second["estimate"]) - float(first["estimate"])
    se = float(np.hypot(float(first["se"]), float(second["se"])))
    z_crit = survey.z_value(level)
    if not np.isfinite(se) or se <= 0:
        return {"difference": diff, "ci_low": np.nan, "ci_high": np.nan, "z": np.nan, "p_value": np.nan,
                "significant": False}
    z = diff / se
    p_value = 2 * (1 - NormalDist().cdf(abs(z)))
    return {"difference": diff, "ci_low": diff - z_crit * se, "ci_high": diff + z_crit * se, "z": z,
            "p_value": p_value, "significant": bool(p_value < 1 - level)}


CHANGE_COLUMNS = ["indicator", "crime_type", "unit", "definition", "from_wave", "to_wave", "difference", "ci_low",
                  "ci_high", "z", "p_value", "significant", "points", "points_low", "points_high"]


def changes(figures: pd.DataFrame, series: list[list[str]]) -> pd.DataFrame:
    """Each indicator's change between the last two waves of each survey series (``change_between``).

    ``series``: the waves of each survey, oldest first (ENSU 2015 Q1..Q4; ENVIPE 2020, 2021):
    waves of different surveys are never compared. Totals (crimes, incidence) are left out.
    """
    keys = ["indicator", "crime_type", "unit", "definition"]
    rows = []
    for waves in series:
        present = [w for w in waves if w in set(figures["wave"])]
        if len(present) < 2:
            continue
        old, new = present[-2], present[-1]
        a = figures[figures["wave"] == old].drop_duplicates(keys).set_index(keys)
        b = figures[figures["wave"] == new].drop_duplicates(keys).set_index(keys)
        for key in a.index.intersection(b.index):
            if key[0] in ("crimes", "incidence"):
                continue  # totals depend on the population: compare shares only
            rows.append(dict(zip(keys, key, strict=True)) | {"from_wave": old, "to_wave": new}
                        | change_between(a.loc[key], b.loc[key]))
    out = pd.DataFrame(rows, columns=CHANGE_COLUMNS)
    # The change of a share in percentage points, as INEGI and ENUSC publish it.
    for col, source in (("points", "difference"), ("points_low", "ci_low"), ("points_high", "ci_high")):
        out[col] = out[source] * 100
    return out
