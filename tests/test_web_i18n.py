"""The dashboard's catalogue: both languages complete, locale formats, no key leaks."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from observatory.web.i18n import CATALOGUE, LANGUAGES, fmt_date, fmt_month, fmt_number, fmt_percent, t


def test_every_key_exists_in_every_language():
    keys = {lang: set(CATALOGUE[lang]) for lang in LANGUAGES}
    assert keys["es"] == keys["en"], keys["es"] ^ keys["en"]
    for lang in LANGUAGES:
        empty = [k for k, v in CATALOGUE[lang].items() if not v.strip()]
        assert not empty, (lang, empty)


def test_translations_differ_where_languages_differ():
    # A key whose Spanish and English texts are identical is probably untranslated
    # (except symbols and codes that read the same in both languages).
    same = [k for k in CATALOGUE["es"] if CATALOGUE["es"][k] == CATALOGUE["en"][k]]
    assert set(same) <= {"col.n"}, same


def test_placeholders_match_between_languages():
    for key in CATALOGUE["es"]:
        names = [set(re.findall(r"{(\w+)}", CATALOGUE[lang][key])) for lang in LANGUAGES]
        assert names[0] == names[1], key


def test_unknown_key_fails_loudly_and_language_falls_back():
    with pytest.raises(KeyError):
        t("no.such.key", "es")
    assert t("nav.map", "fr") == CATALOGUE["es"]["nav.map"]


def test_numbers_and_dates_follow_the_locale():
    assert fmt_number(1234.5, "es", 1) == "1.234,5"
    assert fmt_number(1234.5, "en", 1) == "1,234.5"
    assert fmt_number(1234567, "es") == "1.234.567"
    assert fmt_number(None, "en") == "n/a" and fmt_number(float("nan"), "es") == "s/d"
    assert fmt_percent(0.125, "es") == "12,5\xa0%"
    assert fmt_percent(0.125, "en") == "12.5%"
    day = dt.date(2024, 3, 5)
    assert fmt_date(day, "es", "short") == "5/3/24"
    assert fmt_date("2024-03-05", "en", "long") == "5 March 2024"
    assert fmt_month(day, "es").lower().startswith("mar")
