"""Synthetic victimisation-survey waves for the demo city, in the ``generic_survey`` format.

Each wave interviews about 1,500 adults: at least 8 per neighbourhood, the rest in proportion
to population. Weights sum to each neighbourhood's adult population (so to the city's).

Victimisation by crime type follows the recorded rates of the 12 months before fieldwork divided
by the type's reporting rate (the under-reporting factor): a respondent of area ``a`` is a victim
of type ``c`` with probability ``1 - exp(-recorded_rate[a, c] / reporting_rate[c])``. Victims
reported with the type's reporting rate, and 65% of reports opened an investigation file.
Fear, perception and trust come from one latent "fear" score that rises with the area's crime
risk, victimisation, being a woman or older; in the second wave it rises further in the planted
hotspot areas (cluster and halo), so the dashboards have a change to show.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from observatory.demo_city.city import City, adult_share
from observatory.demo_city.incidents import DEMO_CATEGORIES, expected_counts, period_bounds

RESPONDENTS_PER_WAVE = 1_500
MIN_PER_AREA = 8
# Share of crimes of each type that reach the police or prosecutor (recorded / committed).
REPORTING_RATE = {
    "robbery_person": 0.10,
    "theft_person": 0.07,
    "burglary_residential": 0.30,
    "vehicle_theft": 0.75,
    "assault": 0.15,
}
FILE_OPENED_RATE = 0.65
WAVE2_HOTSPOT_FEAR = 0.6  # extra latent fear in hotspot and halo areas in the second wave


def wave_names(today: dt.date) -> list[str]:
    """Names of the two waves: fieldwork at the end of the last two 12-month periods."""
    _, last = period_bounds(today)
    return [f"Encuesta Demo {last.year - 1} (sintética)", f"Encuesta Demo {last.year} (sintética)"]


def recorded_rates(city: City, today: dt.date, wave: int) -> pd.DataFrame:
    """Expected recorded incidents per inhabitant in the 12 months before fieldwork of ``wave`` (0/1).

    Rows: areas (in ``city.areas`` order); columns: the survey's crime types.
    """
    lam, days = expected_counts(city, today)
    _, last = period_bounds(today)
    end = pd.Timestamp(last) - pd.DateOffset(years=1 - wave)
    window = (days > end - pd.DateOffset(years=1)) & (days <= end)
    population = city.areas["population"].to_numpy(float)
    out = {}
    for code in REPORTING_RATE:
        idx = [i for i, c in enumerate(DEMO_CATEGORIES) if c.code == code]
        out[code] = lam[:, window][:, :, idx].sum(axis=(1, 2)) / population
    return pd.DataFrame(out)


def _allocate(population: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Respondents per area: ``MIN_PER_AREA`` each, the rest in proportion to population."""
    rest = RESPONDENTS_PER_WAVE - MIN_PER_AREA * len(population)
    return MIN_PER_AREA + rng.multinomial(rest, population / population.sum())


def _ordinal(latent: np.ndarray, cuts: tuple[float, ...], rng: np.random.Generator, noise: float) -> np.ndarray:
    """Codes 1..len(cuts)+1 by cutting ``latent`` plus normal noise at ``cuts``."""
    return 1 + np.searchsorted(np.asarray(cuts), latent + rng.normal(0, noise, len(latent)))


def draw_wave(city: City, today: dt.date, seed: int, wave: int) -> pd.DataFrame:
    """One wave (``wave`` 0 or 1) as a ``generic_survey`` table, one row per respondent."""
    rng = np.random.default_rng([seed, 10 + wave])
    areas = city.areas
    population = areas["population"].to_numpy(float)
    n_area = _allocate(population, rng)
    area = np.repeat(np.arange(len(areas)), n_area)
    n = len(area)
    adults = population * adult_share()
    raw = rng.lognormal(0, 0.2, n)  # non-response adjustments make weights unequal within an area
    weight = raw * (adults / np.bincount(area, weights=raw, minlength=len(areas)))[area]
    sex = np.where(rng.random(n) < 0.52, "F", "M")
    age = rng.triangular(18, 30, 88, n).round().astype(int)
    rates = recorded_rates(city, today, wave).to_numpy()[area]
    reporting = np.array(list(REPORTING_RATE.values()))
    prevalence = 1 - np.exp(-rates / reporting[None, :])
    victim = rng.random(prevalence.shape) < prevalence
    any_victim = victim.any(axis=1)
    # The respondent answers the reporting questions about the most serious (first listed) crime.
    first = np.argmax(victim, axis=1)
    reported = np.where(any_victim, rng.random(n) < reporting[first], False)
    opened = reported & (rng.random(n) < FILE_OPENED_RATE)
    times = np.where(any_victim, victim.sum(axis=1) + rng.poisson(0.35, n), 0)

    risk = areas["risk"].to_numpy(float)[area]
    hot = areas["role"].isin(["hotspot", "halo"]).to_numpy()[area]
    latent = (-0.4 + 0.45 * np.log(risk) + 0.9 * any_victim + 0.35 * (sex == "F") + 0.25 * (age >= 60)
              + (WAVE2_HOTSPOT_FEAR * hot if wave == 1 else 0) + rng.normal(0, 0.8, n))
    out = pd.DataFrame({
        "respondent_id": [f"W{wave + 1}-{i + 1:05d}" for i in range(n)],
        "household_id": _households(area, wave, rng),
        "wave": wave_names(today)[wave],
        "weight": weight.round(3),
        "neighbourhood_code": areas["code"].to_numpy()[area],
        "sex": sex,
        "age": age,
    })
    for j, code in enumerate(REPORTING_RATE):
        out[f"victim_{code}"] = victim[:, j].astype(int)
    out["times_victimised"] = times
    out["reported"] = pd.array(np.where(any_victim, reported.astype(int), 0), dtype="Int64")
    out.loc[~any_victim, "reported"] = pd.NA
    out["report_file_opened"] = pd.array(opened.astype(int), dtype="Int64")
    out.loc[~reported, "report_file_opened"] = pd.NA
    # Perception items: 1 = more / more violent / will rise; higher fear makes "more" likelier.
    out["crime_trend_past"] = 4 - _ordinal(latent, (-0.6, 0.5), rng, 0.7)
    out["crime_violence_trend"] = 4 - _ordinal(latent, (-0.8, 0.4), rng, 0.7)
    out["crime_trend_future"] = 4 - _ordinal(latent, (-0.5, 0.7), rng, 0.7)
    for item in ("fear_leaving_home", "fear_coming_home_dusk", "fear_walking_alone", "fear_home_night"):
        shift = {"fear_coming_home_dusk": 0.3, "fear_walking_alone": 0.2, "fear_home_night": -0.4}.get(item, 0.0)
        out[item] = _ordinal(latent + shift, (-0.3, 0.6, 1.4), rng, 0.6)
    out["unsafe_city"] = (rng.random(n) < 1 / (1 + np.exp(-(latent + 1.0)))).astype(int)
    out["unsafe_neighbourhood"] = (rng.random(n) < 1 / (1 + np.exp(-(latent - 0.1)))).astype(int)
    out["trust_police"] = _ordinal(0.4 * latent + 0.5, (-0.6, 0.2, 0.9), rng, 0.7)
    out["trust_municipality"] = _ordinal(0.3 * latent + 0.6, (-0.6, 0.2, 0.9), rng, 0.7)
    return out


def _households(area: np.ndarray, wave: int, rng: np.random.Generator) -> list[str]:
    """Household ids: one per respondent, except 10% who share the previous respondent's home."""
    ids: list[str] = []
    number = 0
    for i in range(len(area)):
        if i == 0 or area[i] != area[i - 1] or rng.random() >= 0.10:
            number += 1
        ids.append(f"H{wave + 1}-{number:05d}")
    return ids
