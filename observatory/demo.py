"""The demo city: a clearly labelled synthetic municipality loaded through the real importers.

``build_demo`` draws "Ciudad Demo (datos sintéticos)" from a seed (see
:mod:`observatory.demo_city`), writes it as files in the project's own formats (a GeoJSON of
neighbourhoods, a ``generic_incidents`` CSV of police reports, a ``generic_complaints`` CSV of
complaints and one ``generic_survey`` CSV per survey wave) and imports them with the same
functions an analyst's files go through. It then registers the planted intervention and the
security plan's targets. Importers deduplicate, so building it twice adds nothing.

What is planted (and what tests check):

* two hotspot clusters of three adjacent neighbourhoods with five times the ordinary crime rate,
  inside a halo of neighbours at 2.5 times: every cluster member is Gi* "hot 99%" on the rate per
  100,000 (queen contiguity, binary weights, self included); they are also dense areas, so Gi* on
  raw counts finds them as well (at least "hot 95%");
* one intervention area (two adjacent neighbourhoods) where crime falls by 45% over the two months
  after the programme starts, 14 months before the end of the data;
* two survey waves (about 1,500 weighted adults each, one and two years before the end of the
  data) whose victimisation follows the recorded rates times an under-reporting factor, and whose
  second wave is more afraid in and around the hotspots;
* everyday data-quality problems: rows without coordinates but with the neighbourhood's name,
  swapped coordinates, wrong declared codes, unknown local labels, a few impossible dates.

About 75,000 incidents over the three years ending with the last complete month, in 80
neighbourhoods of six districts (about 1.2 million inhabitants). Build it into its own database:
the demo's neighbourhoods become the primary layer only when the database has none yet.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import Engine, inspect, select

from observatory.config import PROJECT_ROOT
from observatory.db.models import BoundaryLayer, ImportBatch, IndicatorTarget, Intervention
from observatory.db.session import get_engine, session_scope, upgrade_to_head
from observatory.demo_city.city import CITY_NAME, City, build_city, planted_hotspots
from observatory.demo_city.incidents import (
    DEMO_CATEGORIES,
    complaints_csv_frame,
    draw_incidents,
    intervention_start,
    period_bounds,
    police_csv_frame,
)
from observatory.demo_city.survey import draw_wave

__all__ = [
    "CITY_NAME", "DEFAULT_OUT_DIR", "LAYER", "build_demo", "existing_demo", "is_demo", "planted_hotspots",
    "summary", "write_demo_files",
]

log = logging.getLogger(__name__)

DEFAULT_OUT_DIR = PROJECT_ROOT / "data" / "demo"
LAYER = "Barrios - Ciudad Demo (sintética)"
INTERVENTION_NAME = "Programa Barrio Seguro (demo sintética)"
FILES = {
    "boundaries": "demo_barrios.geojson",
    "police": "demo_police_reports.csv",
    "complaints": "demo_complaints.csv",
    "survey_1": "demo_survey_wave1.csv",
    "survey_2": "demo_survey_wave2.csv",
}


def _boundaries_frame(city: City):
    out = city.areas[["code", "name", "district", "population", "geometry"]].copy()
    out["city"] = CITY_NAME
    return out


def write_demo_files(out_dir: str | Path | None = None, seed: int = 2024,
                     today: dt.date | None = None) -> dict[str, Any]:
    """Draw the demo city and write its files; no database involved.

    Returns ``{"paths": {kind: Path}, "city": City, "incidents": DataFrame, "period": (first, last)}``.
    Files are byte-identical for the same ``seed`` and ``today`` (so re-imports are recognised).
    """
    out = Path(out_dir) if out_dir is not None else DEFAULT_OUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    today = today or dt.date.today()
    city = build_city(seed)
    incidents = draw_incidents(city, today, seed)
    paths = {kind: out / name for kind, name in FILES.items()}
    boundaries = _boundaries_frame(city)
    paths["boundaries"].unlink(missing_ok=True)  # the GeoJSON driver refuses to overwrite
    boundaries.to_file(paths["boundaries"], driver="GeoJSON", engine="pyogrio",
                       layer_options={"COORDINATE_PRECISION": 7, "RFC7946": "YES"})
    police_csv_frame(incidents, city, seed).to_csv(paths["police"], index=False, encoding="utf-8")
    complaints_csv_frame(incidents, city, seed).to_csv(paths["complaints"], index=False, encoding="utf-8")
    for wave in (0, 1):
        draw_wave(city, today, seed, wave).to_csv(paths[f"survey_{wave + 1}"], index=False, encoding="utf-8")
    return {"paths": paths, "city": city, "incidents": incidents, "period": period_bounds(today)}


def is_demo(engine: Engine | None = None) -> bool:
    """True when the database holds the synthetic demo city (its boundary layer or its files).

    Dashboards then label every page as synthetic data. An empty or missing schema gives False.
    """
    engine = engine or get_engine()
    if not inspect(engine).has_table("boundary_layers"):
        return False
    names = [name for name in FILES.values() if name.endswith(".csv")]
    with engine.connect() as conn:
        if conn.execute(select(BoundaryLayer.id).where(BoundaryLayer.name == LAYER).limit(1)).first():
            return True
        files = conn.execute(select(ImportBatch.file_name).where(
            ImportBatch.profile.in_(["generic_incidents", "generic_complaints", "generic_survey"]))).scalars()
        return any(Path(str(f)).name in names for f in files)


def _summary(report: Any) -> dict[str, Any]:
    data = {key: getattr(report, key, None) for key in
            ("total", "loaded", "rejected", "duplicates", "revised", "unassigned", "batch_id")}
    data["balanced"] = bool(getattr(report, "balanced", False))
    data["unknown_labels"] = dict(getattr(report, "unknown_labels", {}) or {})
    return data


def _ensure_schema(engine: Engine) -> None:
    if not inspect(engine).has_table("incidents"):
        upgrade_to_head(engine.url.render_as_string(hide_password=False))


def _rate_before(incidents: pd.DataFrame, city: City, code: str, start: dt.date) -> float:
    """Recorded incidents of category ``code`` per 100,000 inhabitants in the 12 months before ``start``."""
    wanted = [i for i, c in enumerate(DEMO_CATEGORIES) if c.code == code]
    before = (incidents["start"] >= pd.Timestamp(start) - pd.DateOffset(years=1)) & (
        incidents["start"] < pd.Timestamp(start))
    n = int((before & incidents["category"].isin(wanted)).sum())
    return round(n / city.areas["population"].sum() * 100_000, 1)


def _register_plan(engine: Engine, city: City, incidents: pd.DataFrame, today: dt.date,
                   seed: int) -> dict[str, Any]:
    """Store the intervention and the plan targets once (matched by name / indicator and scope)."""
    start = intervention_start(today)
    _, last = period_bounds(today)
    # The mayor's plan: robbery from the person down 15% and homicide down 20% by the end of next
    # year, from the 12 months before the programme started.
    targets = [
        {"indicator": f"rate_per_100k:{code}", "scope": "city", "baseline_value": baseline,
         "baseline_on": start, "target_value": round(baseline * (1 - cut), 1),
         "target_on": dt.date(last.year + 1, 12, 31)}
        for code, cut in (("robbery_person", 0.15), ("homicide", 0.20))
        for baseline in [_rate_before(incidents, city, code, start)]
    ]
    with session_scope(engine) as session:
        existing = session.scalar(select(Intervention).where(Intervention.name == INTERVENTION_NAME))
        if existing is None:
            session.add(Intervention(
                name=INTERVENTION_NAME, started_on=start, ended_on=None, area_codes=list(city.intervention),
                description=(f"Synthetic demo (seed {seed}): more street lighting, patrols and community "
                             f"police in {', '.join(city.intervention)} from {start:%Y-%m-%d}; crime there falls "
                             "by about 45% within two months.")))
        added = 0
        for target in targets:
            found = session.scalar(select(IndicatorTarget).where(
                IndicatorTarget.indicator == target["indicator"], IndicatorTarget.scope == target["scope"]))
            if found is None:
                session.add(IndicatorTarget(**target))
                added += 1
    return {"name": INTERVENTION_NAME, "started_on": start.isoformat(), "codes": list(city.intervention),
            "targets_added": added, "intervention_added": existing is None}


def existing_demo(engine: Engine) -> tuple[int | None, dt.date] | None:
    """``(seed, today)`` of the demo already in the database, or None when there is none.

    Read back from the stored intervention (its start fixes the period; its description the seed).
    """
    with engine.connect() as conn:
        row = conn.execute(select(Intervention.started_on, Intervention.description)
                           .where(Intervention.name == INTERVENTION_NAME)).first()
    if row is None:
        return None
    started = row.started_on if isinstance(row.started_on, dt.date) else dt.date.fromisoformat(str(row.started_on))
    found = re.search(r"seed (\d+)", row.description or "")
    # intervention_start() is 13 months before the last month; "today" is any day after that month.
    month = started.year * 12 + started.month - 1 + 14
    return (int(found.group(1)) if found else None), dt.date(month // 12, month % 12 + 1, 1)


def _build_date(engine: Engine, seed: int, today: dt.date | None) -> dt.date:
    """The date to build for: the existing demo's (so a rebuild adds nothing), else ``today``."""
    previous = existing_demo(engine)
    if previous is None:
        return today or dt.date.today()
    old_seed, old_today = previous
    if old_seed is not None and old_seed != seed:
        raise ValueError(f"the database already holds the demo city built with seed {old_seed}; "
                         f"use a fresh database for seed {seed}")
    if today is not None and period_bounds(today) != period_bounds(old_today):
        raise ValueError(f"the database already holds the demo city for {period_bounds(old_today)[0]} to "
                         f"{period_bounds(old_today)[1]}; use a fresh database for another period")
    return old_today


def build_demo(engine: Engine | None = None, seed: int = 2024, out_dir: str | Path | None = None, *,
               today: dt.date | None = None, user_name: str | None = None,
               progress: bool = False) -> dict[str, Any]:
    """Build the demo city into the database through the real importers.

    Inputs: ``engine`` (default: the configured database; its schema is created if missing),
    ``seed`` (same seed and ``today`` give the same files and counts), ``out_dir`` for the files
    (default ``data/demo/``), ``today`` (default: the current date; the data end with the last
    complete month before it). A database that already holds the demo is rebuilt for its own
    seed and period, so nothing is added (a different seed or period raises ``ValueError``).

    Returns a dict: ``city`` (name), ``seed``, ``period`` (first and last day, ISO), ``files``
    (kind -> path), ``imports`` (kind -> report counts: total, loaded, rejected, duplicates,
    revised, unassigned, batch_id, balanced, unknown_labels), ``neighbourhoods``, ``police``,
    ``complaints`` and ``survey_respondents`` (rows loaded by this call), ``hotspots`` (codes of
    every planted hotspot neighbourhood), ``hotspot_clusters``, ``intervention_codes``,
    ``intervention`` (name, start date, targets added), ``warnings`` (list of str).
    """
    from observatory.ingest.boundaries import import_boundaries
    from observatory.ingest.incidents import ingest_incidents
    from observatory.ingest.surveys import ingest_survey

    engine = engine or get_engine()
    _ensure_schema(engine)
    today = _build_date(engine, seed, today)
    drawn = write_demo_files(out_dir, seed=seed, today=today)
    paths, city = drawn["paths"], drawn["city"]
    reports: dict[str, Any] = {}
    reports["boundaries"] = import_boundaries(
        paths["boundaries"], layer=LAYER, id_field="code", name_field="name", population_field="population",
        district_field="district", level="neighbourhood", engine=engine, user_name=user_name)
    reports["police"] = ingest_incidents(
        paths["police"], source_kind="police", profile="generic_incidents", engine=engine,
        rejects_path=None, user_name=user_name, progress=progress)
    reports["complaints"] = ingest_incidents(
        paths["complaints"], source_kind="complaint", profile="generic_complaints", engine=engine,
        rejects_path=None, user_name=user_name, progress=progress)
    for wave in (1, 2):
        reports[f"survey_{wave}"] = ingest_survey(
            paths[f"survey_{wave}"], profile="generic_survey", engine=engine, user_name=user_name)
    plan = _register_plan(engine, city, drawn["incidents"], today, seed)
    warnings = []
    with engine.connect() as conn:
        primary = conn.execute(select(BoundaryLayer.is_primary).where(BoundaryLayer.name == LAYER)).scalar()
    if not primary:
        warnings.append("the database already had a primary boundary layer: demo incidents were assigned to it, "
                        "not to the demo neighbourhoods; build the demo into an empty database")
    imports = {kind: _summary(report) for kind, report in reports.items()}
    first, last = drawn["period"]
    result = {
        "city": CITY_NAME,
        "seed": seed,
        "period": (first.isoformat(), last.isoformat()),
        "files": {kind: str(path) for kind, path in paths.items()},
        "imports": imports,
        "neighbourhoods": len(city.areas),
        "police": imports["police"]["loaded"],
        "complaints": imports["complaints"]["loaded"],
        "survey_respondents": imports["survey_1"]["loaded"] + imports["survey_2"]["loaded"],
        "hotspots": city.hotspot_codes,
        "hotspot_clusters": [list(c) for c in city.hotspots],
        "intervention_codes": list(city.intervention),
        "intervention": plan,
        "warnings": warnings,
    }
    log.info("demo city built: %s", {k: v for k, v in result.items() if k not in ("files", "imports")})
    return result


def summary(result: dict[str, Any]) -> str:
    """A few human-readable lines describing a :func:`build_demo` result (for the CLI)."""
    lines = [f"{result['city']} (seed {result['seed']}), {result['period'][0]} to {result['period'][1]}"]
    for kind, rep in result["imports"].items():
        lines.append(f"  {kind:<11} read {rep['total']:>7,}  loaded {rep['loaded']:>7,}  rejected {rep['rejected']:>4,}"
                     f"  duplicates {rep['duplicates']:>7,}  unassigned {rep['unassigned']:>5,}")
    lines.append(f"  planted hotspots: {', '.join(result['hotspots'])}")
    plan = result["intervention"]
    lines.append(f"  intervention '{plan['name']}' from {plan['started_on']} in {', '.join(plan['codes'])}")
    lines.append(f"  files in {Path(result['files']['police']).parent}")
    lines.extend(f"  warning: {w}" for w in result.get("warnings", []))
    return "\n".join(lines)
