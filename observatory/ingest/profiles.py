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

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

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
TOP_LEVEL_KEYS = {
    "kind", "name", "description", "source_kind", "encoding", "delimiter", "skip_lines", "date_formats",
    "decimal_comma", "crs", "na_values", "required", "columns", "defaults", "file_labels", "aliases", "values",
    "join_with", "time_formats", "identical_rows", "max_rejected_share", "area_aliases", "sheet",
}
DEFAULT_MAX_REJECTED_SHARE = 0.9  # "nearly every row": a wrong profile, not a few bad rows
VALUE_MAP_FIELDS = {"victim_sex": SEX_VALUES, "victim_age_group": AGE_GROUPS}


class ProfileError(ImportFailed):
    """A profile that cannot be used; the message names the file and the wrong key or field."""


@dataclass(frozen=True)
class Profile:
    """A parsed, validated incident import profile."""

    name: str
    source: str  # the built-in name or the file the profile came from
    columns: dict[str, tuple[tuple[str, ...], ...]]  # field -> variants, each a tuple of columns to join
    description: str = ""
    source_kind: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    skip_lines: int = 0
    sheet: str | int | None = None  # spreadsheets: sheet name or number from 1 (None: the only sheet with data)
    date_formats: tuple[str, ...] = ()
    decimal_comma: bool = False
    crs: str = "EPSG:4326"
    na_values: tuple[str, ...] = ()
    join_with: str = "-"  # separator of the columns a composite variant joins
    required: tuple[str, ...] = ("occurred_date",)
    defaults: dict[str, str] = field(default_factory=dict)
    file_labels: dict[str, str] = field(default_factory=dict)  # folded file-name fragment -> label
    aliases: dict[str, str] = field(default_factory=dict)  # source label -> category code
    values: dict[str, dict[str, str | None]] = field(default_factory=dict)  # field -> folded value -> canonical
    time_formats: tuple[str, ...] = ()
    identical_rows: str = "keep"  # "keep" | "drop"
    max_rejected_share: float = DEFAULT_MAX_REJECTED_SHARE
    area_aliases: dict[str, str] = field(default_factory=dict)  # folded declared name -> boundary name

    def label_for_file(self, path: str | Path) -> str | None:
        """The label the profile's ``file_labels`` give a file (by its name), or None."""
        stem = fold(Path(path).name).replace("-", "_").replace(" ", "_")
        for fragment, label in self.file_labels.items():
            if fragment in stem:
                return label
        return None


def _fail(where: str, message: str) -> ProfileError:
    return ProfileError(f"{where}: {message}")


def _string_list(value: Any, where: str, key: str) -> list[Any]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value:
        return value
    raise _fail(where, f"{key} must be a column name or a non-empty list of column names, not {value!r}")


def _parse_columns(raw: Any, where: str) -> dict[str, tuple[tuple[str, ...], ...]]:
    if not isinstance(raw, dict) or not raw:
        raise _fail(where, "[columns] must be a table mapping canonical fields to header names")
    columns: dict[str, tuple[tuple[str, ...], ...]] = {}
    for key, value in raw.items():
        if key not in FIELDS:
            raise _fail(where, f"[columns] has an unknown field {key!r}; known fields: {', '.join(FIELDS)}")
        variants: list[tuple[str, ...]] = []
        for variant in _string_list(value, where, f"columns.{key}"):
            parts = [variant] if isinstance(variant, str) else variant
            if not isinstance(parts, list) or not parts or not all(isinstance(p, str) and p.strip() for p in parts):
                raise _fail(where, f"columns.{key} has an invalid entry {variant!r}: use a header name or a list of "
                                   "header names to join")
            variants.append(tuple(parts))
        columns[key] = tuple(variants)
    return columns


def _parse_options(data: dict[str, Any], where: str) -> dict[str, Any]:
    """The keys about times, repeated rows, the rejection limit and area names, validated."""
    time_formats = data.get("time_formats", [])
    if not isinstance(time_formats, list) or not all(isinstance(f, str) and "%" in f for f in time_formats):
        raise _fail(where, f"time_formats must be a list of strptime formats such as '%H:%M' or '%I:%M %p', "
                           f"not {time_formats!r}")
    identical = data.get("identical_rows", "keep")
    if identical not in ("keep", "drop"):
        raise _fail(where, f"identical_rows = {identical!r}: use \"keep\" (separate incidents) or \"drop\" "
                           "(duplicates)")
    share = data.get("max_rejected_share", DEFAULT_MAX_REJECTED_SHARE)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise _fail(where, f"max_rejected_share must be a number between 0 and 1, not {share!r}")
    area_aliases = data.get("area_aliases", {})
    if not isinstance(area_aliases, dict) or not all(isinstance(v, str) and v.strip() for v in area_aliases.values()):
        raise _fail(where, "[area_aliases] must be a table of \"declared area name\" = \"boundary area name\"")
    return {"time_formats": tuple(time_formats), "identical_rows": identical, "max_rejected_share": float(share),
            "area_aliases": {fold(k): v.strip() for k, v in area_aliases.items()}}


def _check_default_category(defaults: dict[str, Any], aliases: dict[str, Any], where: str) -> None:
    """A ``[defaults] category`` must name a category: else every row would load as unclassified."""
    value = defaults.get("category")
    if value is None:
        return
    from rapidfuzz import process

    from observatory.taxonomy import GLOBAL_ALIASES

    cats = categories_by_code()
    known = {label_key(c.code) for c in cats.values()} | {label_key(c.name_es) for c in cats.values()}
    known |= {label_key(c.name_en) for c in cats.values()} | {label_key(k) for k in (*GLOBAL_ALIASES, *aliases)}
    if label_key(str(value)) in known:
        return
    nearest = [code for code, _, _ in process.extract(str(value), list(cats), limit=3)]
    raise _fail(where, f"[defaults] category = {value!r} is not a category code, name or alias; nearest codes: "
                       f"{', '.join(nearest)} (every code: `python -m observatory categories`)")


def _check_top(data: Any, where: str) -> str:
    """The profile's name, after checking it is an incident profile with known keys only."""
    if not isinstance(data, dict):
        raise _fail(where, "the file must contain a table of keys (name, columns, ...)")
    kind = data.get("kind", KIND)
    if kind != KIND:
        raise _fail(where, f"kind = {kind!r}: this is not an incident profile (expected kind = {KIND!r})")
    unknown = sorted(set(data) - TOP_LEVEL_KEYS)
    if unknown:
        raise _fail(where, f"unknown key {unknown[0]!r}; known keys: {', '.join(sorted(TOP_LEVEL_KEYS))}")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(where, "name is missing: give the profile a name (stored with every record)")
    source_kind = data.get("source_kind")
    if source_kind is not None and source_kind not in SOURCE_KINDS:
        raise _fail(where, f"source_kind = {source_kind!r}: use 'police' or 'complaint'")
    return name.strip()


def _parse_crs(data: dict[str, Any], where: str) -> str:
    crs = str(data.get("crs", "EPSG:4326"))
    try:
        from pyproj import CRS

        CRS.from_user_input(crs)
    except Exception as exc:  # pyproj raises several types
        raise _fail(where, f"crs = {crs!r} is not a CRS pyproj knows ({exc})") from None
    return crs


def _parse_fields(data: dict[str, Any], columns: dict, where: str) -> tuple[tuple[str, ...], dict[str, Any]]:
    """``required`` and ``[defaults]``: known fields only, and a date for every incident."""
    required = tuple(_string_list(data.get("required", ["occurred_date"]), where, "required"))
    for key in required:
        if key not in FIELDS:
            raise _fail(where, f"required names an unknown field {key!r}; known fields: {', '.join(FIELDS)}")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise _fail(where, "[defaults] must be a table of field = value")
    if "occurred_date" not in columns and "occurred_date" not in defaults:
        raise _fail(where, "columns.occurred_date is missing: every incident needs a date of occurrence")
    for key in defaults:
        if key not in FIELDS:
            raise _fail(where, f"[defaults] has an unknown field {key!r}; known fields: {', '.join(FIELDS)}")
    return required, defaults


def _parse_aliases(data: dict[str, Any], defaults: dict[str, Any], where: str) -> dict[str, str]:
    valid_codes = categories_by_code()
    aliases = data.get("aliases", {})
    if not isinstance(aliases, dict):
        raise _fail(where, "[aliases] must be a table of \"source label\" = \"category code\"")
    _check_default_category(defaults, aliases, where)
    for label, code in aliases.items():
        if code not in valid_codes:
            raise _fail(where, f"aliases: label {label!r} maps to unknown category {code!r}; categories: "
                               f"{', '.join(valid_codes)} ({CATEGORIES_HINT})")
    return {str(k): str(v) for k, v in aliases.items()}


def _parse_values(data: dict[str, Any], where: str) -> dict[str, dict[str, str | None]]:
    values: dict[str, dict[str, str | None]] = {}
    for key, mapping in (data.get("values") or {}).items():
        if key not in VALUE_MAP_FIELDS:
            raise _fail(where, f"[values.{key}]: value maps exist for {', '.join(VALUE_MAP_FIELDS)} only")
        if not isinstance(mapping, dict):
            raise _fail(where, f"[values.{key}] must be a table of source value = canonical value")
        allowed = VALUE_MAP_FIELDS[key]
        for source_value, target in mapping.items():
            if target not in allowed and target != "":
                raise _fail(where, f"values.{key}: {source_value!r} maps to {target!r}; use one of "
                                   f"{', '.join(allowed)} or \"\" for missing")
        values[key] = {fold(k): (v or None) for k, v in mapping.items()}
    return values


def _parse_layout(data: dict[str, Any], where: str) -> dict[str, Any]:
    """How the file is written: dates, lines to skip, the join separator, NA markers, file labels."""
    date_formats = data.get("date_formats", [])
    if not isinstance(date_formats, list) or not all(isinstance(f, str) and "%" in f for f in date_formats):
        raise _fail(where, f"date_formats must be a list of strptime formats such as '%d/%m/%Y', not {date_formats!r}")
    file_labels = data.get("file_labels", {})
    if not isinstance(file_labels, dict):
        raise _fail(where, "[file_labels] must be a table of file-name fragment = label")
    skip_lines = data.get("skip_lines", 0)
    if not isinstance(skip_lines, int) or skip_lines < 0:
        raise _fail(where, f"skip_lines must be a whole number >= 0, not {skip_lines!r}")
    sheet = data.get("sheet")
    if sheet is not None and (isinstance(sheet, bool) or not isinstance(sheet, str | int)
                              or (isinstance(sheet, int) and sheet < 1)):
        raise _fail(where, f"sheet must be a sheet name or a sheet number from 1, not {sheet!r}")
    join_with = data.get("join_with", "-")
    if not isinstance(join_with, str):
        raise _fail(where, f"join_with must be a string (the separator of joined columns), not {join_with!r}")
    na_values = data.get("na_values", [])
    if not isinstance(na_values, list):
        raise _fail(where, "na_values must be a list of strings")
    return {"date_formats": tuple(date_formats), "skip_lines": skip_lines, "sheet": sheet, "join_with": join_with,
            "na_values": tuple(str(v) for v in na_values),
            "file_labels": {fold(k).replace("-", "_").replace(" ", "_"): str(v) for k, v in file_labels.items()}}


def parse_profile(data: dict[str, Any], source: str) -> Profile:
    """Validate a profile mapping (as read from TOML/YAML) into a :class:`Profile`.

    ``source`` names the profile in messages. Raises :class:`ProfileError` naming the key.
    """
    where = f"profile {source}"
    name = _check_top(data, where)
    columns = _parse_columns(data.get("columns"), where)
    crs = _parse_crs(data, where)
    required, defaults = _parse_fields(data, columns, where)
    aliases = _parse_aliases(data, defaults, where)
    return Profile(
        name=name, source=source, columns=columns, description=str(data.get("description", "")),
        source_kind=data.get("source_kind"), encoding=data.get("encoding"), delimiter=data.get("delimiter"),
        decimal_comma=bool(data.get("decimal_comma", False)), crs=crs, required=required,
        defaults={k: str(v) for k, v in defaults.items()}, aliases=aliases, values=_parse_values(data, where),
        **_parse_layout(data, where), **_parse_options(data, where),
    )


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


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a built-in incident profile by name, or a ``.toml``/``.yaml`` profile file by path.

    Raises :class:`ProfileError` with a message naming the file and the wrong key or field.
    """
    path = Path(name_or_path)
    if not path.suffix and path.parent == Path("."):
        builtin = PROFILES_DIR / f"{name_or_path}.toml"
        if not builtin.exists():
            raise ProfileError(f"unknown profile {str(name_or_path)!r}: built-in incident profiles are "
                               f"{', '.join(builtin_profiles())}, or give the path to a .toml/.yaml file")
        path = builtin
    if not path.exists():
        raise ProfileError(f"profile file not found: {path}")
    source = path.stem if path.parent == PROFILES_DIR else str(path)
    return parse_profile(read_profile_file(path), source)
