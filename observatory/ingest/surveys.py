r"""Survey microdata ingestion: one row per respondent (or crime event) with its expansion weight.

A survey profile (TOML or YAML, built-ins in ``observatory/ingest/profiles/``) describes a file:
which columns identify a respondent, which holds the weight, the area code, sex and age, how
the wave is named, and a codebook mapping source columns and codes onto the canonical items of
:mod:`observatory.ingest.survey_items`. No code per survey: ENVIPE, ENSU, ECSC and the generic
format are all profiles.

Every row is counted: loaded, rejected (missing or invalid weight, blank or repeated id, no
wave) or duplicate (already stored for the same wave, unit and respondent key), so importing a
file again adds nothing. A batch is atomic: the rows, the waves and the batch record are written
in one transaction.

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

import datetime as dt
import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Column, Connection, Engine, Integer, MetaData, String, Table, insert, select, update

from observatory.db.models import BoundaryLayer, Neighbourhood, SurveyResponse, SurveyWave
from observatory.indicators.survey import DEFAULT_DEFINITION, ReportingDefinition, parse_definition
from observatory.ingest.batches import close_batch, open_batch
from observatory.ingest.profiles import PROFILES_DIR, builtin_profile_names, read_profile_file
from observatory.ingest.readers import InputFileError, read_table
from observatory.ingest.report import ImportFailed, ImportReport, file_sha256, write_rejects_csv
from observatory.ingest.survey_items import ITEMS, UNITS, age_group, check_value

MISSING = "missing"  # codebook value meaning "store as missing" (TOML has no null)
DEFAULT_SEX_CODES = {"1": "M", "2": "F", "m": "M", "f": "F", "h": "M", "x": "X", "3": "X"}
INSERT_CHUNK = 5000
REASSIGN_CHUNK = 100_000  # stored responses read per round trip in reassign_survey_responses


class SurveyProfileError(ImportFailed):
    """A survey profile that cannot be used; the message names the profile and the key."""


@dataclass(frozen=True)
class ItemMap:
    """How one canonical item is read from the file."""

    item: str
    columns: tuple[str, ...]
    combine: str  # first (release variants: the first column present) | any | sum
    codes: dict[str, Any] | None  # code key -> canonical value (None = missing); None: numeric
    blank: Any = None
    missing: tuple[str, ...] = ()
    optional: bool = False
    constant: Any = None  # the same value for every row (e.g. the crime type of a module file)


@dataclass(frozen=True)
class Join:
    """Columns (or a presence flag) taken from a sibling table sharing a key."""

    files: tuple[str, ...]
    on: tuple[str, ...]
    columns: tuple[str, ...] = ()
    flag_item: str | None = None
    required: bool = True


@dataclass(frozen=True)
class SurveyProfile:
    """A parsed, validated survey profile."""

    name: str
    source: str
    unit: str
    respondent_id: tuple[str, ...]
    weight: tuple[str, ...]
    items: tuple[ItemMap, ...]
    description: str = ""
    encoding: str | None = None
    delimiter: str | None = None
    skip_lines: int = 0
    household_id: tuple[str, ...] = ()
    area_code: tuple[str, ...] = ()
    area_code_pad: int | None = None
    sex: tuple[str, ...] = ()
    sex_codes: dict[str, str | None] = field(default_factory=dict)
    age: tuple[str, ...] = ()
    age_missing: tuple[str, ...] = ()
    stratum: tuple[str, ...] = ()
    psu: tuple[str, ...] = ()
    wave: str | None = None
    wave_column: str | None = None
    wave_pattern: str | None = None
    wave_template: str | None = None
    wave_file_pattern: str | None = None  # regex on the file name, e.g. '(?P<year>20\d\d)'
    period: str | None = None  # reference period rule: year | previous_year | quarter
    reference_months: int | None = None
    victim_any_from_items: bool = False
    key_prefix: str | None = None  # prepended to respondent keys ("<prefix>:<key>")
    canonical_columns: bool = False  # columns named like canonical items are read as such
    joins: tuple[Join, ...] = ()
    # How the agency defines its published figures (reporting universe, dark figure): data, not code.
    definitions: ReportingDefinition = DEFAULT_DEFINITION
    territory_column: tuple[str, ...] = ()  # columns naming the survey's territory (ENSU: CD, the city)
    territory: str | None = None  # the code kept as the observatory's own territory (--territory overrides)
    territory_level: str = "city"  # what the territory is: city | state | municipality


# --------------------------------------------------------------------------- profiles


def code_key(value: object) -> str:
    """Matching key of a source code: integers lose leading zeros ("05" == "5"), text is case-folded."""
    text = str(value).replace("\r", "").strip()
    if re.fullmatch(r"[+-]?\d+(\.0*)?", text):
        return str(int(float(text)))
    return text.casefold()


def _as_tuple(value: object, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise SurveyProfileError(f"{where}: expected a column name or a list of column names, got {value!r}")


def _canonical(item: str, value: object, where: str) -> object:
    if isinstance(value, str) and value.strip().casefold() in (MISSING, "na", "null", ""):
        return None
    try:
        return check_value(item, value)
    except ValueError as exc:
        raise SurveyProfileError(f"{where}: {exc}") from None


def _parse_item(name: str, spec: object, where: str) -> ItemMap:
    if name not in ITEMS:
        raise SurveyProfileError(f"{where}: {name!r} is not a canonical survey item "
                                 f"(see observatory/ingest/survey_items.py)")
    if not isinstance(spec, dict):
        raise SurveyProfileError(f"{where}: expected a table with 'column' and 'codes'")
    unknown = set(spec) - {"column", "columns", "combine", "codes", "blank", "missing", "optional", "value"}
    if unknown:
        raise SurveyProfileError(f"{where}: unknown key(s) {sorted(unknown)}")
    if "value" in spec:
        return ItemMap(name, (), "constant", None, constant=_canonical(name, spec["value"], f"{where}.value"))
    if "column" in spec and "columns" in spec:
        raise SurveyProfileError(f"{where}: give either 'column' (variants) or 'columns' (combined), not both")
    if "columns" in spec:
        columns = _as_tuple(spec["columns"], f"{where}.columns")
        combine = spec.get("combine", "any")
        if combine not in ("any", "sum"):
            raise SurveyProfileError(f"{where}.combine: {combine!r} must be 'any' or 'sum'")
    else:
        columns = _as_tuple(spec.get("column"), f"{where}.column")
        combine = "first"
    if not columns:
        raise SurveyProfileError(f"{where}: no column given")
    codes = None
    if "codes" in spec:
        if not isinstance(spec["codes"], dict):
            raise SurveyProfileError(f"{where}.codes: expected a table of code = value")
        codes = {code_key(k): _canonical(name, v, f"{where}.codes[{k!r}]") for k, v in spec["codes"].items()}
    blank = _canonical(name, spec["blank"], f"{where}.blank") if "blank" in spec else None
    missing = tuple(code_key(m) for m in _as_tuple(spec.get("missing"), f"{where}.missing"))
    return ItemMap(name, columns, combine, codes, blank, missing, bool(spec.get("optional", False)))


def _parse_join(spec: object, where: str) -> Join:
    if not isinstance(spec, dict):
        raise SurveyProfileError(f"{where}: expected a table with file, on, columns or flag_item")
    files = _as_tuple(spec.get("file"), f"{where}.file")
    on = _as_tuple(spec.get("on"), f"{where}.on")
    columns = _as_tuple(spec.get("columns"), f"{where}.columns")
    flag = spec.get("flag_item")
    if not files or not on or not (columns or flag):
        raise SurveyProfileError(f"{where}: 'file', 'on' and 'columns' or 'flag_item' are required")
    if flag is not None and (flag not in ITEMS or ITEMS[flag].kind != "binary"):
        raise SurveyProfileError(f"{where}.flag_item: {flag!r} is not a binary canonical item")
    return Join(files, on, columns, flag, bool(spec.get("required", flag is None)))


def parse_survey_profile(data: dict[str, Any], source: str) -> SurveyProfile:
    """Validate a profile mapping (as read from TOML/YAML) into a :class:`SurveyProfile`.

    Raises :class:`SurveyProfileError` naming ``source`` and the offending key.
    """
    where = f"survey profile {source}"
    if not isinstance(data, dict):
        raise SurveyProfileError(f"{where}: expected a mapping at the top level")
    kind = data.get("kind", "survey")
    if kind != "survey":
        raise SurveyProfileError(f"{where}: kind = {kind!r}, not a survey profile")
    unit = data.get("unit", "person")
    if unit not in UNITS:
        raise SurveyProfileError(f"{where}: unit = {unit!r} must be one of {', '.join(UNITS)}")
    respondent_id = _as_tuple(data.get("respondent_id"), f"{where}: respondent_id")
    weight = _as_tuple(data.get("weight"), f"{where}: weight")
    if not respondent_id or not weight:
        raise SurveyProfileError(f"{where}: 'respondent_id' and 'weight' are required")
    items_spec = data.get("items", {})
    if not isinstance(items_spec, dict):
        raise SurveyProfileError(f"{where}: 'items' must be a table of item = {{column, codes}}")
    items = tuple(_parse_item(k, v, f"{where}: items.{k}") for k, v in items_spec.items())
    joins_spec = data.get("join", [])
    if isinstance(joins_spec, dict):
        joins_spec = [joins_spec]
    joins = tuple(_parse_join(j, f"{where}: join[{i}]") for i, j in enumerate(joins_spec))
    sex_codes = {code_key(k): (None if str(v).casefold() == MISSING else str(v).upper())
                 for k, v in (data.get("sex_codes") or DEFAULT_SEX_CODES).items()}
    bad_sex = {v for v in sex_codes.values() if v not in (None, "F", "M", "X")}
    if bad_sex:
        raise SurveyProfileError(f"{where}: sex_codes values must be F, M, X or 'missing', got {sorted(bad_sex)}")
    period = data.get("period")
    if period not in (None, "year", "previous_year", "quarter"):
        raise SurveyProfileError(f"{where}: period = {period!r} must be year, previous_year or quarter")
    for key in ("wave_pattern", "wave_file_pattern"):
        if data.get(key):
            try:
                re.compile(data[key])
            except re.error as exc:
                raise SurveyProfileError(f"{where}: {key} is not a valid regular expression ({exc})") from None
    try:
        definitions = parse_definition(data.get("definitions"))
    except ValueError as exc:
        raise SurveyProfileError(f"{where}: definitions: {exc}") from None
    territory = data.get("territory")
    return SurveyProfile(
        definitions=definitions,
        territory_column=_as_tuple(data.get("territory_column"), f"{where}: territory_column"),
        territory=None if territory in (None, "") else str(territory),
        territory_level=str(data.get("territory_level", "city")),
        name=str(data.get("name") or Path(source).stem), source=source, unit=unit,
        respondent_id=respondent_id, weight=weight, items=items,
        description=str(data.get("description", "")), encoding=data.get("encoding"),
        delimiter=data.get("delimiter"), skip_lines=int(data.get("skip_lines", 0)),
        household_id=_as_tuple(data.get("household_id"), f"{where}: household_id"),
        area_code=_as_tuple(data.get("area_code"), f"{where}: area_code"),
        area_code_pad=data.get("area_code_pad"),
        sex=_as_tuple(data.get("sex"), f"{where}: sex"), sex_codes=sex_codes,
        age=_as_tuple(data.get("age"), f"{where}: age"),
        age_missing=tuple(code_key(a) for a in _as_tuple(data.get("age_missing"), f"{where}: age_missing")),
        stratum=_as_tuple(data.get("stratum"), f"{where}: stratum"),
        psu=_as_tuple(data.get("psu"), f"{where}: psu"),
        wave=data.get("wave"), wave_column=data.get("wave_column"), wave_pattern=data.get("wave_pattern"),
        wave_template=data.get("wave_template"), wave_file_pattern=data.get("wave_file_pattern"),
        period=period,
        reference_months=data.get("reference_months"),
        victim_any_from_items=bool(data.get("victim_any_from_items", False)),
        canonical_columns=bool(data.get("canonical_columns", False)), joins=joins,
        key_prefix=str(data["key_prefix"]) if data.get("key_prefix") else None,
    )


def builtin_survey_profiles() -> list[str]:
    """Names of the built-in survey profiles."""
    return builtin_profile_names("survey")


def load_survey_profile(name_or_path: str | Path) -> SurveyProfile:
    """Load a built-in survey profile by name, or a ``.toml`` / ``.yaml`` file by path."""
    path = Path(name_or_path)
    if not path.suffix:
        builtin = PROFILES_DIR / f"{name_or_path}.toml"
        if not builtin.exists():
            raise SurveyProfileError(f"unknown survey profile {name_or_path!r}: built-in survey profiles are "
                                     f"{', '.join(builtin_survey_profiles())}, or give the path to a .toml/.yaml file")
        path = builtin
    if not path.exists():
        raise SurveyProfileError(f"survey profile file not found: {path}")
    data = read_profile_file(path, SurveyProfileError)
    source = path.stem if path.parent == PROFILES_DIR else str(path)
    return parse_survey_profile(data, source)


# --------------------------------------------------------------------------- normalisation


@dataclass
class Normalised:
    """Canonical rows of one file, plus what was rejected and noticed on the way."""

    frame: pd.DataFrame  # wave, respondent_key, household_key, weight, area_code, sex, age_group,
    # stratum, psu, items (dict), row_number
    rejections: list[tuple[int, str | None, str, dict[str, Any]]]
    total: int
    warnings: list[str]
    periods: dict[str, tuple[dt.date, dt.date]] = field(default_factory=dict)  # wave -> reference period


def _resolve(header: dict[str, str], names: tuple[str, ...]) -> str | None:
    """The actual header name of the first of ``names`` present (case-insensitive)."""
    for name in names:
        if name.upper() in header:
            return header[name.upper()]
    return None


def _require(header: dict[str, str], names: tuple[str, ...], profile: SurveyProfile, key: str, path: Path) -> str:
    column = _resolve(header, names)
    if column is None:
        raise ImportFailed(f"{path}: column {' or '.join(names)} (profile {profile.name}, field {key}) is not in "
                           f"the header; the file has: {', '.join(list(header.values())[:40])}")
    return column


def _composite(frame: pd.DataFrame, header: dict[str, str], names: tuple[str, ...], sep: str,
               profile: SurveyProfile, key: str, path: Path) -> pd.Series:
    columns = [_require(header, (n,), profile, key, path) for n in names]
    parts = [frame[c].astype(str).str.strip() for c in columns]
    out = parts[0]
    for part in parts[1:]:
        out = out + sep + part
    blank = pd.concat([p == "" for p in parts], axis=1).all(axis=1)
    return out.where(~blank, None)


def parse_number(series: pd.Series) -> pd.Series:
    """Numbers from text: decimal point or comma, scientific notation; NaN when not a number."""
    text = series.astype(str).str.strip()
    comma = text.str.contains(",", regex=False) & ~text.str.contains(".", regex=False)
    text = text.where(~comma, text.str.replace(",", ".", regex=False))
    return pd.to_numeric(text, errors="coerce")


def _item_values(frame: pd.DataFrame, header: dict[str, str], spec: ItemMap, profile: SurveyProfile,
                 path: Path, warnings: list[str], row_numbers: list[int]) -> pd.Series | None:
    if spec.combine == "constant":
        return pd.Series([spec.constant] * len(frame), index=frame.index, dtype=object)
    present = [_resolve(header, (c,)) for c in spec.columns]
    if spec.combine == "first":
        present = [c for c in present if c is not None][:1]
    if not any(present) or (spec.combine != "first" and None in present):
        if spec.optional:
            return None
        missing = [c for c, p in zip(spec.columns, present, strict=True) if p is None]
        raise ImportFailed(f"{path}: column {' or '.join(missing or spec.columns)} (profile {profile.name}, "
                           f"item {spec.item}) is not in the header")
    values = []
    for column in present:
        raw = frame[column].astype(str).str.strip()
        blank = raw == ""
        keys = raw.map(code_key)
        is_missing = keys.isin(spec.missing) if spec.missing else pd.Series(False, index=raw.index)
        if spec.codes is not None:
            known = keys.isin(list(spec.codes))
            mapped = keys.map(lambda k: spec.codes.get(k)).astype(object)
        elif ITEMS[spec.item].kind == "category":
            mapped = raw.astype(object)
            known = ~blank
        else:
            mapped = parse_number(raw).astype(object)
            known = mapped.notna()
        unknown = ~known & ~blank & ~is_missing
        if unknown.any():
            first = row_numbers[int(np.flatnonzero(unknown.to_numpy())[0])]
            codes = Counter(raw[unknown]).most_common(5)
            warnings.append(f"column {column} (item {spec.item}): {int(unknown.sum())} rows with values not in the "
                            f"codebook {dict(codes)}, stored as missing (first at row {first})")
        out = mapped.where(known & ~is_missing, None)
        out = out.where(~blank, spec.blank)
        values.append(out)
    if len(values) == 1:
        result = values[0]
    else:
        numeric = pd.concat([pd.to_numeric(v, errors="coerce") for v in values], axis=1)
        result = numeric.max(axis=1) if spec.combine == "any" else numeric.sum(axis=1, min_count=1)
        result = result.astype(object).where(result.notna(), None)
    checked = []
    bad: list[int] = []
    for position, value in enumerate(result):
        if _is_missing(value):
            checked.append(None)
            continue
        try:
            checked.append(check_value(spec.item, value))
        except ValueError as exc:
            bad.append(position)
            reason = str(exc)
            checked.append(None)
    if bad:
        warnings.append(f"column {', '.join(c for c in present if c)} (item {spec.item}): {len(bad)} values outside "
                        f"the item's value set, stored as missing (first at row {row_numbers[bad[0]]}: {reason})")
    return pd.Series(checked, index=frame.index, dtype=object)


def _join_key(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    key = frame[columns[0]].astype(str).str.strip()
    for column in columns[1:]:
        key = key + "-" + frame[column].astype(str).str.strip()
    return key


def _apply_joins(frame: pd.DataFrame, profile: SurveyProfile, path: Path,
                 warnings: list[str]) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
    """Add joined columns to ``frame``; return it with the presence-flag items."""
    flags: dict[str, pd.Series] = {}
    header = {c.upper(): c for c in frame.columns}
    for join in profile.joins:
        other = next((path.parent / f for f in join.files if (path.parent / f).exists()), None)
        if other is None:
            message = (f"{path}: profile {profile.name} needs the table {' or '.join(join.files)} in the same "
                       f"folder (joined on {', '.join(join.on)})")
            if join.required:
                raise ImportFailed(message)
            warnings.append(message + ": not found, its items are missing")
            if join.flag_item:
                flags[join.flag_item] = pd.Series(None, index=frame.index, dtype=object)
            continue
        table = read_table(other, encoding=profile.encoding, delimiter=profile.delimiter)
        right = table.frame
        right_header = {c.upper(): c for c in right.columns}
        left_on = [_require(header, (k,), profile, "join.on", path) for k in join.on]
        right_on = [_require(right_header, (k,), profile, "join.on", other) for k in join.on]
        left_key = _join_key(frame, left_on)
        right_key = _join_key(right, right_on)
        if join.flag_item:
            flags[join.flag_item] = left_key.isin(set(right_key)).astype(int).astype(object)
            continue
        for name in join.columns:
            col = _require(right_header, (name,), profile, "join.columns", other)
            lookup = pd.Series(right[col].to_numpy(), index=right_key.to_numpy())
            lookup = lookup[~lookup.index.duplicated()]
            frame[col if col.upper() not in header else f"{col}_joined"] = left_key.map(lookup).fillna("")
            unmatched = int((~left_key.isin(lookup.index)).sum())
            if unmatched:
                warnings.append(f"{unmatched} rows have no match in {other.name} on {', '.join(join.on)}")
        header = {c.upper(): c for c in frame.columns}
    return frame, flags


def wave_period(rule: str | None, groups: dict[str, str]) -> tuple[dt.date, dt.date] | None:
    """The reference period of a wave from the groups its name was built from.

    ``rule``: "year" (the year in ``year``/``yy``), "previous_year" (the year before: ENVIPE 2021
    asks about 2020) or "quarter" (the calendar quarter of ``month`` in that year). None when
    the rule or the groups are missing.
    """
    if not rule:
        return None
    year = groups.get("year") or (f"20{groups['yy']}" if groups.get("yy") else None)
    if not year or not year.isdigit():
        return None
    y = int(year)
    if rule == "year":
        return dt.date(y, 1, 1), dt.date(y, 12, 31)
    if rule == "previous_year":
        return dt.date(y - 1, 1, 1), dt.date(y - 1, 12, 31)
    if rule == "quarter" and groups.get("month", "").isdigit() and 1 <= int(groups["month"]) <= 12:
        first = (int(groups["month"]) - 1) // 3 * 3 + 1
        last = dt.date(y + (first == 10), 1 if first == 10 else first + 3, 1) - dt.timedelta(days=1)
        return dt.date(y, first, 1), last
    return None


def _wave_names(frame: pd.DataFrame, header: dict[str, str], profile: SurveyProfile, wave: str | None,
                path: Path) -> tuple[pd.Series, dict[str, tuple[dt.date, dt.date]]]:
    """The wave name of every row, and the reference period of the waves that have one."""
    if wave:
        return pd.Series(wave, index=frame.index, dtype=object), {}
    if profile.wave_column:
        column = _require(header, (profile.wave_column,), profile, "wave_column", path)
        pattern = re.compile(profile.wave_pattern or r"^(?P<value>.+)$")
        template = profile.wave_template or "{value}"
        periods: dict[str, tuple[dt.date, dt.date]] = {}

        def name(value: str) -> str | None:
            match = pattern.match(str(value).strip())
            if not match:
                return None
            groups = {k: v for k, v in match.groupdict().items() if v is not None}
            groups.setdefault("value", str(value).strip())
            if groups.get("month", "").isdigit():
                groups["quarter"] = str((int(groups["month"]) - 1) // 3 + 1)
            try:
                label = template.format(**groups)
            except (KeyError, ValueError):
                return None
            period = wave_period(profile.period, groups)
            if period:
                periods[label] = period
            return label

        cache = {v: name(v) for v in frame[column].unique()}
        return frame[column].map(cache).astype(object), periods
    if profile.wave_file_pattern:
        match = re.search(profile.wave_file_pattern, path.name)
        if match:
            groups = {k: v for k, v in match.groupdict().items() if v is not None}
            try:
                label = (profile.wave_template or "{value}").format(value=match.group(0), **groups)
            except (KeyError, ValueError):
                label = None
            if label:
                period = wave_period(profile.period, groups)
                return pd.Series(label, index=frame.index, dtype=object), ({label: period} if period else {})
    if profile.wave:
        return pd.Series(profile.wave, index=frame.index, dtype=object), {}
    raise ImportFailed(f"{path}: the survey wave cannot be told from the file (profile {profile.name}): "
                       "pass --wave NAME, e.g. --wave \"ENVIPE 2021\"")


def normalise_survey(path: str | Path, profile: SurveyProfile, wave: str | None = None) -> Normalised:
    """Read ``path`` with ``profile`` into canonical rows (pure: no database).

    Returns :class:`Normalised`; rows with a missing/invalid weight, a blank or repeated
    respondent id or no wave are listed in ``rejections`` as (row, field, reason, raw).
    Raises :class:`ImportFailed` when the file lacks a column the profile needs.
    """
    path = Path(path)
    try:
        table = read_table(path, encoding=profile.encoding, delimiter=profile.delimiter,
                           skip_lines=profile.skip_lines)
    except InputFileError as exc:
        raise ImportFailed(str(exc)) from exc
    warnings: list[str] = []
    rejections: list[tuple[int, str | None, str, dict[str, Any]]] = [
        (bad.row_number, None, bad.reason, bad.raw) for bad in table.bad_rows
    ]
    frame = table.frame.copy()
    rows = pd.Series(table.row_numbers, index=frame.index)
    frame, flags = _apply_joins(frame, profile, path, warnings)
    header = {c.upper(): c for c in frame.columns}

    weight_col = _require(header, profile.weight, profile, "weight", path)
    key = _composite(frame, header, profile.respondent_id, "-", profile, "respondent_id", path)
    if profile.key_prefix:
        key = key.map(lambda k: None if k is None else f"{profile.key_prefix}:{k}").astype(object)
    waves, periods = _wave_names(frame, header, profile, wave, path)
    weights = parse_number(frame[weight_col])
    raw_weight = frame[weight_col].astype(str).str.strip()

    reasons = pd.Series(None, index=frame.index, dtype=object)
    fields = pd.Series(None, index=frame.index, dtype=object)

    def flag(mask: pd.Series, field_name: str, reason: str) -> None:
        mask = mask & reasons.isna()
        reasons[mask] = reason
        fields[mask] = field_name

    flag(raw_weight == "", weight_col, "the expansion weight is blank")
    flag(weights.isna(), weight_col, "the expansion weight is not a number")
    flag(~np.isfinite(weights.fillna(0)) | (weights <= 0), weight_col, "the expansion weight must be positive")
    flag(key.isna(), ",".join(profile.respondent_id), "the respondent id is blank")
    flag(waves.isna(), profile.wave_column or "wave", "the survey wave cannot be derived from this value")
    repeated = key.notna() & waves.notna() & pd.DataFrame({"w": waves, "k": key}).duplicated(keep="first")
    if repeated.any():
        first_row = pd.Series(rows.to_numpy(), index=pd.MultiIndex.from_arrays([waves, key]))
        first_row = first_row[~first_row.index.duplicated()]
        for idx in np.flatnonzero((repeated & reasons.isna()).to_numpy()):
            label = frame.index[idx]
            reasons[label] = (f"respondent key {key[label]!r} repeated in the file "
                              f"(first at row {first_row[(waves[label], key[label])]})")
            fields[label] = ",".join(profile.respondent_id)
    for label in reasons.index[reasons.notna()]:
        rejections.append((int(rows[label]), fields[label], str(reasons[label]), table.frame.loc[label].to_dict()))

    ok = reasons.isna()
    good = frame[ok]
    row_list = rows[ok].tolist()
    items: dict[str, pd.Series] = {}
    specs = list(profile.items)
    if profile.canonical_columns:
        mapped = {s.item for s in specs}
        specs += [ItemMap(c.lower(), (c,), "first", None, optional=True)
                  for c in good.columns if c.lower() in ITEMS and c.lower() not in mapped]
    for spec in specs:
        values = _item_values(good, header, spec, profile, path, warnings, row_list)
        if values is not None:
            items[spec.item] = values
    for name, values in flags.items():
        items[name] = values[ok]
    if profile.victim_any_from_items and "victim_any" not in items:
        victims = [v for k, v in items.items() if k.startswith("victim_")]
        if victims:
            numeric = pd.concat([pd.to_numeric(v, errors="coerce") for v in victims], axis=1)
            any_victim = numeric.max(axis=1)
            items["victim_any"] = any_victim.map(lambda x: None if pd.isna(x) else int(x)).astype(object)

    out = pd.DataFrame(index=good.index)
    out["row_number"] = rows[ok]
    out["wave"] = waves[ok]
    out["respondent_key"] = key[ok]
    out["household_key"] = (_composite(good, header, profile.household_id, "-", profile, "household_id", path)
                            if profile.household_id else None)
    out["weight"] = weights[ok].astype(float)
    if profile.area_code:
        code = _composite(good, header, profile.area_code, "", profile, "area_code", path)
        if profile.area_code_pad:
            code = code.map(lambda c: c.zfill(int(profile.area_code_pad)) if isinstance(c, str) else c)
        out["area_code"] = code
    else:
        out["area_code"] = None
    if profile.sex:
        sex_col = _require(header, profile.sex, profile, "sex", path)
        out["sex"] = good[sex_col].map(lambda v: profile.sex_codes.get(code_key(v))).astype(object)
    else:
        out["sex"] = None
    if profile.age:
        age_col = _require(header, profile.age, profile, "age", path)
        ages = parse_number(good[age_col]).where(~good[age_col].map(code_key).isin(profile.age_missing))
        out["age_group"] = ages.map(lambda a: None if pd.isna(a) else age_group(float(a))).astype(object)
    else:
        out["age_group"] = None
    for name, cols in (("stratum", profile.stratum), ("psu", profile.psu)):
        out[name] = _composite(good, header, cols, "-", profile, name, path) if cols else None
    out["territory_code"] = (_composite(good, header, profile.territory_column, "", profile, "territory_column", path)
                             if profile.territory_column else None)
    names = list(items)
    matrix = [list(values.to_numpy()) for values in items.values()]
    out["items"] = [
        {n: _plain(col[i]) for n, col in zip(names, matrix, strict=True) if not _is_missing(col[i])}
        for i in range(len(good))
    ]
    return Normalised(out, rejections, table.total, warnings, periods)


def _is_missing(value: object) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float | np.floating) and math.isnan(value))


def _plain(value: object) -> object:
    """A JSON-ready Python scalar."""
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return int(value) if float(value).is_integer() else float(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# --------------------------------------------------------------------------- database


def _plain_code_lookup(conn: Connection, codes: list[str | None]) -> tuple[list[int | None], list[str | None], bool]:
    """Codes of the active areas of the primary layer -> (id, district), exact then folded."""
    rows = conn.execute(
        select(Neighbourhood.id, Neighbourhood.code, Neighbourhood.district)
        .join(BoundaryLayer, BoundaryLayer.id == Neighbourhood.layer_id)
        .where(BoundaryLayer.is_primary.is_(True), Neighbourhood.active.is_(True))
    ).all()
    exact = {str(r.code): (r.id, r.district) for r in rows}
    folded = {code_key(r.code): (r.id, r.district) for r in rows}
    found = [(exact.get(c) or folded.get(code_key(c))) if c else None for c in codes]
    return [f[0] if f else None for f in found], [f[1] if f else None for f in found], bool(rows)


def assign_area_codes(conn: Connection, codes: list[str | None]) -> tuple[list[int | None], list[str | None], bool]:
    """Neighbourhood id and district of each area code in the primary boundary layer.

    Uses the incident assignment's code matching (``observatory.ingest.assign``: accent/case
    folded, "5001" == "05001" when unambiguous); returns ``(ids, districts, has_primary_layer)``.
    """
    try:
        from observatory.ingest.assign import assign, load_layers
    except ImportError:  # pragma: no cover - the plain lookup serves until assignment exists
        return _plain_code_lookup(conn, codes)
    primary = next((layer for layer in load_layers(conn) if layer.is_primary), None)
    if primary is None:
        return [None] * len(codes), [None] * len(codes), False
    frame = pd.DataFrame({"lon": np.nan, "lat": np.nan, "declared_area_code": pd.Series(codes, dtype=object),
                          "declared_area_name": None})
    ids = assign(frame, [primary]).primary["neighbourhood_id"]
    districts = primary.areas.set_index("id")["district"]
    out_ids = [None if pd.isna(i) else int(i) for i in ids]
    return out_ids, [None if i is None else _none(districts.get(i)) for i in out_ids], True


def _none(value: object) -> object:
    return None if _is_missing(value) else value


# Changed responses are staged in a temporary table and written with one UPDATE ... FROM (as incidents are in
# observatory.ingest.assign): one UPDATE per response or per area code would scan survey_responses each time.
_SURVEY_STAGE = Table(
    "obs_survey_reassign_stage", MetaData(),
    Column("id", Integer, primary_key=True), Column("nid", Integer), Column("district", String(300)),
    prefixes=["TEMPORARY"],
)


def reassign_survey_responses(conn: Connection, chunk: int = REASSIGN_CHUNK) -> tuple[int, int]:
    """Re-derive ``neighbourhood_id`` and ``district`` of every stored survey response from its area code.

    Run inside the caller's transaction (``conn``) after the primary boundary layer changed (a new primary
    layer, areas added, moved, renamed or retired), so responses follow the boundaries exactly as at import
    (:func:`assign_area_codes`: active areas of the primary layer only). Responses are read ``chunk`` at a
    time by id; only rows whose values change are written. Responses are never deleted: those whose area
    vanished (or when no primary layer is left) lose their neighbourhood and district.
    Output: (responses changed, responses with an area code but no neighbourhood afterwards).
    """
    if conn.execute(select(SurveyResponse.id).limit(1)).first() is None:
        return 0, 0  # no survey loaded: skip loading the layers' geometries
    codes = [c for c in conn.execute(select(SurveyResponse.area_code).distinct()).scalars() if c is not None]
    ids, districts, _ = assign_area_codes(conn, codes)
    target: dict[str | None, tuple[int | None, object]] = dict(zip(codes, zip(ids, districts, strict=True),
                                                                   strict=True))
    target[None] = (None, None)  # no code: nothing to match (ingest stores these unassigned too)
    changed = unassigned = 0
    last = 0
    _SURVEY_STAGE.create(conn)
    try:
        while True:
            rows = conn.execute(
                select(SurveyResponse.id, SurveyResponse.area_code, SurveyResponse.neighbourhood_id,
                       SurveyResponse.district)
                .where(SurveyResponse.id > last).order_by(SurveyResponse.id).limit(chunk)).all()
            if not rows:
                break
            staged = []
            for response_id, code, old_id, old_district in rows:
                new_id, new_district = target[code]
                if code is not None and new_id is None:
                    unassigned += 1
                if (old_id, old_district) != (new_id, new_district):
                    staged.append({"id": response_id, "nid": new_id, "district": new_district})
            if staged:
                conn.execute(insert(_SURVEY_STAGE), staged)
                changed += len(staged)
            last = int(rows[-1][0])
        if changed:
            conn.execute(update(SurveyResponse).where(SurveyResponse.id == _SURVEY_STAGE.c.id)
                         .values(neighbourhood_id=_SURVEY_STAGE.c.nid, district=_SURVEY_STAGE.c.district))
    finally:
        _SURVEY_STAGE.drop(conn)
    return changed, unassigned


def _wave_ids(conn: Connection, names: list[str], profile: SurveyProfile,
              periods: dict[str, tuple[dt.date, dt.date]]) -> dict[str, int]:
    existing = dict(conn.execute(select(SurveyWave.name, SurveyWave.id).where(SurveyWave.name.in_(names))).all())
    for name in names:
        if name not in existing:
            start, end = periods.get(name, (None, None))
            result = conn.execute(insert(SurveyWave).values(
                name=name, profile=profile.name, reference_months=profile.reference_months,
                period_start=start, period_end=end))
            existing[name] = int(result.inserted_primary_key[0])
    return existing


def choose_territory(codes: pd.Series, area_ids: list[int | None], given: str | None, profile: SurveyProfile,
                     report: ImportReport) -> str | None:
    """The territory code kept as the observatory's own (see :func:`ingest_survey`); says why in ``report``."""
    if not profile.territory_column or codes.isna().all():
        return None
    found = Counter(code_key(c) for c in codes.dropna())
    how = "given"
    if given is None:
        placed = Counter(code_key(c) for c, a in zip(codes, area_ids, strict=True) if a is not None and c)
        given, how = (placed.most_common(1)[0][0], "inferred") if placed else (None, "none")
    column = ",".join(profile.territory_column)
    if given is None:
        report.details["territory"] = {"code": None, "level": "survey", "column": column, "codes": len(found)}
        report.warnings.append(f"no territory given: the whole survey ({len(found)} values of {column}) is the "
                               f"observatory's figure; pass --territory CODE to keep your "
                               f"{profile.territory_level}")
        return None
    kept = found.get(code_key(given), 0)
    report.details["territory"] = {"code": given, "level": profile.territory_level, "column": column, "how": how,
                                   "rows": kept}
    report.warnings.append(f"territory {column} = {given} ({how}): {kept:,} of {sum(found.values()):,} rows are "
                           f"the observatory's {profile.territory_level}; the others are stored and not shown")
    if not kept:  # e.g. no livestock theft in Bogota: legitimate, but a typo looks the same
        report.warnings.append(f"no row has {column} = {given}: codes in the file are "
                               f"{', '.join(sorted(found)[:20])}")
    return given


def ingest_survey(path: str | Path, *, profile: str, wave: str | None = None, engine: Engine | None = None,
                  rejects_path: str | Path | None = None, user_name: str | None = None,
                  territory: str | None = None) -> ImportReport:
    """Import a survey microdata file with a survey ``profile`` (built-in name or .toml/.yaml path).

    ``wave`` names the survey round and overrides the profile's rule. Respondents are given a
    neighbourhood when their area code matches a code of the primary boundary layer.
    ``territory`` (a code of the profile's ``territory_column``: ENSU's city, ENVIPE's state)
    marks the rows of the observatory's own territory (item ``in_territory``); every row is
    stored. Default: the profile's ``territory``, else the code most of the rows placed in the
    primary layer carry, else none (the whole survey); the report states which was used.
    Returns the :class:`ImportReport` (``total == loaded + rejected + duplicates``); raises
    :class:`ImportFailed` for a file or profile that cannot be used (nothing is stored then).
    """
    from observatory.db.session import get_engine

    path = Path(path)
    prof = load_survey_profile(profile)
    engine = engine or get_engine()
    if not path.exists():
        raise ImportFailed(f"{path}: file not found")
    report = ImportReport(file_name=path.name, source_kind="survey", profile=prof.name, sha256=file_sha256(path))
    norm = normalise_survey(path, prof, wave)
    report.total = norm.total
    report.warnings.extend(norm.warnings)
    for row_number, field_name, reason, raw in sorted(norm.rejections, key=lambda r: r[0]):
        report.reject(row_number, field_name, reason, raw)
    frame = norm.frame

    with engine.begin() as conn:
        open_batch(conn, report, user_name=user_name)
        wave_names = sorted(frame["wave"].unique().tolist())
        wave_ids = _wave_ids(conn, wave_names, prof, norm.periods)
        frame = frame.assign(wave_id=frame["wave"].map(wave_ids))
        existing: set[tuple[int, str]] = set()
        for wave_id in wave_ids.values():
            keys = conn.execute(select(SurveyResponse.respondent_key).where(
                SurveyResponse.wave_id == wave_id, SurveyResponse.unit == prof.unit)).scalars()
            existing.update((wave_id, k) for k in keys)
        duplicate = [(w, k) in existing for w, k in zip(frame["wave_id"], frame["respondent_key"], strict=True)]
        fresh = frame[~np.asarray(duplicate, dtype=bool)] if len(frame) else frame
        report.duplicates = len(frame) - len(fresh)

        area_ids, districts, has_layer = assign_area_codes(conn, fresh["area_code"].tolist())
        chosen = choose_territory(fresh["territory_code"], area_ids, territory or prof.territory, prof, report)
        records = []
        for row, area_id, district in zip(fresh.itertuples(index=False), area_ids, districts, strict=True):
            if chosen is not None:
                row = row._replace(items={**row.items, "in_territory": int(code_key(row.territory_code or "")
                                                                          == code_key(chosen))})
            # pandas' string columns hold blanks as NaN, which PostgreSQL would store as the text 'NaN'
            records.append({
                "wave_id": int(row.wave_id), "batch_id": report.batch_id, "unit": prof.unit,
                "respondent_key": row.respondent_key, "household_key": _none(row.household_key),
                "weight": float(row.weight), "area_code": _none(row.area_code),
                "neighbourhood_id": area_id, "district": district,
                "stratum": _none(row.stratum), "psu": _none(row.psu), "sex": _none(row.sex),
                "age_group": _none(row.age_group), "items": row.items,
            })
        for start in range(0, len(records), INSERT_CHUNK):
            conn.execute(insert(SurveyResponse), records[start:start + INSERT_CHUNK])
        assigned = sum(a is not None for a in area_ids)
        report.loaded = len(records)
        report.unassigned = len(records) - assigned
        report.details.update({
            "unit": prof.unit, "waves": {n: int((fresh["wave"] == n).sum()) for n in wave_names},
            "assigned": assigned,
            "items": {k: int(v) for k, v in Counter(k for d in fresh["items"] for k in d).most_common()},
        })
        if not has_layer:
            report.warnings.append("no primary boundary layer: respondents are kept without a neighbourhood")
        close_batch(conn, report)
    if rejects_path:
        write_rejects_csv(report, rejects_path)
    return report
