"""Command line: ``python -m observatory <command>``.

Every command upgrades the database to the newest migration first. Errors are printed as one
sentence naming the file, row and field, with a non-zero exit code (2 for bad input, 1 for an
unexpected failure). ``--json`` prints the import report as one JSON object, for scheduled jobs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, func, select

from observatory.vocabulary import BOUNDARY_LEVELS

EXIT_BAD_INPUT = 2


def database_line() -> str:
    """Which database the command uses, its password masked; says so when it is the default SQLite file."""
    import os

    from sqlalchemy.engine import make_url

    from observatory.config import database_url

    url = database_url()
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL fails later with its own error; never print a password
        shown = url.split("@")[-1] if "@" in url else url
    if not os.environ.get("OBSERVATORY_DATABASE_URL"):
        return (f"database: {shown} (the default SQLite file: OBSERVATORY_DATABASE_URL is not set; set it to use "
                "PostgreSQL)")
    return f"database: {shown}"


def _engine():
    from observatory.db.session import get_engine, upgrade_to_head

    upgrade_to_head()
    return get_engine()


def _print_report(report: Any, as_json: bool) -> None:
    if as_json:
        data = report.to_dict(max_rejections=None)
        data["balanced"] = report.balanced
        print(json.dumps(data, ensure_ascii=False, default=str))
    else:
        print(report.summary())


def _import(args: argparse.Namespace, kind: str, **options: Any) -> Any:
    # The one entry point the upload page uses too: it checks the options and writes the audit event
    # (admins read it; "cli" when no --user) in the import's own transaction.
    from observatory.ingest.entry import import_file

    return import_file(kind, args.file, user_name=args.user, via="cli", engine=_engine(), **options)


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from sqlalchemy.engine import make_url

    from observatory.config import database_url

    _engine()
    print(f"database at head: {make_url(database_url()).render_as_string(hide_password=True)}")
    return 0


def cmd_boundaries_import(args: argparse.Namespace) -> int:
    report = _import(args, "boundaries", layer=args.layer, id_field=args.id_field, name_field=args.name_field,
                     population_field=args.population_field, district_field=args.district_field, crs=args.crs,
                     level=args.level, primary=args.primary, encoding=args.encoding,
                     source_layer=args.source_layer)
    _print_report(report, args.json)
    if not args.json:
        # the generic summary has no room for what a boundary change did to stored records
        incidents = sum(report.details.get("reassigned", {}).values())
        surveys = report.details.get("survey_responses_reassigned", 0)
        print(f"  reassigned: {incidents:,} incident rows, {surveys:,} survey responses")
    return 0


def cmd_boundaries_population(args: argparse.Namespace) -> int:
    report = _import(args, "population", layer=args.layer, id_field=args.id_field,
                     population_field=args.population_field, encoding=args.encoding, sheet=args.sheet)
    _print_report(report, args.json)
    if not args.json:
        print(f"  matched: {report.details['matched']:,} areas ({report.revised:,} changed), "
              f"unmatched ids: {report.rejected:,}, areas still without population: "
              f"{report.details['areas_without_population']:,}")
    return 0


def cmd_categories(args: argparse.Namespace) -> int:
    from observatory import queries

    frame = queries.categories(_engine())[["code", "iccs_code", "name_es", "name_en", "sensitive"]]
    rows = [{k: (None if v is None or v != v else v) for k, v in r.items()} for r in frame.to_dict("records")]
    for row in rows:
        row["sensitive"] = bool(row["sensitive"])
    if args.json:
        print(json.dumps(rows, ensure_ascii=False))
        return 0
    print(f"{'code':<28} {'ICCS':<8} {'sensitive':<9} name (es) / name (en)")
    for row in rows:
        print(f"{row['code']:<28} {row['iccs_code'] or '-':<8} {'yes' if row['sensitive'] else '':<9} "
              f"{row['name_es']} / {row['name_en']}")
    print(f"{len(rows)} categories; map a source label onto one with `alias add LABEL CODE` or a profile's "
          "[aliases] table")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    # an option the kind does not take (--wave for police, --sheet for a survey) is refused in one sentence
    report = _import(args, "complaint" if args.kind == "complaints" else args.kind, profile=args.profile,
                     wave=args.wave, territory=args.territory, rejects_path=args.rejects, label=args.label,
                     max_rejected_share=args.max_rejected_share, sheet=args.sheet,
                     progress=not args.json and not args.quiet)
    _print_report(report, args.json)
    return 0


def cmd_alias_add(args: argparse.Namespace) -> int:
    from observatory.db.models import CategoryAlias, CrimeCategory
    from observatory.ingest.incidents import update_unclassified
    from observatory.ingest.report import ImportFailed
    from observatory.taxonomy import CATEGORIES_HINT
    from observatory.text import label_key

    engine = _engine()
    key = label_key(args.label)
    if not key:
        raise ImportFailed("alias add: the label is blank")
    with engine.begin() as conn:
        category = conn.execute(select(CrimeCategory).where(CrimeCategory.code == args.category)).first()
        if category is None:
            codes = ", ".join(conn.scalars(select(CrimeCategory.code).order_by(CrimeCategory.code)))
            raise ImportFailed(f"alias add: unknown category {args.category!r}; categories: {codes} "
                               f"({CATEGORIES_HINT})")
        existing = conn.execute(select(CategoryAlias.id).where(CategoryAlias.profile == args.profile,
                                                                CategoryAlias.label_key == key)).scalar()
        if existing is None:
            conn.execute(CategoryAlias.__table__.insert().values(profile=args.profile, label_key=key,
                                                                  category_id=category.id))
        else:
            conn.execute(CategoryAlias.__table__.update().where(CategoryAlias.id == existing)
                         .values(category_id=category.id))
        changed = update_unclassified(conn, args.label, category.id, category.sensitive, args.profile)
    print(f"alias {args.label!r} -> {args.category} (profile {args.profile}); "
          f"{changed:,} stored unclassified incidents reclassified")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from observatory.demo import build_demo

    result = build_demo(engine=_engine(), seed=args.seed, out_dir=args.out)
    if args.json:
        print(json.dumps(result, ensure_ascii=False, default=str))
    else:
        print(f"demo city built (seed {args.seed}):")
        for key, value in result.items():
            if not isinstance(value, dict | list):
                print(f"  {key}: {value}")
    return 0


def status(engine: Any) -> dict[str, Any]:
    """What the database holds: layers with their areas, incidents by source, batches (with the records
    each release withdrew), survey waves."""
    from observatory.db.models import BoundaryLayer, Incident, Neighbourhood, SurveyResponse, SurveyWave
    from observatory.queries.batches import recent_batches

    with engine.connect() as conn:
        layers = [
            {"name": r.name, "level": r.level, "primary": bool(r.is_primary), "version": r.version, "areas": r.areas}
            for r in conn.execute(
                select(BoundaryLayer.name, BoundaryLayer.level, BoundaryLayer.is_primary, BoundaryLayer.version,
                       func.count(Neighbourhood.id).label("areas"))
                .outerjoin(Neighbourhood, (Neighbourhood.layer_id == BoundaryLayer.id) & Neighbourhood.active)
                .group_by(BoundaryLayer.id).order_by(BoundaryLayer.name))
        ]
        incidents = [
            {"source_kind": r.source_kind, "profile": r.profile, "records": r.records, "count": int(r.total or 0),
             "unassigned": int(r.unassigned or 0), "first": str(r.first), "last": str(r.last)}
            for r in conn.execute(
                select(Incident.source_kind, Incident.profile, func.count().label("records"),
                       func.sum(Incident.count).label("total"),
                       func.sum(case((Incident.neighbourhood_id.is_(None), 1), else_=0)).label("unassigned"),
                       func.min(Incident.occurred_on).label("first"), func.max(Incident.occurred_on).label("last"))
                .group_by(Incident.source_kind, Incident.profile).order_by(Incident.source_kind, Incident.profile))
        ]
        waves = [
            {"name": r.name, "profile": r.profile, "responses": r.responses}
            for r in conn.execute(
                select(SurveyWave.name, SurveyWave.profile, func.count(SurveyResponse.id).label("responses"))
                .outerjoin(SurveyResponse, SurveyResponse.wave_id == SurveyWave.id)
                .group_by(SurveyWave.id).order_by(SurveyWave.name))
        ]
    # The command line is the operator's own view of the database: the restricted role.
    batches = recent_batches(engine, "admin", limit=20)
    return {"layers": layers, "incidents": incidents, "batches": batches, "survey_waves": waves}


def _print_withdrawn(engine: Any, batch_id: int, as_json: bool) -> int:
    from observatory.queries.batches import withdrawn_records

    listing = withdrawn_records(engine, batch_id, "admin")
    if as_json:
        print(json.dumps(listing, ensure_ascii=False, default=str))
        return 0
    print(f"batch #{listing['batch_id']} ({listing['file']}): {listing['withdrawn']:,} records withdrawn "
          "(in the previous release, absent from this one; kept)")
    for record in listing["records"]:
        print(f"  {record['source_id']}\t{record['occurred_on'] or '-'}")
    if listing["not_listed"]:
        print(f"  and {listing['not_listed']:,} more (the report lists the first {len(listing['records']):,} "
              "by id)")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    if args.batch is not None:
        return _print_withdrawn(_engine(), args.batch, args.json)
    data = status(_engine())
    if args.json:
        print(json.dumps(data, ensure_ascii=False, default=str))
        return 0
    print("boundary layers:" if data["layers"] else "boundary layers: none (import with `boundaries import`)")
    for layer in data["layers"]:
        flag = " (primary)" if layer["primary"] else ""
        print(f"  {layer['name']}{flag}: {layer['areas']:,} areas, level {layer['level']}, version {layer['version']}")
    print("incidents:" if data["incidents"] else "incidents: none")
    for row in data["incidents"]:
        print(f"  {row['source_kind']} / {row['profile']}: {row['records']:,} records ({row['count']:,} incidents), "
              f"{row['first']} .. {row['last']}, {row['unassigned']:,} unassigned")
    print("survey waves:" if data["survey_waves"] else "survey waves: none")
    for wave in data["survey_waves"]:
        print(f"  {wave['name']} ({wave['profile']}): {wave['responses']:,} responses")
    print("latest import batches:" if data["batches"] else "import batches: none")
    for batch in data["batches"]:
        withdrawn = (f", withdrawn {batch['withdrawn']:,}: `status --batch {batch['id']}` lists them"
                     if batch["withdrawn"] else "")
        print(f"  #{batch['id']} {batch['kind']} {batch['profile']} {batch['status']}: {batch['file']} "
              f"(read {batch['total']:,}, loaded {batch['loaded']:,}, rejected {batch['rejected']:,}, "
              f"duplicates {batch['duplicates']:,}{withdrawn})")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``python -m observatory``."""
    parser = argparse.ArgumentParser(prog="python -m observatory",
                                     description="Municipal crime observatory: database, imports and demo.")
    parser.add_argument("--user", default=None, help="name recorded with imports (audit)")
    sub = parser.add_subparsers(dest="command", required=True)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="create or upgrade the schema").set_defaults(func=cmd_db_upgrade)

    boundaries = sub.add_parser("boundaries", help="neighbourhood and district boundaries")
    b_sub = boundaries.add_subparsers(dest="boundaries_command", required=True)
    b_import = b_sub.add_parser("import", help="import a GeoJSON, GeoPackage or Shapefile")
    b_import.add_argument("file")
    b_import.add_argument("--layer", required=True, help="layer name, e.g. colonias")
    b_import.add_argument("--id-field", required=True, help="attribute with each area's code")
    b_import.add_argument("--name-field", required=True, help="attribute with each area's name")
    b_import.add_argument("--population-field")
    b_import.add_argument("--district-field")
    b_import.add_argument("--crs", help="CRS of a file that declares none, e.g. EPSG:3435")
    b_import.add_argument("--encoding", default=None,
                          help="text encoding of the attributes, e.g. latin-1, cp1252, utf-8 (overrides a .cpg; "
                               "default: the file's declared encoding, with cp1252/Latin-1 fallbacks)")
    b_import.add_argument("--source-layer", metavar="NAME", default=None,
                          help="layer to read in a file with several (GeoPackage); required when more than one "
                               "holds polygons")
    b_import.add_argument("--level", default="neighbourhood", choices=list(BOUNDARY_LEVELS))
    b_import.add_argument("--primary", action=argparse.BooleanOptionalAction, default=None,
                          help="make this the layer incidents are counted in (default: the first neighbourhood layer)")
    b_import.add_argument("--json", action="store_true", help="print the report as one JSON object")
    b_import.set_defaults(func=cmd_boundaries_import)
    b_pop = b_sub.add_parser("population", help="attach population to an existing layer from a CSV or spreadsheet",
                             description="Store each area's population (residents) from a table with one row per "
                                         "area: refused whole, naming file, row and field, when a value is not a "
                                         "number >= 0; ids that match no area are reported.")
    b_pop.add_argument("file")
    b_pop.add_argument("--layer", required=True, help="the boundary layer, as named in `boundaries import`")
    b_pop.add_argument("--id-field", required=True, help="column with each area's code (the layer's --id-field)")
    b_pop.add_argument("--population-field", required=True, help="column with each area's population")
    b_pop.add_argument("--encoding", default=None, help="text encoding of a CSV (default: detected)")
    b_pop.add_argument("--sheet", default=None, help="spreadsheets: the sheet, by name or number from 1")
    b_pop.add_argument("--json", action="store_true", help="print the report as one JSON object")
    b_pop.set_defaults(func=cmd_boundaries_population)

    ingest = sub.add_parser("ingest", help="import police reports, complaints or a survey")
    ingest.add_argument("kind", choices=["police", "complaints", "survey"])
    ingest.add_argument("file")
    ingest.add_argument("--profile", required=True, help="built-in profile name or path to a .toml/.yaml profile")
    ingest.add_argument("--wave", help="survey wave name (surveys only)")
    ingest.add_argument("--territory", metavar="CODE",
                        help="surveys: the code of the observatory's own territory in the profile's territory column "
                             "(ENSU city, e.g. 01 = Mexico City; ENVIPE state, e.g. 09; ECSC municipality, e.g. "
                             "11001 = Bogota). Default: the profile's, else the code of most rows placed in the "
                             "primary layer, else the whole survey; the import report states which")
    ingest.add_argument("--label", help="crime label for files that carry none (one table per crime)")
    ingest.add_argument("--sheet", metavar="NAME", default=None,
                        help="spreadsheets (XLSX, XLS, ODS): the sheet to read, by name or number from 1 "
                             "(overrides the profile's sheet key)")
    ingest.add_argument("--rejects", help="write rejected rows to this CSV for correction")
    ingest.add_argument("--json", action="store_true", help="print the report as one JSON object")
    ingest.add_argument("--quiet", action="store_true", help="no progress bar")
    ingest.add_argument("--max-rejected-share", type=float, default=None, metavar="SHARE",
                        help="fail the import (nothing stored, batch 'failed') when more than this share of the "
                             "rows is rejected, 0..1 (default: the profile's max_rejected_share, else 0.9)")
    ingest.set_defaults(func=cmd_ingest)

    alias = sub.add_parser("alias", help="map source crime labels onto categories")
    a_sub = alias.add_subparsers(dest="alias_command", required=True)
    a_add = a_sub.add_parser("add", help="map LABEL to CATEGORY (a category code, e.g. robbery_person)")
    a_add.add_argument("label")
    a_add.add_argument("category")
    a_add.add_argument("--profile", default="*", help="only for this profile (default: every profile)")
    a_add.set_defaults(func=cmd_alias_add)

    demo = sub.add_parser("demo", help="build the synthetic demo city")
    demo.add_argument("--seed", type=int, default=2024)
    demo.add_argument("--out", help="folder for the generated CSV/GeoJSON files")
    demo.add_argument("--json", action="store_true")
    demo.set_defaults(func=cmd_demo)

    cats = sub.add_parser("categories", help="list the crime category codes (ICCS code, names, sensitive flag)")
    cats.add_argument("--json", action="store_true", help="print the categories as one JSON list")
    cats.set_defaults(func=cmd_categories)

    st = sub.add_parser("status", help="what the database holds")
    st.add_argument("--batch", type=int, metavar="N", default=None,
                    help="list the records batch N's release withdrew (source id, date of occurrence)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)

    try:
        from observatory import auth
    except ImportError:
        auth = None
    if auth is not None and hasattr(auth, "add_cli"):
        auth.add_cli(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    from observatory.ingest.readers import InputFileError
    from observatory.ingest.report import ImportFailed

    args = build_parser().parse_args(argv)
    # first line of every command: which database (stderr under --json, so stdout stays one JSON value)
    print(database_line(), file=sys.stderr if getattr(args, "json", False) else sys.stdout, flush=True)
    try:
        if args.command == "users":
            _engine()  # commands from other modules expect a migrated database too
        return int(args.func(args) or 0)
    except (ImportFailed, InputFileError, FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        if getattr(args, "json", False):  # scheduled jobs read stdout: one JSON object either way
            report = getattr(exc, "report", None)
            print(json.dumps({"status": "failed", "error": str(exc),
                              "report": report.to_dict(max_rejections=200) if report is not None else None},
                             ensure_ascii=False, default=str))
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("interrupted: nothing of the current import was stored", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
