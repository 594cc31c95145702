"""Canonical survey items: the names, types and value sets stored in ``SurveyResponse.items``.

Every survey profile maps its source columns and codes onto these items, so indicators are
computed the same way whatever the questionnaire (ENVIPE, ENSU, ECSC, a city's own survey).
A missing answer (blank, "don't know", skipped) is stored as ``None`` (JSON null) or left out.

Value conventions (the generic_survey format uses the same codes):

* victimisation items ``victim_any`` and ``victim_<category code>``: 1 victim in the reference
  period, 0 not a victim; ``times_victimised``: number of times (integer >= 0);
* ``reported``: 1 reported to the police / prosecutor, 0 not reported;
  ``report_file_opened``: 1 an investigation file (carpeta) was opened, 0 none;
* ``crime_trend_past``: 1 more crime than 12 months ago, 2 the same, 3 less;
  ``crime_violence_trend``: 1 more violent, 2 the same, 3 less violent;
  ``crime_trend_future``: 1 will rise, 2 stay the same, 3 will fall;
* ``fear_leaving_home``, ``fear_coming_home_dusk``, ``fear_walking_alone``, ``fear_home_night``:
  how often the respondent fears being robbed: 1 never, 2 sometimes, 3 often, 4 always;
* ``unsafe_city``, ``unsafe_neighbourhood``: 1 feels unsafe, 0 feels safe;
* ``trust_police``, ``trust_municipality``: 1 much, 2 some, 3 little, 4 none;
* event rows (unit ``event``): ``crime_type`` (a category code of ``observatory.taxonomy``),
  ``reported``, ``report_file_opened``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from observatory.taxonomy import CATEGORIES, CATEGORIES_HINT, UNCLASSIFIED

UNITS = ("person", "household", "event")


@dataclass(frozen=True)
class Item:
    """One canonical item: ``kind`` is binary, ordinal, count or category."""

    name: str
    kind: str
    values: tuple | None  # allowed values (None: any integer >= 0, or any category code)
    description: str


CATEGORY_CODES: tuple[str, ...] = tuple(c.code for c in CATEGORIES)

_FIXED: tuple[Item, ...] = (
    Item("victim_any", "binary", (0, 1), "victim of at least one crime in the reference period"),
    Item("times_victimised", "count", None, "number of times victimised in the reference period"),
    Item("reported", "binary", (0, 1), "the crime was reported to the police or prosecutor"),
    Item("report_file_opened", "binary", (0, 1), "an investigation file (carpeta) was opened"),
    Item("crime_trend_past", "ordinal", (1, 2, 3), "crime vs 12 months ago: 1 more, 2 same, 3 less"),
    Item("crime_violence_trend", "ordinal", (1, 2, 3), "crime is: 1 more violent, 2 the same, 3 less violent"),
    Item("crime_trend_future", "ordinal", (1, 2, 3), "crime in 12 months: 1 will rise, 2 same, 3 will fall"),
    Item("fear_leaving_home", "ordinal", (1, 2, 3, 4), "fear of robbery leaving home: 1 never .. 4 always"),
    Item("fear_coming_home_dusk", "ordinal", (1, 2, 3, 4), "fear of robbery coming home at dusk: 1 never .. 4 always"),
    Item("fear_walking_alone", "ordinal", (1, 2, 3, 4), "fear walking alone in the neighbourhood: 1 never .. 4 always"),
    Item("fear_home_night", "ordinal", (1, 2, 3, 4), "fear of robbery at home at night: 1 never .. 4 always"),
    Item("unsafe_city", "binary", (0, 1), "feels unsafe in the city"),
    Item("unsafe_neighbourhood", "binary", (0, 1), "feels unsafe in the own neighbourhood"),
    Item("trust_police", "ordinal", (1, 2, 3, 4), "trust in the police: 1 much, 2 some, 3 little, 4 none"),
    Item("trust_municipality", "ordinal", (1, 2, 3, 4), "trust in the municipality: 1 much .. 4 none"),
    Item("crime_type", "category", None, "crime category code of an event row"),
    # Extra items some questionnaires carry (ENSU): behaviour changed for fear of crime.
    Item("avoid_valuables", "binary", (0, 1), "stopped carrying valuables for fear of crime"),
    Item("avoid_walking_night", "binary", (0, 1), "stopped walking near home after 8 pm for fear of crime"),
    # Set at import from the profile's territory_column: 1 the row is of the observatory's own territory.
    Item("in_territory", "binary", (0, 1), "the row is of the observatory's own territory (city / state)"),
    Item("police_effective", "ordinal", (1, 2, 3, 4),
         "how effective the police is: 1 very, 2 somewhat, 3 little, 4 not at all effective"),
)

ITEMS: dict[str, Item] = {item.name: item for item in _FIXED} | {
    f"victim_{code}": Item(f"victim_{code}", "binary", (0, 1), f"victim of {code} in the reference period")
    for code in CATEGORY_CODES if code != UNCLASSIFIED
}

FEAR_SITUATIONS = ("fear_leaving_home", "fear_coming_home_dusk", "fear_walking_alone", "fear_home_night")
PERCEPTION_TRENDS = ("crime_trend_past", "crime_violence_trend", "crime_trend_future")

# Age bands shared with the incident tables, so survey and recorded crime can be compared.
AGE_BANDS: tuple[tuple[int, int | None, str], ...] = (
    (0, 17, "0-17"), (18, 29, "18-29"), (30, 44, "30-44"), (45, 59, "45-59"), (60, None, "60+"),
)


def victim_item(category_code: str) -> str:
    """The item name for victimisation by ``category_code`` (e.g. ``victim_robbery_person``)."""
    name = f"victim_{category_code}"
    if name not in ITEMS:
        raise KeyError(f"unknown crime category {category_code!r} ({CATEGORIES_HINT})")
    return name


def age_group(age: float | int | None) -> str | None:
    """The age band of ``age`` in years (``"18-29"``...), None when unknown or negative."""
    if age is None or (isinstance(age, float) and math.isnan(age)) or age < 0 or age > 120:
        return None
    for low, high, label in AGE_BANDS:
        if age >= low and (high is None or age <= high):
            return label
    return None


def check_value(name: str, value: object) -> object:
    """Return ``value`` converted to the item's type, or raise ``ValueError`` with a reason.

    ``None`` (missing) is always accepted. Integers stored for binary/ordinal/count items,
    a category code (str) for ``crime_type``.
    """
    item = ITEMS.get(name)
    if item is None:
        raise ValueError(f"{name!r} is not a canonical survey item")
    if value is None:
        return None
    if item.kind == "category":
        code = str(value)
        if code not in CATEGORY_CODES:
            raise ValueError(f"{name}: {code!r} is not a crime category code ({CATEGORIES_HINT})")
        return code
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r} is not a number") from None
    if math.isnan(number):
        return None
    if number != int(number):
        raise ValueError(f"{name}: {value!r} is not a whole number")
    number = int(number)
    if item.values is not None and number not in item.values:
        allowed = ", ".join(str(v) for v in item.values)
        raise ValueError(f"{name}: {number} is not one of {allowed}")
    if item.kind == "count" and number < 0:
        raise ValueError(f"{name}: {number} is negative")
    return number
