"""Declarative import profiles for incident files (police reports and complaints).

A profile says, without code, how one publisher's export maps onto the observatory's
canonical incident fields. Built-in profiles are the ``*.toml`` files beside this module whose
``kind`` is ``"incidents"``; a city whose export matches none of them writes its own file
(TOML or YAML) and passes its path. Keys::

    kind = "incidents"                 # marks an incident profile (survey profiles say "survey")
    name = "my_city_police"            # stored with every record and every alias
    description = "..."
    source_kind = "police"             # optional hint: police | complaint
    encoding = "cp1252"                # optional: detected otherwise (UTF-8, BOM, cp1252)
    delimiter = ";"                    # optional: sniffed from the header otherwise
    skip_lines = 0                     # title lines (spreadsheet rows) above the header
    sheet = "Datos"                    # spreadsheets (XLSX, XLS, ODS): sheet name or number from 1
    join_with = "-"                    # separator when a variant joins several columns
    date_formats = ["%d/%m/%Y"]        # optional: tried after ISO 8601 (d/m/Y is always tried)
    time_formats = ["%I:%M %p"]        # optional: tried after H:M[:S] ("20:0", "07:05:00") and an hour 0-23
    identical_rows = "keep"            # rows identical to another row of the file: "keep" (one incident
                                       # each: one row per victim, snapped points) or "drop" (duplicates)
    max_rejected_share = 0.9           # an import rejecting a larger share of its rows fails, nothing stored
    decimal_comma = true               # optional: "1.234,5" numbers
    crs = "EPSG:4326"                  # CRS of the coordinates (reprojected with pyproj)
    na_values = ["NA", "SIN DATO"]     # cell values meaning "missing" in every column
    required = ["occurred_date", "category"]

    [columns]                          # canonical field -> header variants (first present wins,
    record_id = ["id", "folio"]        # and when several are present, each row takes the first
    occurred_date = ["fecha", "date"]  # non-blank one); a variant that is a list joins columns
    category = ["delito"]

    [defaults]                         # fixed values for fields the file lacks (or leaves blank)
    category = "Burglary"

    [file_labels]                      # label taken from the file name: fragment -> label
    burglary = "Burglary"

    [aliases]                          # source label -> canonical category code
    "ROBO A TRANSEUNTE C.V." = "robbery_person"

    [values.victim_sex]                # value maps: source value -> canonical value ("" = unknown)
    MASCULINO = "M"

    [area_aliases]                     # declared area name -> the boundary layer's name for it
    "Central Business District" = "Downtown"

A wrong ``[defaults] category`` (a label that is no category code or name, global alias or
profile alias) stops the import when the profile is read, naming the nearest valid codes.

Header variants and labels are matched ignoring accents and case (:func:`observatory.text.fold`).
"""

from __future__ import annotations

import codecs
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from annotated_types import Ge, Interval
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    Strict,
    StrictBool,
    StrictInt,
    StrictStr,
    ValidationError,
    ValidationInfo,
    WrapValidator,
    field_validator,
    model_validator,
)

from observatory.ingest.profile_model import ProfileModel, explain
from observatory.ingest.report import ImportFailed
from observatory.taxonomy import CATEGORIES_HINT, categories_by_code
from observatory.text import fold, label_key
from observatory.vocabulary import AGE_GROUPS, SOURCE_KINDS
from observatory.vocabulary import SEXES as SEX_VALUES

PROFILES_DIR = Path(__file__).resolve().parent / "profiles"
KIND = "incidents"

# Canonical incident fields a profile can map, with what each one holds.
FIELDS: dict[str, str] = {
    "record_id": "the publisher's record id (dedupe key when present)",
    "occurred_date": "date (optionally with time) the incident occurred, or the start of its window",
    "occurred_time": "time of occurrence (H:M[:S], an hour 0-23, or one of the profile's time_formats)",
    "occurred_end_date": "end date of the occurrence window",
    "occurred_end_time": "end time of the occurrence window",
    "reported_date": "date the complaint or report was made",
    "category": "the source's crime label",
    "latitude": "latitude (or y in the profile's CRS)",
    "longitude": "longitude (or x in the profile's CRS)",
    "area_code": "code of the area the record names (quadrant, colonia, LSOA, DANE code...)",
    "area_name": "name of the area the record names",
    "victim_sex": "victim's sex (mapped to F, M or X)",
    "victim_age": "victim's age in years",
    "victim_age_group": "victim's age group as published (mapped with [values.victim_age_group])",
    "count": "number of incidents the row stands for (aggregated sources)",
    "address": "street address (restricted)",
    "description": "free text (restricted)",
    "location_type": "type of place (street, residence...)",
}
DEFAULT_MAX_REJECTED_SHARE = 0.9  # "nearly every row": a wrong profile, not a few bad rows
VALUE_MAP_FIELDS = {"victim_sex": SEX_VALUES, "victim_age_group": AGE_GROUPS}

FieldName = Literal[tuple(FIELDS)]  # type: ignore[valid-type]  # the keys of FIELDS, as a type
ValueMapField = Literal[tuple(VALUE_MAP_FIELDS)]  # type: ignore[valid-type]
Text = Annotated[str, BeforeValidator(str)]  # labels and cell values as written (YAML reads `0` as a number)


class ProfileError(ImportFailed):
    """A profile that cannot be used; the message names the file and the wrong key or field."""


def _says(template: str) -> WrapValidator:
    """Replace pydantic's message for a wrong value by ``template`` (``{key}``, ``{value}``): one sentence
    saying what the key takes, as the README does, rather than "Input should be a valid integer"."""
    def check(value: Any, handler: Any, info: ValidationInfo) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise ValueError(template.format(key=info.field_name, value=value)) from None
    return WrapValidator(check)


def _strptime(fmt: str) -> str:
    if "%" not in fmt:
        raise ValueError("not a strptime format")
    return fmt


def _codec(name: str) -> str:
    try:
        codecs.lookup(name)  # here, not halfway through reading the file
    except LookupError:
        raise ValueError("unknown encoding") from None
    return name


Formats = tuple[Annotated[StrictStr, AfterValidator(_strptime)], ...]


def _table(value: Any, message: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        raise ValueError(message)
    return value


def _names(value: Any, key: str) -> list[Any]:
    """One column name or a non-empty list of them (``columns.X``, ``required``)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list | tuple) and value:  # a tuple: the default of required
        return list(value)
    raise ValueError(f"{key} must be a column name or a non-empty list of column names, not {value!r}")


def _known_fields(names: Any, what: str) -> None:
    for key in names:
        if key not in FIELDS:
            raise ValueError(f"{what} {key!r}; known fields: {', '.join(FIELDS)}")


def _variant(variant: Any, key: str) -> tuple[str, ...]:
    """One header variant: a header name, or a list of header names the row joins with ``join_with``."""
    parts = [variant] if isinstance(variant, str) else variant
    if not isinstance(parts, list) or not parts or not all(isinstance(p, str) and p.strip() for p in parts):
        raise ValueError(f"columns.{key} has an invalid entry {variant!r}: use a header name or a list of header "
                         "names to join")
    return tuple(parts)


def _required(value: Any) -> tuple[str, ...]:
    names = _names(value, "required")
    _known_fields(names, "required names an unknown field")
    return tuple(names)


def _value_map(key: str, mapping: Any) -> dict[str, str | None]:
    """``[values.<key>]``, folded: source value -> canonical value, ``""`` (unknown) stored as None."""
    if key not in VALUE_MAP_FIELDS:
        raise ValueError(f"[values.{key}]: value maps exist for {', '.join(VALUE_MAP_FIELDS)} only")
    _table(mapping, f"[values.{key}] must be a table of source value = canonical value")
    allowed = VALUE_MAP_FIELDS[key]
    for source_value, target in mapping.items():
        if target not in allowed and target != "":
            raise ValueError(f"values.{key}: {source_value!r} maps to {target!r}; use one of {', '.join(allowed)} "
                             "or \"\" for missing")
    return {fold(str(k)): (v or None) for k, v in mapping.items()}


def _check_default_category(value: str, aliases: dict[str, str]) -> None:
    """A ``[defaults] category`` must name a category: else every row would load as unclassified."""
    from rapidfuzz import process

    from observatory.taxonomy import GLOBAL_ALIASES

    cats = categories_by_code()
    known = {label_key(c.code) for c in cats.values()} | {label_key(c.name_es) for c in cats.values()}
    known |= {label_key(c.name_en) for c in cats.values()} | {label_key(k) for k in (*GLOBAL_ALIASES, *aliases)}
    if label_key(value) in known:
        return
    nearest = [code for code, _, _ in process.extract(value, list(cats), limit=3)]
    raise ValueError(f"[defaults] category = {value!r} is not a category code, name or alias; nearest codes: "
                     f"{', '.join(nearest)} (every code: `python -m observatory categories`)")


class Profile(ProfileModel):
    """A parsed, validated incident import profile: one field per key of the file (see the module's doc)."""

    kind: Literal["incidents"] = KIND  # checked first, by _known_keys: a survey profile is named as one
    name: str = ""  # "" only until _named says it is missing
    source: str = ""  # the built-in name or the file the profile came from: not a key, parse_profile sets it
    description: Annotated[StrictStr, _says("{key} must be a string, not {value!r}")] = ""
    source_kind: Annotated[Literal[SOURCE_KINDS] | None,  # type: ignore[valid-type]
                           _says("{key} = {value!r}: use 'police' or 'complaint'")] = None
    encoding: Annotated[Annotated[StrictStr, AfterValidator(_codec)] | None,
                        _says("{key} must be a text encoding such as 'utf-8' or 'cp1252', not {value!r}")] = None
    delimiter: Annotated[StrictStr | None, _says("{key} must be a string such as ';', not {value!r}")] = None
    skip_lines: Annotated[StrictInt, Ge(0), _says("{key} must be a whole number >= 0, not {value!r}")] = 0
    # spreadsheets: sheet name or number from 1 (None: the only sheet with data)
    sheet: Annotated[StrictStr | Annotated[StrictInt, Ge(1)] | None,
                     _says("{key} must be a sheet name or a sheet number from 1, not {value!r}")] = None
    date_formats: Annotated[Formats, _says("{key} must be a list of strptime formats such as '%d/%m/%Y', "
                                           "not {value!r}")] = ()
    time_formats: Annotated[Formats, _says("{key} must be a list of strptime formats such as '%H:%M' or "
                                           "'%I:%M %p', not {value!r}")] = ()
    decimal_comma: Annotated[StrictBool, _says("{key} must be true or false, not {value!r}")] = False
    crs: str = "EPSG:4326"
    na_values: Annotated[tuple[Text, ...], _says("{key} must be a list of strings, not {value!r}")] = ()
    join_with: Annotated[StrictStr, _says("{key} must be a string (the separator of joined columns), "
                                          "not {value!r}")] = "-"
    identical_rows: Annotated[Literal["keep", "drop"], _says("{key} = {value!r}: use \"keep\" (separate "
                                                             "incidents) or \"drop\" (duplicates)")] = "keep"
    max_rejected_share: Annotated[float, Strict(), Interval(ge=0, le=1), _says(
        "{key} must be a number between 0 and 1, not {value!r}")] = DEFAULT_MAX_REJECTED_SHARE
    columns: dict[FieldName, tuple[tuple[str, ...], ...]] = Field(default_factory=dict)  # variants: columns to join
    required: Annotated[tuple[FieldName, ...], BeforeValidator(_required)] = ("occurred_date",)
    defaults: dict[FieldName, Text] = Field(default_factory=dict)
    file_labels: dict[str, Text] = Field(default_factory=dict)  # folded file-name fragment -> label
    aliases: dict[str, Text] = Field(default_factory=dict)  # source label -> category code
    values: dict[ValueMapField, dict[str, str | None]] = Field(default_factory=dict)  # folded value -> canonical
    area_aliases: dict[str, str] = Field(default_factory=dict)  # folded declared name -> boundary name

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any, info: ValidationInfo) -> Any:
        """A table of an incident profile's keys; ``source`` comes from :func:`parse_profile`'s context."""
        if not isinstance(data, dict):
            raise ValueError("the file must contain a table of keys (name, columns, ...)")
        kind = data.get("kind", KIND)
        if kind != KIND:
            raise ValueError(f"kind = {kind!r}: this is not an incident profile (expected kind = {KIND!r})")
        context = info.context or {}
        keys = PROFILE_KEYS | ({"source"} if "source" not in context else set())
        unknown = sorted(map(str, set(data) - keys))
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r}; known keys: {', '.join(sorted(PROFILE_KEYS))}")
        return {**data, "source": context["source"]} if "source" in context else data

    @field_validator("name", mode="before")
    @classmethod
    def _named(cls, name: Any) -> str:
        if not isinstance(name, str) or not name.strip():
            raise ValueError("name is missing: give the profile a name (stored with every record)")
        return name.strip()

    @field_validator("crs", mode="before")
    @classmethod
    def _known_crs(cls, value: Any) -> str:
        from pyproj import CRS

        try:
            CRS.from_user_input(str(value))
        except Exception as exc:  # pyproj raises several types
            raise ValueError(f"crs = {str(value)!r} is not a CRS pyproj knows ({exc})") from None
        return str(value)

    @field_validator("columns", mode="before")
    @classmethod
    def _variants(cls, raw: Any) -> dict[str, tuple[tuple[str, ...], ...]]:
        if not isinstance(raw, dict) or not raw:
            raise ValueError("[columns] must be a table mapping canonical fields to header names")
        _known_fields(raw, "[columns] has an unknown field")
        return {key: tuple(_variant(v, key) for v in _names(value, f"columns.{key}")) for key, value in raw.items()}

    @field_validator("defaults", mode="before")
    @classmethod
    def _default_fields(cls, value: Any) -> dict[Any, Any]:
        _known_fields(_table(value, "[defaults] must be a table of field = value"), "[defaults] has an unknown field")
        return value

    @field_validator("file_labels", mode="before")
    @classmethod
    def _fold_file_labels(cls, value: Any) -> dict[str, Any]:
        table = _table(value, "[file_labels] must be a table of file-name fragment = label")
        return {fold(str(k)).replace("-", "_").replace(" ", "_"): v for k, v in table.items()}

    @field_validator("aliases", mode="before")
    @classmethod
    def _known_codes(cls, value: Any) -> dict[str, Any]:
        valid_codes = categories_by_code()
        for label, code in _table(value, "[aliases] must be a table of \"source label\" = \"category code\"").items():
            if code not in valid_codes:
                raise ValueError(f"aliases: label {label!r} maps to unknown category {code!r}; categories: "
                                 f"{', '.join(valid_codes)} ({CATEGORIES_HINT})")
        return {str(k): v for k, v in value.items()}

    @field_validator("values", mode="before")
    @classmethod
    def _value_maps(cls, value: Any) -> dict[str, dict[str, str | None]]:
        table = _table(value or {}, "[values] must hold tables such as [values.victim_sex]")
        return {str(key): _value_map(str(key), mapping) for key, mapping in table.items()}

    @field_validator("area_aliases", mode="before")
    @classmethod
    def _fold_area_names(cls, value: Any) -> dict[str, str]:
        if not isinstance(value, dict) or not all(isinstance(v, str) and v.strip() for v in value.values()):
            raise ValueError("[area_aliases] must be a table of \"declared area name\" = \"boundary area name\"")
        return {fold(str(k)): v.strip() for k, v in value.items()}

    @model_validator(mode="after")
    def _dated_and_classified(self) -> Profile:
        """Every incident needs a date, and a default category must name one (not load as unclassified)."""
        if "occurred_date" not in self.columns and "occurred_date" not in self.defaults:
            raise ValueError("columns.occurred_date is missing: every incident needs a date of occurrence")
        if "category" in self.defaults:
            _check_default_category(self.defaults["category"], self.aliases)
        return self

    def label_for_file(self, path: str | Path) -> str | None:
        """The label the profile's ``file_labels`` give a file (by its name), or None."""
        stem = fold(Path(path).name).replace("-", "_").replace(" ", "_")
        for fragment, label in self.file_labels.items():
            if fragment in stem:
                return label
        return None


PROFILE_KEYS = frozenset(Profile.model_fields) - {"source"}  # the keys a profile file may have


def parse_profile(data: dict[str, Any], source: str) -> Profile:
    """Validate a profile mapping (as read from TOML/YAML) into a :class:`Profile`.

    ``source`` names the profile in messages. Raises :class:`ProfileError` naming the key.
    """
    try:
        return Profile.model_validate(data, context={"source": source})
    except ValidationError as exc:
        raise ProfileError(explain(exc, f"profile {source}")) from None


def read_profile_file(path: Path, error: type[ImportFailed] = ProfileError) -> dict[str, Any]:
    """The mapping in a ``.toml`` / ``.yaml`` profile file; unreadable files raise ``error`` naming the file."""
    try:
        if path.suffix.lower() == ".toml":
            with open(path, "rb") as fh:
                return tomllib.load(fh)
        if path.suffix.lower() in (".yaml", ".yml"):
            return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, yaml.YAMLError, UnicodeDecodeError) as exc:
        raise error(f"{path}: the profile cannot be parsed ({exc})") from None
    raise error(f"{path}: a profile must be a .toml, .yaml or .yml file")


def builtin_profile_names(kind: str) -> list[str]:
    """Names of the built-in profiles of ``kind`` ("incidents" or "survey"); no ``kind`` key means incidents."""
    names = []
    for path in sorted(PROFILES_DIR.glob("*.toml")):
        with open(path, "rb") as fh:
            if tomllib.load(fh).get("kind", KIND) == kind:
                names.append(path.stem)
    return names


def builtin_profiles() -> list[str]:
    """Names of the built-in incident profiles."""
    return builtin_profile_names(KIND)


def profile_file(name_or_path: str | Path, kind: str, error: type[ImportFailed] = ProfileError) -> tuple[Path, str]:
    """(file, source) of a profile given by built-in name or by path; ``source`` names it in messages
    (the built-in name, or the path). ``kind`` is "incidents" or "survey"; a missing one raises ``error``."""
    what = "incident" if kind == KIND else kind
    path = Path(name_or_path)
    if not path.suffix and path.parent == Path("."):
        builtin = PROFILES_DIR / f"{name_or_path}.toml"
        if not builtin.exists():
            prefix = "" if kind == KIND else f"{kind} "
            raise error(f"unknown {prefix}profile {str(name_or_path)!r}: built-in {what} profiles are "
                        f"{', '.join(builtin_profile_names(kind))}, or give the path to a .toml/.yaml file")
        path = builtin
    if not path.exists():
        raise error(f"{'' if kind == KIND else kind + ' '}profile file not found: {path}")
    return path, path.stem if path.parent == PROFILES_DIR else str(path)


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a built-in incident profile by name, or a ``.toml``/``.yaml`` profile file by path.

    Raises :class:`ProfileError` with a message naming the file and the wrong key or field.
    """
    path, source = profile_file(name_or_path, KIND)
    return parse_profile(read_profile_file(path), source)
