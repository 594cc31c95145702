"""Message catalogue of the dashboard (Spanish default, English) and locale formats.

The messages live in ``observatory/web/catalogue/es.toml`` and ``en.toml``. Every visible string of
the dashboard goes through :func:`t`; ``tests/test_web_i18n.py``
checks that both languages hold the same keys and that no key leaks into a rendered page.
Numbers and dates are formatted with Babel (``1.234,5`` in Spanish, ``1,234.5`` in English).
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from pathlib import Path

from babel.dates import format_date as _babel_date
from babel.numbers import get_decimal_symbol, get_group_symbol
from pandas import NA as PD_NA

LANGUAGES: tuple[str, ...] = ("es", "en")
DEFAULT_LANGUAGE = "es"
_LOCALES = {"es": "es_ES", "en": "en_GB"}

CATALOGUE_DIR = Path(__file__).resolve().parent / "catalogue"


def _load_catalogue() -> dict[str, dict[str, str]]:
    """The messages of every language, from ``catalogue/<lang>.toml``: data a translator edits
    without touching code (one ``"key" = "text"`` line per message)."""
    catalogue = {}
    for lang in LANGUAGES:
        with open(CATALOGUE_DIR / f"{lang}.toml", "rb") as fh:
            catalogue[lang] = tomllib.load(fh)
    return catalogue


CATALOGUE: dict[str, dict[str, str]] = _load_catalogue()

# Indicator definitions shown on the Data page (keys def.<name>, .what, .source, .formula).
DEFINITIONS: tuple[str, ...] = ("count", "rate", "change", "gi", "fear", "victimisation", "reporting")


def lang_or_default(lang: str | None) -> str:
    """A supported language code (``es`` when ``lang`` is missing or unknown)."""
    return lang if lang in LANGUAGES else DEFAULT_LANGUAGE


def t(key: str, lang: str | None = None, **values: object) -> str:
    """Translate catalogue ``key`` into ``lang``; ``values`` fill ``{name}`` placeholders.

    Raises ``KeyError`` for an unknown key so that a missing translation fails loudly in tests
    instead of leaking the key onto a projected page.
    """
    text = CATALOGUE[lang_or_default(lang)][key]
    return text.format(**values) if values else text


def _separators(lang: str) -> tuple[str, str]:
    """(decimal, group) symbols of ``lang`` from Babel's CLDR data."""
    locale = _LOCALES[lang]
    return get_decimal_symbol(locale), get_group_symbol(locale)


_SEPARATORS = {lang: _separators(lang) for lang in LANGUAGES}


def fmt_number(value: float | int | None, lang: str | None = None, digits: int = 0) -> str:
    """``value`` with the locale's separators and ``digits`` decimals; ``n/a`` / ``s/d`` for missing.

    Separators come from Babel (CLDR); grouping is always applied (``1.234`` in Spanish too,
    so that columns of numbers line up). Formatting itself is Python's, fast enough for
    thousands of map hover labels.
    """
    lang = lang_or_default(lang)
    if value is None or value is PD_NA or (isinstance(value, float) and math.isnan(value)):
        return t("kpi.na", lang)
    decimal, group = _SEPARATORS[lang]
    text = f"{float(value):,.{digits}f}"
    return text.replace(",", "\x00").replace(".", decimal).replace("\x00", group)


def fmt_percent(share: float | None, lang: str | None = None, digits: int = 1) -> str:
    """A share in [0, 1] as a locale percentage (``12,5 %`` in Spanish)."""
    lang = lang_or_default(lang)
    if share is None or (isinstance(share, float) and math.isnan(share)):
        return t("kpi.na", lang)
    # Spanish writes a (non-breaking) space before the sign, English does not.
    return fmt_number(share * 100, lang, digits) + ("\xa0%" if lang == "es" else "%")


def fmt_date(value: dt.date | str | None, lang: str | None = None, style: str = "medium") -> str:
    """A date in the locale's ``style`` (``short``, ``medium``, ``long``); ISO strings accepted."""
    lang = lang_or_default(lang)
    if value is None or value == "":
        return t("kpi.na", lang)
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return _babel_date(value, format=style, locale=_LOCALES[lang])


def fmt_month(value: dt.date | str, lang: str | None = None) -> str:
    """A month as ``ene 2024`` / ``Jan 2024``."""
    lang = lang_or_default(lang)
    if isinstance(value, str):
        value = dt.date.fromisoformat(value[:10])
    return _babel_date(value, format="MMM y", locale=_LOCALES[lang])


def category_name(code: str, lang: str | None, names: dict[str, tuple[str, str]] | None = None) -> str:
    """Display name of a crime category from ``names`` (code -> (es, en)) or the built-in taxonomy."""
    if names is None:
        from observatory.taxonomy import categories_by_code

        cat = categories_by_code().get(code)
        names = {code: (cat.name_es, cat.name_en)} if cat else {}
    es, en = names.get(code, (code, code))
    return en if lang_or_default(lang) == "en" else es
