r"""Stage 0 of a survey import: the survey profile, a validated data model.

A survey profile (TOML or YAML, built-ins in ``observatory/ingest/profiles/``) describes one kind
of file: which columns identify a respondent, which holds the weight, the area code, sex and age,
how the wave is named, and a codebook mapping source columns and codes onto the canonical items of
:mod:`observatory.ingest.surveys.items`. No code per survey: ENVIPE, ENSU, ECSC and the generic
format are all profiles.

Each key is declared once below with its type; a wrong key, type or value is one sentence
``"profile <source>: <key>: <what is wrong>"`` (see :mod:`observatory.ingest.profile_model`).

Profile keys (see ``docs/indicators-survey.md`` and the README for a worked example)::

    kind = "survey"                      # marks a survey profile
    name = "my_city_survey"
    unit = "person"                      # person | household | event
    delimiter = ";"                      # optional: sniffed otherwise; also encoding, skip_lines
    respondent_id = ["FOLIO", "PERSONA"] # one or more columns, joined with "-"
    key_prefix = "burglary"              # optional: keeps keys of several module files of one wave apart
    household_id = ["FOLIO"]             # optional
    weight = ["FACTOR", "FAC"]           # the first column present in the file
    area_code = ["MUN"]                  # optional, columns concatenated (e.g. state + municipality)
    area_code_pad = 5                    # optional: left-pad codes with zeros
    sex = "SEXO"                         # optional, with [sex_codes] "1" = "M", "2" = "F"
    age = "EDAD"                         # optional, with age_missing = ["98", "99"]
    stratum = ["EST_DIS"]                # optional design columns
    psu = ["UPM_DIS"]
    wave = "My survey 2024"              # a fixed name; or taken from a column:
    # wave_column = "PER"; wave_pattern = '^(?P<month>\d{2})(?P<yy>\d{2})$'; wave_template = "ENSU 20{yy} Q{quarter}"
    # or from the file name: wave_file_pattern = '(?P<year>20\d\d)'; wave_template = "ENVIPE {year}"
    # (--wave NAME on the command line overrides all of these)
    period = "previous_year"             # optional reference period: year | previous_year | quarter
    reference_months = 12
    victim_any_from_items = true         # derive victim_any from the victim_<category> items
    territory_column = ["CD"]            # optional: the column naming the survey's territory
    territory = "52"; territory_level = "city"   # the code kept as the observatory's own (city | state | ...)

    [definitions]                        # how the agency defines its published figures
    name = "cifra_negra_inegi"; dark_figure = "not_file_opened"; exclude_crime_types = ["property_damage"]

    [items.unsafe_city]                  # one table per canonical item
    column = "P1"                        # or a list of release variants: the first present wins
    codes = { "1" = 0, "2" = 1, "9" = "missing" }

    [items.times_victimised]
    columns = ["AP7_4_05", "AP7_4_06"]   # several columns combined: combine = "sum" | "any"
    combine = "sum"
    blank = 0                            # value of a blank cell (skip pattern)

    [[join]]                             # columns or presence flags from a sibling table
    file = ["ecsc2020_01_datos_de_la_vivienda.csv"]
    on = ["DIRECTORIO"]
    columns = ["DEPMUNI"]                # or flag_item = "victim_burglary_residential"
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from observatory.indicators.survey import DEFAULT_DEFINITION, ReportingDefinition, parse_definition
from observatory.ingest.profile_model import ProfileModel, explain
from observatory.ingest.profiles import builtin_profile_names, profile_file, read_profile_file
from observatory.ingest.report import ImportFailed
from observatory.ingest.surveys.items import ITEMS, UNITS, check_value

MISSING = "missing"  # codebook value meaning "store as missing" (TOML has no null)
DEFAULT_SEX_CODES = {"1": "M", "2": "F", "m": "M", "f": "F", "h": "M", "x": "X", "3": "X"}
ITEM_KEYS = ("column", "columns", "combine", "codes", "blank", "missing", "optional", "value")


class SurveyProfileError(ImportFailed):
    """A survey profile that cannot be used; the message names the profile and the key."""


def code_key(value: object) -> str:
    """Matching key of a source code: integers lose leading zeros ("05" == "5"), text is case-folded."""
    text = str(value).replace("\r", "").strip()
    if re.fullmatch(r"[+-]?\d+(\.0*)?", text):
        return str(int(float(text)))
    return text.casefold()


def _one_or_many(value: object) -> object:
    """A column name or a list of them as a tuple (None: none)."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"expected a column name or a list of column names, got {value!r}")


def _code_keys(codes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(code_key(c) for c in codes)


Columns = Annotated[tuple[str, ...], BeforeValidator(_one_or_many)]
Codes = Annotated[tuple[str, ...], BeforeValidator(_one_or_many), AfterValidator(_code_keys)]


def _text_or_none(value: object) -> object:
    """Numbers a TOML/YAML file gives for a code or a name are kept as text; blank is none."""
    if value is None or value == "":
        return None
    return str(value) if isinstance(value, int | float) else value


def _canonical(item: str, value: object, where: str) -> object:
    """A codebook value checked against the item's value set; ``"missing"`` (and na, null, blank) is None."""
    if isinstance(value, str) and value.strip().casefold() in (MISSING, "na", "null", ""):
        return None
    try:
        return check_value(item, value)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from None


# --------------------------------------------------------------------------- items and joins


def _item_columns(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """``column`` (release variants, the first present wins) or ``columns`` (combined) as attributes."""
    where = f"items.{name}"
    if "column" in spec and "columns" in spec:
        raise ValueError(f"{where}: give either 'column' (variants) or 'columns' (combined), not both")
    if "columns" in spec:
        combine = spec.get("combine", "any")
        if combine not in ("any", "sum"):
            raise ValueError(f"{where}.combine: {combine!r} must be 'any' or 'sum'")
        return {"columns": spec["columns"], "combine": combine}
    return {"columns": spec.get("column"), "combine": "first"}


def _item_codes(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """``codes`` and ``blank`` checked against the item's value set, codes by their matching key."""
    where = f"items.{name}"
    out: dict[str, Any] = {}
    if "codes" in spec:
        if not isinstance(spec["codes"], dict):
            raise ValueError(f"{where}.codes: expected a table of code = value")
        out["codes"] = {code_key(k): _canonical(name, v, f"{where}.codes[{k!r}]") for k, v in spec["codes"].items()}
    if "blank" in spec:
        out["blank"] = _canonical(name, spec["blank"], f"{where}.blank")
    return out


class ItemMap(ProfileModel):
    """How one canonical item is read from the file (one ``[items.<item>]`` table of the profile).

    Built from the table as written, plus its ``item`` name; ``combine`` is ``first`` for release
    variants (``column``), ``any`` / ``sum`` for combined ``columns``, ``constant`` for ``value``.
    """

    item: str
    columns: Columns = ()
    combine: Literal["first", "any", "sum", "constant"]
    codes: dict[str, Any] | None = None  # code key -> canonical value (None = missing); None: numeric
    blank: Any = None
    missing: Codes = ()
    optional: bool = False
    constant: Any = None  # the same value for every row (e.g. the crime type of a module file)

    @model_validator(mode="before")
    @classmethod
    def _from_table(cls, spec: object) -> object:
        if not isinstance(spec, dict) or "item" not in spec:
            return spec
        name = spec["item"]
        if name not in ITEMS:
            raise ValueError(f"items.{name}: {name!r} is not a canonical survey item "
                             f"(see observatory/ingest/surveys/items.py)")
        unknown = sorted(set(spec) - {"item", *ITEM_KEYS})
        if unknown:
            raise ValueError(f"items.{name}.{unknown[0]}: unknown key (an item has {', '.join(ITEM_KEYS)})")
        if "value" in spec:
            return {"item": name, "combine": "constant",
                    "constant": _canonical(name, spec["value"], f"items.{name}.value")}
        shaped = {"item": name, **_item_columns(name, spec), **_item_codes(name, spec)}
        shaped.update({k: spec[k] for k in ("missing", "optional") if k in spec})
        return shaped

    @model_validator(mode="after")
    def _has_columns(self) -> ItemMap:
        if self.combine != "constant" and not self.columns:
            raise ValueError(f"items.{self.item}: no column given")
        return self


class Join(ProfileModel):
    """Columns (or a presence flag) taken from a sibling table sharing a key (one ``[[join]]`` table)."""

    files: Columns = Field((), alias="file")
    on: Columns = ()
    columns: Columns = ()
    flag_item: str | None = None
    required: bool = True  # default: True for columns, False for a presence flag

    @model_validator(mode="before")
    @classmethod
    def _default_required(cls, spec: object) -> object:
        if isinstance(spec, dict) and "required" not in spec:
            return {**spec, "required": spec.get("flag_item") is None}
        return spec

    @field_validator("flag_item")
    @classmethod
    def _binary_flag(cls, flag: str | None) -> str | None:
        if flag is not None and (flag not in ITEMS or ITEMS[flag].kind != "binary"):
            raise ValueError(f"{flag!r} is not a binary canonical item")
        return flag

    @model_validator(mode="after")
    def _complete(self) -> Join:
        if not self.files or not self.on or not (self.columns or self.flag_item):
            raise ValueError("'file', 'on' and 'columns' or 'flag_item' are required")
        return self


# --------------------------------------------------------------------------- the profile


def _named_items(items: object) -> object:
    """``[items.<name>]`` tables, each told its name (the ItemMap's ``item``)."""
    if not isinstance(items, dict):
        raise ValueError("must be a table of item = {column, codes}")
    named = {}
    for name, spec in items.items():
        if not isinstance(spec, dict):
            raise ValueError(f"items.{name}: expected a table with 'column' and 'codes'")
        named[name] = {**spec, "item": name}
    return named


def _sex_codes(codes: object) -> dict[str, str | None]:
    """Source code -> F, M, X or None ("missing"); an absent or empty table: the common codes."""
    if not codes:
        codes = DEFAULT_SEX_CODES
    if not isinstance(codes, dict):
        raise ValueError("expected a table of code = F, M, X or 'missing'")
    out = {code_key(k): (None if str(v).casefold() == MISSING else str(v).upper()) for k, v in codes.items()}
    bad = {v for v in out.values() if v not in (None, "F", "M", "X")}
    if bad:
        raise ValueError(f"values must be F, M, X or 'missing', got {sorted(bad)}")
    return out


def _tables(value: object) -> object:
    """``[join]`` (one table) or ``[[join]]`` (a list of them) as a list."""
    return [value] if isinstance(value, dict) else value


def _regex(pattern: str | None) -> str | None:
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"not a valid regular expression ({exc})") from None
    return pattern


def _definition(spec: object) -> ReportingDefinition:
    if isinstance(spec, ReportingDefinition):
        return spec
    return parse_definition(spec)  # type: ignore[arg-type]  # its ValueError names the key


class SurveyProfile(ProfileModel):
    """A parsed, validated survey profile (keys as in the module docstring)."""

    kind: Literal["survey"] = "survey"
    name: str
    source: str
    unit: str = "person"  # one of items.UNITS
    respondent_id: Columns
    weight: Columns
    # The [items.<item>] tables by name; ``items`` gives them in file order.
    item_maps: Annotated[dict[str, ItemMap], BeforeValidator(_named_items)] = Field(
        default_factory=dict, alias="items")
    description: Annotated[str, BeforeValidator(str)] = ""
    encoding: str | None = None
    delimiter: str | None = None
    skip_lines: int = 0
    household_id: Columns = ()
    area_code: Columns = ()
    area_code_pad: int | None = None
    sex: Columns = ()
    sex_codes: Annotated[dict[str, str | None], BeforeValidator(_sex_codes)] = Field(default_factory=dict)
    age: Columns = ()
    age_missing: Codes = ()
    stratum: Columns = ()
    psu: Columns = ()
    wave: Annotated[str | None, BeforeValidator(_text_or_none)] = None
    wave_column: str | None = None
    wave_pattern: Annotated[str | None, AfterValidator(_regex)] = None
    wave_template: str | None = None
    wave_file_pattern: Annotated[str | None, AfterValidator(_regex)] = None  # regex on the file name
    period: Literal["year", "previous_year", "quarter"] | None = None  # the reference period rule
    reference_months: int | None = None
    victim_any_from_items: bool = False
    key_prefix: Annotated[str | None, BeforeValidator(_text_or_none)] = None  # keys become "<prefix>:<key>"
    canonical_columns: bool = False  # columns named like canonical items are read as such
    joins: Annotated[tuple[Join, ...], BeforeValidator(_tables)] = Field((), alias="join")
    # How the agency defines its published figures (reporting universe, dark figure): data, not code.
    definitions: Annotated[ReportingDefinition, BeforeValidator(_definition)] = DEFAULT_DEFINITION
    territory_column: Columns = ()  # columns naming the survey's territory (ENSU: CD, the city)
    territory: Annotated[str | None, BeforeValidator(_text_or_none)] = None  # --territory overrides
    territory_level: Annotated[str, BeforeValidator(str)] = "city"  # city | state | municipality

    @model_validator(mode="before")
    @classmethod
    def _named(cls, data: object, info: ValidationInfo) -> object:
        """The profile's ``source`` (from the caller) and its name, by default the file's stem."""
        if not isinstance(data, dict):
            raise ValueError("expected a mapping at the top level")
        if info.context is None:  # built in code, source and all
            source = data.get("source", "")
        elif "source" in data:
            raise ValueError("source: unknown key (the profile's source is its file)")
        else:
            source = info.context["source"]
        return {**data, "source": source, "name": str(data.get("name") or Path(source).stem)}

    @field_validator("respondent_id", "weight")
    @classmethod
    def _required_columns(cls, columns: tuple[str, ...]) -> tuple[str, ...]:
        if not columns:
            raise ValueError("at least one column is required")
        return columns

    @field_validator("unit")
    @classmethod
    def _known_unit(cls, unit: str) -> str:
        if unit not in UNITS:
            raise ValueError(f"{unit!r} must be one of {', '.join(UNITS)}")
        return unit

    @field_validator("kind", mode="before")
    @classmethod
    def _survey_kind(cls, kind: object) -> object:
        if kind != "survey":
            raise ValueError(f"kind = {kind!r}, not a survey profile")
        return kind

    @property
    def items(self) -> tuple[ItemMap, ...]:
        """How each canonical item is read, in the profile's order."""
        return tuple(self.item_maps.values())


def parse_survey_profile(data: dict[str, Any], source: str) -> SurveyProfile:
    """Validate a profile mapping (as read from TOML/YAML) into a :class:`SurveyProfile`.

    Raises :class:`SurveyProfileError` naming ``source`` and the offending key.
    """
    try:
        return SurveyProfile.model_validate(data, context={"source": source})
    except ValidationError as exc:
        raise SurveyProfileError(explain(exc, f"profile {source}")) from None


def builtin_survey_profiles() -> list[str]:
    """Names of the built-in survey profiles."""
    return builtin_profile_names("survey")


def load_survey_profile(name_or_path: str | Path) -> SurveyProfile:
    """Load a built-in survey profile by name, or a ``.toml`` / ``.yaml`` file by path."""
    path, source = profile_file(name_or_path, "survey", SurveyProfileError)
    return parse_survey_profile(read_profile_file(path, SurveyProfileError), source)
