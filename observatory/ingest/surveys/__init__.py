"""Survey microdata ingestion: one row per respondent (or crime event) with its expansion weight.

A survey profile (:mod:`.profile`: keys, types and checks; built-ins in
``observatory/ingest/profiles/``) maps a file's columns and codes onto the canonical items of
:mod:`.items`, so ENVIPE, ENSU, ECSC and the generic format need no code of their own.
:func:`ingest_survey` calls one named stage after the other:

1. read (:mod:`.read`): the file and its ``[[join]]`` sibling tables as text;
2. normalise (:mod:`.normalise`, with :mod:`.waves` and :mod:`.codebook`): respondent key, wave,
   weight, area code, sex, age group, design columns and canonical items of every row; a row
   with a missing or invalid weight, a blank id or no wave is rejected with row, field and reason;
3. deduplicate (:func:`.normalise.reject_repeated`): a respondent repeated within a wave of the file;
4. split against what is stored (:mod:`.store`): rows already stored for the same wave, unit and
   respondent key are duplicates, so importing a file again adds nothing;
5. place (:mod:`.areas`): neighbourhoods by area code, the observatory's own territory;
6. write (:mod:`.store`): the responses, the waves and the batch in one transaction;
7. report (:mod:`.store`, ``observatory.ingest.report``): every row is counted, loaded, rejected or
   duplicate.

Stages 1-3 are :func:`normalise_survey`, which needs no database.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine

from observatory.ingest.batches import close_batch, open_batch
from observatory.ingest.report import ImportFailed, ImportReport, file_sha256, write_rejects_csv
from observatory.ingest.surveys.areas import (
    REASSIGN_CHUNK,
    assign_area_codes,
    choose_territory,
    reassign_survey_responses,
)
from observatory.ingest.surveys.normalise import Normalised, normalise_survey
from observatory.ingest.surveys.profile import (
    DEFAULT_SEX_CODES,
    MISSING,
    ItemMap,
    Join,
    SurveyProfile,
    SurveyProfileError,
    builtin_survey_profiles,
    code_key,
    load_survey_profile,
    parse_survey_profile,
)
from observatory.ingest.surveys.read import parse_number
from observatory.ingest.surveys.store import (
    report_stored,
    response_records,
    split_against_stored,
    wave_ids,
    write_responses,
)
from observatory.ingest.surveys.waves import wave_period

__all__ = [
    "DEFAULT_SEX_CODES", "INSERT_CHUNK", "MISSING", "REASSIGN_CHUNK", "ItemMap", "Join", "Normalised",
    "SurveyProfile", "SurveyProfileError", "assign_area_codes", "builtin_survey_profiles", "choose_territory",
    "code_key", "ingest_survey", "load_survey_profile", "normalise_survey", "parse_number",
    "parse_survey_profile", "reassign_survey_responses", "wave_period",
]

INSERT_CHUNK = 5000  # responses per INSERT statement


def _report_normalised(report: ImportReport, norm: Normalised) -> None:
    """Rows read, warnings and rejections of stages 1-3, rejections in file order."""
    report.total = norm.total
    report.warnings.extend(norm.warnings)
    for row_number, field_name, reason, raw in sorted(norm.rejections, key=lambda r: r[0]):
        report.reject(row_number, field_name, reason, raw)


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
    norm = normalise_survey(path, prof, wave)  # stages 1-3: read, normalise, deduplicate within the file
    _report_normalised(report, norm)

    with engine.begin() as conn:
        open_batch(conn, report, user_name=user_name)
        waves = sorted(norm.frame["wave"].unique().tolist())
        ids = wave_ids(conn, waves, prof, norm.periods)
        frame = norm.frame.assign(wave_id=norm.frame["wave"].map(ids))
        fresh = split_against_stored(conn, frame, ids, prof.unit)
        report.duplicates = len(frame) - len(fresh)
        area_ids, districts, has_layer = assign_area_codes(conn, fresh["area_code"].tolist())
        chosen = choose_territory(fresh["territory_code"], area_ids, territory or prof.territory, prof, report)
        records = response_records(fresh, area_ids, districts, chosen, prof.unit, report.batch_id)
        write_responses(conn, records, INSERT_CHUNK)
        report_stored(report, fresh, waves, area_ids, has_layer, prof.unit)
        close_batch(conn, report)
    if rejects_path:
        write_rejects_csv(report, rejects_path)
    return report
