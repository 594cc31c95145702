"""Stage 5 of a survey import: respondents placed in areas, and the observatory's own territory.

A respondent gets the neighbourhood whose code (in the primary boundary layer) matches its area
code, with the incident assignment's code matching (:func:`assign_area_codes`). When the primary
layer changes, :func:`reassign_survey_responses` re-derives the stored responses' neighbourhoods
the same way. :func:`choose_territory` picks the territory code (ENSU's city, ENVIPE's state) whose
rows are the observatory's own figure.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, insert, select, update

from observatory.db.models import BoundaryLayer, Neighbourhood, SurveyResponse
from observatory.ingest.report import ImportReport
from observatory.ingest.surveys.codebook import none_if_missing
from observatory.ingest.surveys.profile import SurveyProfile, code_key

REASSIGN_CHUNK = 100_000  # stored responses read per round trip in reassign_survey_responses

AreaLookup = tuple[list[int | None], list[str | None], bool]  # (ids, districts, has a primary layer)


def _plain_code_lookup(conn: Connection, codes: list[str | None]) -> AreaLookup:
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


def assign_area_codes(conn: Connection, codes: list[str | None]) -> AreaLookup:
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
    return out_ids, [None if i is None else none_if_missing(districts.get(i)) for i in out_ids], True


# Changed responses are staged in a temporary table and written with one UPDATE ... FROM (as incidents are in
# observatory.ingest.assign): one UPDATE per response or per area code would scan survey_responses each time.
_SURVEY_STAGE = Table(
    "obs_survey_reassign_stage", MetaData(),
    Column("id", Integer, primary_key=True), Column("nid", Integer), Column("district", String(300)),
    prefixes=["TEMPORARY"],
)


def _stage_changes(conn: Connection, target: dict[str | None, tuple[int | None, object]],
                   chunk: int) -> tuple[int, int]:
    """Stage the responses whose neighbourhood or district changes, ``chunk`` at a time by id."""
    changed = unassigned = 0
    last = 0
    while True:
        rows = conn.execute(
            select(SurveyResponse.id, SurveyResponse.area_code, SurveyResponse.neighbourhood_id,
                   SurveyResponse.district)
            .where(SurveyResponse.id > last).order_by(SurveyResponse.id).limit(chunk)).all()
        if not rows:
            return changed, unassigned
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
    _SURVEY_STAGE.create(conn)
    try:
        changed, unassigned = _stage_changes(conn, target, chunk)
        if changed:
            conn.execute(update(SurveyResponse).where(SurveyResponse.id == _SURVEY_STAGE.c.id)
                         .values(neighbourhood_id=_SURVEY_STAGE.c.nid, district=_SURVEY_STAGE.c.district))
    finally:
        _SURVEY_STAGE.drop(conn)
    return changed, unassigned


def choose_territory(codes: pd.Series, area_ids: list[int | None], given: str | None, profile: SurveyProfile,
                     report: ImportReport) -> str | None:
    """The territory code kept as the observatory's own (see ``ingest_survey``); says why in ``report``.

    ``given`` (``--territory`` or the profile's ``territory``) wins; else the code most rows placed in
    the primary layer carry; else none: the whole survey is the observatory's figure.
    """
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
