"""The project's controlled vocabulary: one definition per concept, imported everywhere.

Importers, the query layer, the access rules, the database models and the dashboard all check
values against these tuples; their display names live in ``observatory/web/i18n.py`` under the
keys noted below (``sex.F``, ``level.high``...). Add a value here and nowhere else.
"""

from __future__ import annotations

# Where a recorded incident comes from: a police record or a citizen's complaint (i18n ``filter.src.*``).
SOURCE_KINDS: tuple[str, ...] = ("complaint", "police")

# Victim (and survey respondent) sex as stored: female, male, other / not stated (i18n ``sex.*``).
SEXES: tuple[str, ...] = ("F", "M", "X")

# Victim (and survey respondent) age groups, in years, as stored (i18n: shown as written).
AGE_GROUPS: tuple[str, ...] = ("0-17", "18-29", "30-44", "45-59", "60+")

# Who is looking: the anonymous public, a signed-in analyst, an administrator (i18n ``role.*``).
ROLES: tuple[str, ...] = ("public", "analyst", "admin")
# The roles a stored account can have and that see true counts (the public is nobody's account).
ACCOUNT_ROLES: tuple[str, ...] = ("analyst", "admin")

# The level of a boundary layer: neighbourhoods (the primary grain), districts, anything else.
BOUNDARY_LEVELS: tuple[str, ...] = ("neighbourhood", "district", "other")

# Levels of the fear-of-crime index, low to high (i18n ``level.*``).
FEAR_LEVELS: tuple[str, ...] = ("low", "medium", "high")
