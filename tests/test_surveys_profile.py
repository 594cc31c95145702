"""Survey profiles as validated data models: one sentence naming the profile and the key for each mistake."""

from __future__ import annotations

import re

import pydantic
import pytest

from observatory.ingest.surveys import (
    ItemMap,
    SurveyProfile,
    SurveyProfileError,
    builtin_survey_profiles,
    load_survey_profile,
    parse_survey_profile,
)

BASE = 'kind = "survey"\nrespondent_id = "id"\nweight = "w"\n'


def _error(tmp_path, body: str) -> tuple[str, str]:
    """The error of a profile file with ``body`` after the base keys, and the file's path."""
    path = tmp_path / "mine.toml"
    path.write_text(BASE + body, encoding="utf-8")
    with pytest.raises(SurveyProfileError) as caught:
        load_survey_profile(path)
    return str(caught.value), str(path)


@pytest.mark.parametrize(("body", "key", "what"), [
    ('colour = "red"\n', "colour", "unknown key"),  # an unknown key
    ('skip_lines = "two"\n', "skip_lines", "valid integer"),  # a wrong type
    ('unit = "city"\n', "unit", "'city' must be one of person, household, event"),  # a wrong value
    ('period = "month"\n', "period", "'year', 'previous_year' or 'quarter'"),
    ('household_id = [1, 2]\n', "household_id", "list of column names"),
    ('[sex_codes]\n"1" = "W"\n', "sex_codes", "F, M, X or 'missing'"),
    ('wave_pattern = "(("\n', "wave_pattern", "not a valid regular expression"),
    ('[definitions]\ndark_figure = "x"\n', "definitions", "must be one of not_reported"),
    ('[items.unsafe_city]\ncolumn = "p1"\ncolour = 1\n', "items.unsafe_city.colour", "unknown key"),
    ('[items.unsafe_city]\ncolumn = "p1"\noptional = "maybe"\n', "items.unsafe_city.optional", "valid boolean"),
    ('[items.times_victimised]\ncolumns = ["a", "b"]\ncombine = "max"\n', "items.times_victimised.combine",
     "must be 'any' or 'sum'"),
    ('[items.unsafe_city]\ncodes = { "1" = 1 }\n', "items.unsafe_city", "no column given"),
    ('[[join]]\nfile = "x.csv"\non = "ID"\ncolumns = "A"\nhow = "left"\n', "join[0].how", "unknown key"),
    ('[[join]]\nfile = "x.csv"\non = "ID"\nflag_item = "trust_police"\n', "join[0].flag_item",
     "not a binary canonical item"),
])
def test_each_mistake_is_one_sentence_naming_profile_and_key(tmp_path, body, key, what):
    message, path = _error(tmp_path, body)
    assert message.startswith(f"profile {path}: {key}: "), message
    assert what in message
    assert "\n" not in message and "pydantic" not in message and "ItemMap" not in message


def test_required_keys_and_kind_are_named(tmp_path):
    path = tmp_path / "bare.toml"
    path.write_text('kind = "survey"\nweight = "w"\n', encoding="utf-8")
    with pytest.raises(SurveyProfileError, match=rf"^profile {re.escape(str(path))}: respondent_id: Field required$"):
        load_survey_profile(path)
    with pytest.raises(SurveyProfileError, match=r"^profile x: weight: at least one column is required$"):
        parse_survey_profile({"respondent_id": "id", "weight": []}, "x")
    with pytest.raises(SurveyProfileError, match=r"^profile x: kind = 'incidents', not a survey profile$"):
        parse_survey_profile({"kind": "incidents", "respondent_id": "id", "weight": "w"}, "x")
    with pytest.raises(SurveyProfileError, match=r"^profile x\.yaml: expected a mapping at the top level$"):
        parse_survey_profile(None, "x.yaml")  # type: ignore[arg-type]  # an empty YAML file


def test_a_valid_profile_reads_as_before(tmp_path):
    """Defaults, code keys, items in file order and join defaults, as the importer uses them."""
    path = tmp_path / "mi_encuesta.toml"
    path.write_text(BASE + 'sex = "SEXO"\nage_missing = ["098", "99"]\nterritory = 9\nkey_prefix = ""\n'
                    '[items.trust_police]\ncolumn = ["P5", "P5A"]\ncodes = { "01" = 1, "9" = "missing" }\n'
                    '[items.times_victimised]\ncolumns = ["A", "B"]\ncombine = "sum"\nblank = 0\n'
                    '[items.crime_type]\nvalue = "robbery_person"\n'
                    '[[join]]\nfile = "v.csv"\non = ["ID"]\nflag_item = "victim_burglary_residential"\n',
                    encoding="utf-8")
    prof = load_survey_profile(path)
    assert (prof.name, prof.source, prof.unit, prof.respondent_id, prof.weight) == (
        "mi_encuesta", str(path), "person", ("id",), ("w",))
    assert prof.age_missing == ("98", "99") and prof.territory == "9" and prof.key_prefix is None
    assert prof.sex_codes["1"] == "M" and prof.sex_codes["2"] == "F"  # the common codes by default
    assert [i.item for i in prof.items] == ["trust_police", "times_victimised", "crime_type"]
    trust, times, crime = prof.items
    assert (trust.columns, trust.combine, trust.codes) == (("P5", "P5A"), "first", {"1": 1, "9": None})
    assert (times.columns, times.combine, times.blank) == (("A", "B"), "sum", 0)
    assert (crime.combine, crime.constant) == ("constant", "robbery_person")
    assert prof.joins[0].files == ("v.csv",) and prof.joins[0].required is False  # a flag is optional
    with pytest.raises(pydantic.ValidationError):
        prof.unit = "household"  # frozen: a profile is read once and shared


def test_builtin_profiles_are_models():
    names = builtin_survey_profiles()
    assert {"envipe", "ensu", "ecsc", "generic_survey"} <= set(names)
    for name in names:
        prof = load_survey_profile(name)
        assert isinstance(prof, SurveyProfile) and prof.source == name
        assert all(isinstance(i, ItemMap) for i in prof.items)
    assert load_survey_profile("envipe").definitions.dark_figure == "not_file_opened"


def test_old_survey_items_path_still_imports():
    from observatory.ingest import survey_items
    from observatory.ingest.surveys import items

    assert survey_items.ITEMS is items.ITEMS and survey_items.check_value is items.check_value
