"""Stages 1 to 3 of a survey import, without a database: read, normalise, deduplicate in the file.

:func:`normalise_survey` turns one file into canonical rows:

1. read (:mod:`.read`): the file and its ``[[join]]`` tables as text;
2. normalise: the respondent key, the wave (:mod:`.waves`) and the expansion weight of every row; a
   row with a blank or invalid weight, a blank key or no wave is rejected with its row, field and
   reason; the codebook (:mod:`.codebook`) gives each kept row its canonical items; area code,
   sex, age group, design columns and territory code are read as the profile says;
3. deduplicate: a respondent key repeated within a wave is rejected, naming the first row.

Every row of the file ends up either in ``Normalised.frame`` or in ``Normalised.rejections``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from observatory.ingest.surveys.codebook import is_missing, item_values, plain
from observatory.ingest.surveys.items import ITEMS, age_group
from observatory.ingest.surveys.profile import ItemMap, SurveyProfile, code_key
from observatory.ingest.surveys.read import Rejection, SurveyTable, composite, parse_number, read_survey, require
from observatory.ingest.surveys.waves import Periods, wave_names


@dataclass
class Normalised:
    """Canonical rows of one file, plus what was rejected and noticed on the way."""

    frame: pd.DataFrame  # row_number, wave, respondent_key, household_key, weight, area_code, sex,
    # age_group, stratum, psu, territory_code, items (dict)
    rejections: list[Rejection]
    total: int
    warnings: list[str]
    periods: Periods = field(default_factory=dict)  # wave -> reference period


@dataclass
class _Rows:
    """Who each row is (key, wave, weight) and why it is rejected (None: kept)."""

    key: pd.Series
    waves: pd.Series
    weights: pd.Series
    periods: Periods
    reasons: pd.Series
    fields: pd.Series

    def reject(self, mask: pd.Series, field_name: str, reason: str) -> None:
        """Reject the rows of ``mask`` not rejected yet: the first reason found is the one reported."""
        mask = mask & self.reasons.isna()
        self.reasons[mask] = reason
        self.fields[mask] = field_name


# --------------------------------------------------------------------------- stage 2: who each row is


def _identify(table: SurveyTable, profile: SurveyProfile, wave: str | None, path: Path) -> _Rows:
    """Key, wave and weight of every row; rows whose weight, key or wave is unusable are rejected."""
    frame, header = table.frame, table.header
    weight_col = require(header, profile.weight, profile, "weight", path)
    key = composite(frame, header, profile.respondent_id, "-", profile, "respondent_id", path)
    if profile.key_prefix:
        key = key.map(lambda k: None if k is None else f"{profile.key_prefix}:{k}").astype(object)
    waves, periods = wave_names(frame, header, profile, wave, path)
    weights = parse_number(frame[weight_col])
    rows = _Rows(key, waves, weights, periods, pd.Series(None, index=frame.index, dtype=object),
                 pd.Series(None, index=frame.index, dtype=object))
    rows.reject(frame[weight_col].astype(str).str.strip() == "", weight_col, "the expansion weight is blank")
    rows.reject(weights.isna(), weight_col, "the expansion weight is not a number")
    rows.reject(~np.isfinite(weights.fillna(0)) | (weights <= 0), weight_col, "the expansion weight must be positive")
    rows.reject(key.isna(), ",".join(profile.respondent_id), "the respondent id is blank")
    rows.reject(waves.isna(), profile.wave_column or "wave", "the survey wave cannot be derived from this value")
    return rows


# --------------------------------------------------------------------------- stage 3: repeats within the file


def reject_repeated(rows: _Rows, table: SurveyTable, profile: SurveyProfile) -> None:
    """Reject the second and later rows of a respondent key within a wave, naming the first row."""
    key, waves = rows.key, rows.waves
    repeated = key.notna() & waves.notna() & pd.DataFrame({"w": waves, "k": key}).duplicated(keep="first")
    if not repeated.any():
        return
    first_row = pd.Series(table.rows.to_numpy(), index=pd.MultiIndex.from_arrays([waves, key]))
    first_row = first_row[~first_row.index.duplicated()]
    for idx in np.flatnonzero((repeated & rows.reasons.isna()).to_numpy()):
        label = table.frame.index[idx]
        rows.reasons[label] = (f"respondent key {key[label]!r} repeated in the file "
                               f"(first at row {first_row[(waves[label], key[label])]})")
        rows.fields[label] = ",".join(profile.respondent_id)


def _rejections(rows: _Rows, table: SurveyTable) -> list[Rejection]:
    """The reader's unreadable lines, then the rejected rows in file order, with the raw row."""
    out = list(table.rejections)
    for label in rows.reasons.index[rows.reasons.notna()]:
        out.append((int(table.rows[label]), rows.fields[label], str(rows.reasons[label]),
                    table.raw.loc[label].to_dict()))
    return out


# --------------------------------------------------------------------------- stage 2: what each kept row says


def _item_specs(good: pd.DataFrame, profile: SurveyProfile) -> list[ItemMap]:
    """The profile's items, plus (``canonical_columns``) every column named like a canonical item."""
    specs = list(profile.items)
    if profile.canonical_columns:
        mapped = {s.item for s in specs}
        specs += [ItemMap.model_validate({"item": c.lower(), "column": c, "optional": True})
                  for c in good.columns if c.lower() in ITEMS and c.lower() not in mapped]
    return specs


def _victim_any(items: dict[str, pd.Series]) -> pd.Series | None:
    """1 when any ``victim_<category>`` item is 1, 0 when all known ones are 0 (None: no such item)."""
    victims = [v for k, v in items.items() if k.startswith("victim_")]
    if not victims:
        return None
    any_victim = pd.concat([pd.to_numeric(v, errors="coerce") for v in victims], axis=1).max(axis=1)
    return any_victim.map(lambda x: None if pd.isna(x) else int(x)).astype(object)


def _items(good: pd.DataFrame, ok: pd.Series, table: SurveyTable, profile: SurveyProfile, path: Path,
           warnings: list[str]) -> dict[str, pd.Series]:
    """Canonical item -> its values on the kept rows (codebook items, join flags, derived victim_any)."""
    row_list = table.rows[ok].tolist()
    items: dict[str, pd.Series] = {}
    for spec in _item_specs(good, profile):
        values = item_values(good, table.header, spec, profile, path, warnings, row_list)
        if values is not None:
            items[spec.item] = values
    for name, values in table.flags.items():
        items[name] = values[ok]
    if profile.victim_any_from_items and "victim_any" not in items:
        derived = _victim_any(items)
        if derived is not None:
            items["victim_any"] = derived
    return items


def _area_codes(good: pd.DataFrame, header: dict[str, str], profile: SurveyProfile, path: Path) -> object:
    if not profile.area_code:
        return None
    code = composite(good, header, profile.area_code, "", profile, "area_code", path)
    if profile.area_code_pad:
        pad = int(profile.area_code_pad)
        code = code.map(lambda c: c.zfill(pad) if isinstance(c, str) else c)
    return code


def _sexes(good: pd.DataFrame, header: dict[str, str], profile: SurveyProfile, path: Path) -> object:
    if not profile.sex:
        return None
    column = require(header, profile.sex, profile, "sex", path)
    return good[column].map(lambda v: profile.sex_codes.get(code_key(v))).astype(object)


def _age_groups(good: pd.DataFrame, header: dict[str, str], profile: SurveyProfile, path: Path) -> object:
    if not profile.age:
        return None
    column = require(header, profile.age, profile, "age", path)
    ages = parse_number(good[column]).where(~good[column].map(code_key).isin(profile.age_missing))
    return ages.map(lambda a: None if pd.isna(a) else age_group(float(a))).astype(object)


def _canonical_frame(good: pd.DataFrame, ok: pd.Series, rows: _Rows, table: SurveyTable, profile: SurveyProfile,
                     items: dict[str, pd.Series], path: Path) -> pd.DataFrame:
    """One row per kept respondent: who, where, the design columns and the items as a dict."""
    header = table.header

    def columns(names: tuple[str, ...], key: str, sep: str = "-") -> object:
        return composite(good, header, names, sep, profile, key, path) if names else None

    out = pd.DataFrame(index=good.index)
    out["row_number"] = table.rows[ok]
    out["wave"] = rows.waves[ok]
    out["respondent_key"] = rows.key[ok]
    out["household_key"] = columns(profile.household_id, "household_id")
    out["weight"] = rows.weights[ok].astype(float)
    out["area_code"] = _area_codes(good, header, profile, path)
    out["sex"] = _sexes(good, header, profile, path)
    out["age_group"] = _age_groups(good, header, profile, path)
    out["stratum"] = columns(profile.stratum, "stratum")
    out["psu"] = columns(profile.psu, "psu")
    out["territory_code"] = columns(profile.territory_column, "territory_column", "")
    names = list(items)
    matrix = [list(values.to_numpy()) for values in items.values()]
    out["items"] = [
        {n: plain(col[i]) for n, col in zip(names, matrix, strict=True) if not is_missing(col[i])}
        for i in range(len(good))
    ]
    return out


# --------------------------------------------------------------------------- stages 1-3


def normalise_survey(path: str | Path, profile: SurveyProfile, wave: str | None = None) -> Normalised:
    """Read ``path`` with ``profile`` into canonical rows (pure: no database).

    Returns :class:`Normalised`; rows with a missing/invalid weight, a blank or repeated
    respondent id or no wave are listed in ``rejections`` as (row, field, reason, raw).
    Raises :class:`ImportFailed` when the file lacks a column the profile needs.
    """
    path = Path(path)
    table = read_survey(path, profile)
    warnings = list(table.warnings)
    rows = _identify(table, profile, wave, path)
    reject_repeated(rows, table, profile)
    ok = rows.reasons.isna()
    good = table.frame[ok]
    items = _items(good, ok, table, profile, path, warnings)
    frame = _canonical_frame(good, ok, rows, table, profile, items, path)
    return Normalised(frame, _rejections(rows, table), table.total, warnings, rows.periods)
