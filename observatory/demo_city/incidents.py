"""Synthetic police reports and complaints for the demo city, in the generic CSV formats.

The expected number of incidents of category ``c`` in area ``a`` on day ``d`` is

    k * population[a] * risk[a]^street[c] * share[c] * season(d) * weekday(d) * trend(d)
    * intervention(a, d)

with ``k`` chosen so that the total is ``EXPECTED_INCIDENTS``,
and counts are Poisson draws of it. ``risk`` carries the planted hotspots (see
:mod:`observatory.demo_city.city`); domestic and sexual violence follow it only weakly
(``street`` = 0.3) because they happen mostly at home. Each incident is then split between the
police-report and the complaint source by a per-category police share, and given a time of day,
victim, address and coordinates inside its neighbourhood (a few rows carry only the
neighbourhood's name or code, swapped coordinates, or an impossible date, to exercise the
importers' checks).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely

from observatory.demo_city.city import INTERVENTION_DROP, City
from observatory.taxonomy import categories_by_code

# Expected recorded incidents (both sources) over the three years: the rates are scaled to it, so
# the demo keeps the same size whatever the seed (about 2,000 per 100,000 inhabitants a year).
EXPECTED_INCIDENTS = 75_000
ANNUAL_TREND = 0.03  # a mild city-wide rise per year, so year-on-year comparisons are not flat


@dataclass(frozen=True)
class DemoCategory:
    """How the demo draws one crime category."""

    code: str
    share: float  # share of all incidents in an ordinary area
    police_share: float  # share recorded as a police report (the rest are complaints)
    hours: str  # hour-of-day profile: street | night | day | home
    person: bool  # has a victim person (sex, age)
    window: bool = False  # discovered later: occurrence is a start-end window
    label: str | None = None  # label written to the file (default: the Spanish canonical name)
    street: float = 1.0  # exponent on the area's risk (how much it follows the hotspots)


DEMO_CATEGORIES: tuple[DemoCategory, ...] = (
    DemoCategory("theft_person", 0.19, 0.30, "street", True),
    DemoCategory("robbery_person", 0.16, 0.50, "street", True),
    DemoCategory("theft", 0.07, 0.30, "day", True),
    DemoCategory("burglary_residential", 0.08, 0.40, "day", True, window=True),
    DemoCategory("burglary_business", 0.04, 0.40, "night", False, window=True),
    DemoCategory("vehicle_theft", 0.06, 0.55, "night", True, window=True),
    DemoCategory("theft_from_vehicle", 0.06, 0.35, "night", True, window=True),
    DemoCategory("robbery_business", 0.03, 0.60, "street", False),
    DemoCategory("robbery_transport", 0.03, 0.45, "street", True),
    DemoCategory("assault", 0.08, 0.55, "night", True),
    DemoCategory("threat", 0.04, 0.30, "day", True),
    DemoCategory("domestic_violence", 0.07, 0.50, "home", True, street=0.3),
    DemoCategory("sexual_assault", 0.014, 0.40, "home", True, street=0.3),
    DemoCategory("rape", 0.007, 0.45, "home", True, street=0.3),
    DemoCategory("homicide", 0.004, 0.90, "night", True),
    DemoCategory("attempted_homicide", 0.002, 0.85, "night", True),
    DemoCategory("extortion", 0.008, 0.25, "day", True, street=0.5),
    DemoCategory("fraud", 0.03, 0.10, "day", True, street=0.3),
    DemoCategory("property_damage", 0.03, 0.40, "night", False),
    DemoCategory("public_order", 0.02, 0.85, "night", False),
    DemoCategory("drugs", 0.015, 0.95, "street", False),
    # Local slang no alias knows: stored as "unclassified" and listed in the import report.
    DemoCategory("unclassified", 0.004, 0.30, "street", True, label="Raponazo"),
    DemoCategory("unclassified", 0.003, 0.30, "street", True, label="Cosquilleo"),
    DemoCategory("unclassified", 0.001, 0.60, "street", True, label="Fleteo"),
)

_HOUR_SHAPES = {
    # relative frequency by hour 0..23
    "street": [3, 2, 1.5, 1, 1, 1.5, 3, 6, 7, 6, 5, 5, 6, 6, 5, 5, 6, 7, 9, 10, 9, 7, 5, 4],
    "night": [7, 6, 5, 4, 2, 1.5, 1.5, 2, 2, 2, 2, 2, 3, 3, 3, 3, 4, 5, 6, 7, 8, 9, 9, 8],
    "day": [1, 1, 0.5, 0.5, 0.5, 1, 2, 4, 6, 8, 9, 9, 8, 8, 8, 8, 7, 6, 4, 3, 2, 2, 1.5, 1],
    "home": [5, 4, 3, 2, 1.5, 1, 1, 1.5, 2, 2, 2, 2, 3, 3, 3, 3, 4, 5, 6, 7, 8, 8, 7, 6],
}
_WEEKDAY = np.array([0.93, 0.94, 0.96, 0.99, 1.08, 1.12, 0.98])  # Monday .. Sunday
_STREET_TYPES = ("Calle", "Carrera", "Avenida", "Diagonal", "Transversal")
_AVENUES = ("Los Libertadores", "del Río", "Bolívar", "Las Américas", "Circunvalar", "del Ferrocarril")
_DESCRIPTIONS = {
    "theft_person": "Sustracción de celular sin violencia en vía pública",
    "robbery_person": "Despojo de pertenencias con intimidación en vía pública",
    "theft": "Sustracción de objetos sin violencia",
    "burglary_residential": "Ingreso a vivienda en ausencia de sus ocupantes",
    "burglary_business": "Ingreso forzado a local comercial cerrado",
    "vehicle_theft": "Vehículo estacionado hurtado",
    "theft_from_vehicle": "Sustracción de autopartes de vehículo estacionado",
    "robbery_business": "Asalto a establecimiento comercial",
    "robbery_transport": "Asalto a pasajeros de transporte público",
    "assault": "Agresión física entre personas",
    "threat": "Amenazas verbales",
    "extortion": "Exigencia de pago bajo amenaza",
    "fraud": "Estafa mediante engaño telefónico",
    "property_damage": "Daño a fachada o vehículo",
    "public_order": "Riña en vía pública",
    "drugs": "Incautación de sustancias en flagrancia",
}


def period_bounds(today: dt.date) -> tuple[dt.date, dt.date]:
    """Three years ending with the last complete month before ``today``: ``(first_day, last_day)``."""
    last = today.replace(day=1) - dt.timedelta(days=1)
    first = dt.date(last.year - 3, last.month, 1) + dt.timedelta(days=32)
    return first.replace(day=1), last


def intervention_start(today: dt.date) -> dt.date:
    """Start of the planted intervention: the first of the month 14 months before the period's end."""
    _, last = period_bounds(today)
    month = last.year * 12 + last.month - 1 - 13
    return dt.date(month // 12, month % 12 + 1, 1)


def _day_factors(days: pd.DatetimeIndex, start: dt.date) -> np.ndarray:
    """Seasonality x weekday x trend for each day (dimensionless, mean about 1)."""
    doy = days.day_of_year.to_numpy()
    # Peaks in December (festivities, bonuses) and a smaller one mid-year (school holidays).
    season = 1 + 0.12 * np.cos(2 * math.pi * (doy - 350) / 365.25) + 0.04 * np.cos(4 * math.pi * (doy - 180) / 365.25)
    years = (days - pd.Timestamp(start)).days.to_numpy() / 365.25
    return season * _WEEKDAY[days.day_of_week.to_numpy()] * (1 + ANNUAL_TREND) ** years


def _intervention_factor(days: pd.DatetimeIndex, start: dt.date) -> np.ndarray:
    """1 before ``start``, then a two-month ramp down to ``1 - INTERVENTION_DROP``."""
    elapsed = (days - pd.Timestamp(start)).days.to_numpy()
    ramp = np.clip(elapsed / 60, 0, 1)
    return 1 - INTERVENTION_DROP * ramp


def expected_counts(city: City, today: dt.date) -> tuple[np.ndarray, pd.DatetimeIndex]:
    """Expected incidents, array ``(area, day, category)`` in the order of ``city.areas`` and
    :data:`DEMO_CATEGORIES`, and the days."""
    first, last = period_bounds(today)
    days = pd.date_range(first, last, freq="D")
    areas = city.areas
    per_day = areas["population"].to_numpy(float)
    risk = areas["risk"].to_numpy(float)
    street = np.array([c.street for c in DEMO_CATEGORIES])
    share = np.array([c.share for c in DEMO_CATEGORIES])
    share = share / share.sum()
    area_cat = per_day[:, None] * risk[:, None] ** street[None, :] * share[None, :]
    day = _day_factors(days, first)
    lam = area_cat[:, None, :] * day[None, :, None]
    treated = areas["code"].isin(city.intervention).to_numpy()
    lam[treated] *= _intervention_factor(days, intervention_start(today))[None, :, None]
    return lam * (EXPECTED_INCIDENTS / lam.sum()), days


def _points_in(geom, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` uniform random (lon, lat) points inside ``geom``."""
    minx, miny, maxx, maxy = geom.bounds
    out = np.empty((0, 2))
    while len(out) < n:
        cand = rng.uniform((minx, miny), (maxx, maxy), (max(2 * (n - len(out)), 16), 2))
        out = np.vstack([out, cand[shapely.contains_xy(geom, cand[:, 0], cand[:, 1])]])
    return out[:n]


def _hours(profile: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.choice(24, size=n, p=profile)


def draw_incidents(city: City, today: dt.date, seed: int) -> pd.DataFrame:
    """All incidents of the demo period, one row each, sorted by occurrence.

    Columns: ``area`` (index into ``city.areas``), ``category`` (index into DEMO_CATEGORIES),
    ``start`` (Timestamp), ``end`` (Timestamp or NaT), ``time_known`` (bool), ``police`` (bool),
    ``lon``, ``lat``, ``victim_sex``, ``victim_age``, ``report_delay`` (days).
    """
    rng = np.random.default_rng([seed, 2])
    lam, days = expected_counts(city, today)
    counts = rng.poisson(lam)
    area_idx, day_idx, cat_idx = np.nonzero(counts)
    reps = counts[area_idx, day_idx, cat_idx]
    area_idx, day_idx, cat_idx = (np.repeat(x, reps) for x in (area_idx, day_idx, cat_idx))
    n = len(area_idx)
    cats = DEMO_CATEGORIES
    hour = np.empty(n, dtype=int)
    for profile in _HOUR_SHAPES:
        shape = np.array(_HOUR_SHAPES[profile], dtype=float)
        mask = np.isin(cat_idx, [i for i, c in enumerate(cats) if c.hours == profile])
        hour[mask] = _hours(shape / shape.sum(), rng, int(mask.sum()))
    minute = rng.integers(0, 60, n)
    start = days[day_idx] + pd.to_timedelta(hour * 60 + minute, unit="min")
    window = np.array([cats[c].window for c in cat_idx])
    # Windows: the victim left at ``start`` and found it ``2-14`` hours later.
    end = pd.Series(pd.NaT, index=range(n), dtype="datetime64[ns]")
    span = pd.to_timedelta(rng.integers(120, 840, n), unit="min")
    end[window] = (start[window] + span[window]).to_numpy()
    police = rng.random(n) < np.array([c.police_share for c in cats])[cat_idx]
    person = np.array([cats[c].person for c in cat_idx])
    code = np.array([cats[c].code for c in cat_idx])
    female_p = np.select([np.isin(code, ["domestic_violence", "sexual_assault", "rape"]),
                          np.isin(code, ["homicide", "attempted_homicide"])], [0.85, 0.1], 0.45)
    sex = np.where(rng.random(n) < female_p, "F", "M").astype(object)
    young = np.isin(code, ["sexual_assault", "rape"])
    age = np.where(young, rng.normal(22, 8, n), rng.normal(37, 12, n)).round().clip(12, 90).astype(int)
    sex[~person] = None
    victim_age = pd.array(np.where(person, age, 0), dtype="Int64")
    victim_age[~person] = pd.NA
    frame = pd.DataFrame({
        "area": area_idx, "category": cat_idx, "start": start, "end": end.to_numpy(),
        "time_known": rng.random(n) > 0.04, "police": police, "victim_sex": sex, "victim_age": victim_age,
        "report_delay": np.where(police, rng.geometric(0.8, n) - 1, rng.geometric(0.35, n) - 1),
    })
    lonlat = np.empty((n, 2))
    for a, geom in enumerate(city.areas.geometry):
        mask = area_idx == a
        lonlat[mask] = _points_in(geom, int(mask.sum()), rng)
    frame["lon"], frame["lat"] = lonlat[:, 0], lonlat[:, 1]
    return frame.sort_values(["start", "area", "category"], kind="stable").reset_index(drop=True)


def _address(rng: np.random.Generator, n: int) -> np.ndarray:
    kind = rng.integers(len(_STREET_TYPES), size=n)
    num = rng.integers(1, 120, n)
    cross = rng.integers(1, 120, n)
    plate = rng.integers(1, 99, n)
    avenue = rng.integers(len(_AVENUES), size=n)
    out = []
    for k, a, c, p, av in zip(kind, num, cross, plate, avenue, strict=True):
        street = f"Avenida {_AVENUES[av]}" if _STREET_TYPES[k] == "Avenida" else f"{_STREET_TYPES[k]} {a}"
        out.append(f"{street} # {c}-{p:02d}")
    return np.array(out, dtype=object)


def _strip_accents_upper(name: str) -> str:
    import unicodedata

    return "".join(ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch)).upper()


def _location_columns(frame: pd.DataFrame, city: City, rng: np.random.Generator, *,
                      declare_code: float) -> pd.DataFrame:
    """latitude/longitude/neighbourhood_code/neighbourhood_name with the demo's data-quality mix.

    About 4% of rows lose their coordinates but keep the neighbourhood name (a third of them in
    upper case without accents, as old systems write it), 0.5% keep only the code, 0.3% have no
    location at all, 0.2% have latitude and longitude swapped, and 1% of rows that declare a code
    declare the wrong one (the point is right), so agreement can be measured.
    """
    n = len(frame)
    codes = city.areas["code"].to_numpy()[frame["area"].to_numpy()]
    names = city.areas["name"].to_numpy()[frame["area"].to_numpy()]
    lat = _writable(frame["lat"].round(6))
    lon = _writable(frame["lon"].round(6))
    u = rng.random(n)
    name_only, code_only, nothing = u < 0.04, (u >= 0.04) & (u < 0.045), (u >= 0.045) & (u < 0.048)
    swapped = (u >= 0.048) & (u < 0.050)
    lat[swapped], lon[swapped] = lon[swapped], lat[swapped]
    no_xy = name_only | code_only | nothing
    lat[no_xy] = None
    lon[no_xy] = None
    declared = (rng.random(n) < declare_code) | code_only
    out_code = np.where(declared & ~name_only & ~nothing, codes, None).astype(object)
    wrong = declared & ~no_xy & (rng.random(n) < 0.01)
    out_code[wrong] = rng.choice(city.areas["code"].to_numpy(), int(wrong.sum()))
    out_name = np.where(name_only | (declared & ~code_only & ~nothing & ~wrong), names, None).astype(object)
    shout = name_only & (rng.random(n) < 0.33)
    out_name[shout] = [_strip_accents_upper(x) for x in out_name[shout]]
    return pd.DataFrame({"latitude": lat, "longitude": lon, "neighbourhood_code": out_code,
                         "neighbourhood_name": out_name})


def _labels(frame: pd.DataFrame) -> np.ndarray:
    names = categories_by_code()
    labels = [c.label or names[c.code].name_es for c in DEMO_CATEGORIES]
    return np.array(labels, dtype=object)[frame["category"].to_numpy()]


def _descriptions(frame: pd.DataFrame) -> np.ndarray:
    # Free text of sensitive cases is left out altogether: the demo never needs it.
    texts = [_DESCRIPTIONS.get(c.code, "") for c in DEMO_CATEGORIES]
    return np.array(texts, dtype=object)[frame["category"].to_numpy()]


def _writable(series: pd.Series) -> np.ndarray:
    """An object array copy (pandas 3 hands out read-only views under Copy-on-Write)."""
    return np.array(series.to_numpy(dtype=object), dtype=object, copy=True)


def _time_text(ts: pd.Series, known: np.ndarray) -> np.ndarray:
    text = _writable(ts.dt.strftime("%H:%M"))
    text[~known] = None
    return text


def police_csv_frame(incidents: pd.DataFrame, city: City, seed: int) -> pd.DataFrame:
    """The police reports as a ``generic_incidents`` table (ISO dates)."""
    rng = np.random.default_rng([seed, 3])
    rows = incidents[incidents["police"]].reset_index(drop=True)
    year = rows["start"].dt.year
    seq = rows.groupby(year).cumcount() + 1
    known = rows["time_known"].to_numpy()
    has_end = rows["end"].notna().to_numpy()
    end_date = _writable(rows["end"].dt.strftime("%Y-%m-%d"))
    end_time = _writable(rows["end"].dt.strftime("%H:%M"))
    end_date[~has_end] = None
    end_time[~has_end] = None
    reported = (rows["start"].dt.normalize() + pd.to_timedelta(rows["report_delay"], unit="D"))
    out = pd.DataFrame({
        "record_id": "PN-" + year.astype(str) + "-" + seq.map("{:06d}".format),
        "occurred_date": rows["start"].dt.strftime("%Y-%m-%d"),
        "occurred_time": _time_text(rows["start"], known | has_end),
        "occurred_end_date": end_date,
        "occurred_end_time": end_time,
        "reported_date": reported.dt.strftime("%Y-%m-%d"),
        "category": _labels(rows),
    })
    out = pd.concat([out, _location_columns(rows, city, rng, declare_code=0.6)], axis=1)
    out["victim_sex"] = rows["victim_sex"]
    out["victim_age"] = rows["victim_age"]
    out["count"] = 1
    out["address"] = _address(rng, len(rows))
    out["description"] = _descriptions(rows)
    return _with_bad_rows(out, rng, date_columns=("occurred_date",), iso=True)


def complaints_csv_frame(incidents: pd.DataFrame, city: City, seed: int) -> pd.DataFrame:
    """The complaints (denuncias) as a ``generic_complaints`` table (d/m/Y dates, as many offices export)."""
    rng = np.random.default_rng([seed, 4])
    rows = incidents[~incidents["police"]].reset_index(drop=True)
    filed = rows["start"].dt.normalize() + pd.to_timedelta(rows["report_delay"], unit="D")
    year = filed.dt.year
    seq = rows.groupby(year).cumcount() + 1
    out = pd.DataFrame({
        "complaint_id": "DEN-" + year.astype(str) + "-" + seq.map("{:06d}".format),
        "complaint_date": filed.dt.strftime("%d/%m/%Y"),
        "occurred_date": rows["start"].dt.strftime("%d/%m/%Y"),
        "occurred_time": _time_text(rows["start"], rows["time_known"].to_numpy()),
        "category": _labels(rows),
    })
    out = pd.concat([out, _location_columns(rows, city, rng, declare_code=0.3)], axis=1)
    out["victim_sex"] = rows["victim_sex"]
    out["victim_age"] = rows["victim_age"]
    out["address"] = _address(rng, len(rows))
    out["description"] = _descriptions(rows)
    return _with_bad_rows(out, rng, date_columns=("occurred_date",), iso=False)


def _with_bad_rows(out: pd.DataFrame, rng: np.random.Generator, *, date_columns: tuple[str, ...],
                   iso: bool) -> pd.DataFrame:
    """Break a handful of rows (impossible dates) so the demo shows rejected rows with reasons."""
    bad = rng.choice(len(out), size=max(3, len(out) // 5_000), replace=False)
    for column in date_columns:
        out.loc[bad, column] = [("2025-02-30" if iso else "30/02/2025")] * len(bad)
    return out
