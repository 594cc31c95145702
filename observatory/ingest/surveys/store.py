"""Stages 4, 6 and 7 of a survey import, inside the batch's transaction: split, write, report.

4. split against what is stored (:func:`split_against_stored`): a respondent already stored for the
   same wave and unit is a duplicate, so importing a file again adds nothing; the waves are found
   or created (:func:`wave_ids`) first, with their reference periods;
6. write (:func:`response_records`, :func:`write_responses`): one ``survey_responses`` row per new
   respondent, its neighbourhood and, when a territory is chosen, its ``in_territory`` item;
7. report (:func:`report_stored`): what was loaded, per wave and item, and what was not placed.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from sqlalchemy import Connection, insert, select

from observatory.db.models import SurveyResponse, SurveyWave
from observatory.ingest.report import ImportReport
from observatory.ingest.surveys.codebook import none_if_missing
from observatory.ingest.surveys.profile import SurveyProfile, code_key
from observatory.ingest.surveys.waves import Periods


def wave_ids(conn: Connection, names: list[str], profile: SurveyProfile, periods: Periods) -> dict[str, int]:
    """Wave name -> id, creating the waves not stored yet (with the profile and the reference period)."""
    existing = dict(conn.execute(select(SurveyWave.name, SurveyWave.id).where(SurveyWave.name.in_(names))).all())
    for name in names:
        if name not in existing:
            start, end = periods.get(name, (None, None))
            result = conn.execute(insert(SurveyWave).values(
                name=name, profile=profile.name, reference_months=profile.reference_months,
                period_start=start, period_end=end))
            existing[name] = int(result.inserted_primary_key[0])
    return existing


def split_against_stored(conn: Connection, frame: pd.DataFrame, waves: dict[str, int], unit: str) -> pd.DataFrame:
    """The rows of ``frame`` (with their ``wave_id``) whose (wave, respondent key) is not stored for ``unit``."""
    existing: set[tuple[int, str]] = set()
    for wave_id in waves.values():
        keys = conn.execute(select(SurveyResponse.respondent_key).where(
            SurveyResponse.wave_id == wave_id, SurveyResponse.unit == unit)).scalars()
        existing.update((wave_id, k) for k in keys)
    duplicate = [(w, k) in existing for w, k in zip(frame["wave_id"], frame["respondent_key"], strict=True)]
    return frame[~np.asarray(duplicate, dtype=bool)] if len(frame) else frame


def response_records(fresh: pd.DataFrame, area_ids: list[int | None], districts: list[str | None],
                     territory: str | None, unit: str, batch_id: int | None) -> list[dict[str, object]]:
    """The ``survey_responses`` rows of the new respondents; ``in_territory`` when a territory is chosen."""
    records = []
    for row, area_id, district in zip(fresh.itertuples(index=False), area_ids, districts, strict=True):
        items = row.items
        if territory is not None:
            items = {**items, "in_territory": int(code_key(row.territory_code or "") == code_key(territory))}
        records.append({
            "wave_id": int(row.wave_id), "batch_id": batch_id, "unit": unit,
            "respondent_key": row.respondent_key, "household_key": none_if_missing(row.household_key),
            "weight": float(row.weight), "area_code": none_if_missing(row.area_code),
            "neighbourhood_id": area_id, "district": district,
            "stratum": none_if_missing(row.stratum), "psu": none_if_missing(row.psu), "sex": none_if_missing(row.sex),
            "age_group": none_if_missing(row.age_group), "items": items,
        })
    return records


def write_responses(conn: Connection, records: list[dict[str, object]], chunk: int) -> None:
    """Insert the responses, ``chunk`` rows per statement."""
    for start in range(0, len(records), chunk):
        conn.execute(insert(SurveyResponse), records[start:start + chunk])


def report_stored(report: ImportReport, fresh: pd.DataFrame, waves: list[str], area_ids: list[int | None],
                  has_layer: bool, unit: str) -> None:
    """Loaded and unplaced counts, new rows per wave of the file, answers per item; a warning without a
    primary layer."""
    assigned = sum(a is not None for a in area_ids)
    report.loaded = len(fresh)
    report.unassigned = len(fresh) - assigned
    report.details.update({
        "unit": unit, "waves": {n: int((fresh["wave"] == n).sum()) for n in waves},
        "assigned": assigned,
        "items": {k: int(v) for k, v in Counter(k for d in fresh["items"] for k in d).most_common()},
    })
    if not has_layer:
        report.warnings.append("no primary boundary layer: respondents are kept without a neighbourhood")
