"""Survey waves and weighted survey microdata for the survey estimators (engineer C's).

Survey rows carry no names or addresses; the estimators turn them into weighted shares
with confidence intervals and reliability flags. The web layer must not offer these rows
as downloads to the public (``access.is_restricted``), only the estimates.
"""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, func, or_, select

from observatory.db.models import ImportBatch, SurveyResponse, SurveyWave
from observatory.queries._sql import AREAS, get_engine

WAVES = SurveyWave.__table__
RESPONSES = SurveyResponse.__table__
BATCHES = ImportBatch.__table__
BASE_COLUMNS = ["wave", "profile", "respondent_key", "household_key", "weight", "area_code", "neighbourhood_id",
                "neighbourhood", "district", "stratum", "psu", "sex", "age_group"]


def survey_waves(engine: Engine | None = None) -> pd.DataFrame:
    """Waves: id, name, profile, period_start, period_end, reference_months, persons, households, events."""
    counts = (select(RESPONSES.c.wave_id, RESPONSES.c.unit, func.count().label("n"))
              .group_by(RESPONSES.c.wave_id, RESPONSES.c.unit))
    cols = ["id", "name", "profile", "period_start", "period_end", "reference_months"]
    with get_engine(engine).connect() as conn:
        waves = conn.execute(select(*[WAVES.c[c] for c in cols]).order_by(WAVES.c.period_start, WAVES.c.id)).all()
        n = conn.execute(counts).all()
    frame = pd.DataFrame([tuple(r) for r in waves], columns=cols)
    by_unit = {(int(w), u): int(c) for w, u, c in n}
    for unit, col in (("person", "persons"), ("household", "households"), ("event", "events")):
        frame[col] = [by_unit.get((int(i), unit), 0) for i in frame["id"]]
    return frame


def survey_responses(engine: Engine | None = None, wave: str | int | None = None,
                     unit: str = "person", territory_only: bool = True) -> pd.DataFrame:
    """Microdata rows of one unit (person, household or event), items expanded to columns.

    ``wave``: a wave name or id (None: every wave). ``territory_only``: leave out the rows the
    import marked outside the observatory's territory (``in_territory == 0``; see
    ``observatory.ingest.surveys.ingest_survey``). Output: ``BASE_COLUMNS`` (wave = wave
    name; profile = the survey profile the row was imported with, whose definitions apply;
    neighbourhood_id / neighbourhood = id / code of the assigned
    area; weight = expansion weight) followed by
    one column per canonical item present (numbers as float64 with NaN for missing answers,
    ``crime_type`` as a string).
    """
    stmt = (select(WAVES.c.name, BATCHES.c.profile, RESPONSES.c.respondent_key, RESPONSES.c.household_key,
                   RESPONSES.c.weight,
                   RESPONSES.c.area_code, RESPONSES.c.neighbourhood_id,
                   AREAS.c.code, RESPONSES.c.district, RESPONSES.c.stratum, RESPONSES.c.psu,
                   RESPONSES.c.sex, RESPONSES.c.age_group, RESPONSES.c["items"])
            .select_from(RESPONSES.join(WAVES, WAVES.c.id == RESPONSES.c.wave_id)
                         .join(BATCHES, BATCHES.c.id == RESPONSES.c.batch_id)
                         .outerjoin(AREAS, AREAS.c.id == RESPONSES.c.neighbourhood_id))
            .where(RESPONSES.c.unit == unit).order_by(RESPONSES.c.id))
    if wave is not None:
        wave_text = str(wave)
        cond = WAVES.c.name == wave_text
        if wave_text.isdigit():
            cond = or_(cond, WAVES.c.id == int(wave_text))
        stmt = stmt.where(cond)
    with get_engine(engine).connect() as conn:
        rows = conn.execute(stmt).all()
    base = pd.DataFrame([tuple(r[:-1]) for r in rows], columns=BASE_COLUMNS)
    base["weight"] = base["weight"].astype("float64")
    base["neighbourhood_id"] = base["neighbourhood_id"].astype("Int64")
    items = pd.DataFrame.from_records([r[-1] or {} for r in rows], index=base.index)
    for col in items.columns:
        if col != "crime_type":
            items[col] = pd.to_numeric(items[col], errors="coerce").astype("float64")
    items = items[sorted(items.columns)]
    out = pd.concat([base, items], axis=1)
    if territory_only and "in_territory" in out.columns:
        out = out[out["in_territory"] != 0].reset_index(drop=True)
    return out


def survey_profile_facts(names: list[str]) -> dict[str, dict]:
    """What the survey profiles ``names`` declare: ``definition`` (the agency's reporting / dark
    figure definition) and ``territory_level`` (city, state...). A profile that can no longer be
    read (a user file moved away) gets the defaults, so figures still show, by the default rule."""
    from observatory.indicators.survey import DEFAULT_DEFINITION
    from observatory.ingest.surveys import SurveyProfileError, load_survey_profile

    facts = {}
    for name in dict.fromkeys(n for n in names if isinstance(n, str) and n):
        try:
            profile = load_survey_profile(name)
            facts[name] = {"definition": profile.definitions, "territory_level": profile.territory_level,
                           "territory_column": bool(profile.territory_column)}
        except (SurveyProfileError, OSError):
            facts[name] = {"definition": DEFAULT_DEFINITION, "territory_level": "city", "territory_column": False}
    return facts
