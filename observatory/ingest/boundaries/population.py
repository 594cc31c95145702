"""Attach population to an existing boundary layer from a table (CSV, Excel "Unicode Text", XLSX, ODS).

Many boundary files carry no population (Mexico City's police quadrants, for one), and without it
every rate is empty. ``attach_population`` reads one row per area (an id column holding the layer's
area codes, a population column holding a count of residents) and stores the population on the
matching active areas, in one transaction with its import batch: a non-numeric, negative or blank
population, or an id given twice with different values, refuses the whole file naming file, row and
field, and nothing is stored. Ids that match no area are reported (and kept as rejected rows for the
analyst); areas the file does not mention keep the population they had.

:func:`attach_population` calls its stages in order: read, normalise and deduplicate the table
(:func:`read_population`); split its codes against the layer's stored areas; write the changed
populations; report. :func:`missing_population_warning` is the warning the boundary and incident
importers add when the primary layer lacks population.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, select, update

from observatory.db.models import BoundaryLayer, Neighbourhood
from observatory.db.session import get_engine
from observatory.ingest.batches import close_batch, open_batch
from observatory.ingest.boundaries.prepare import parse_population
from observatory.ingest.readers import read_table
from observatory.ingest.report import ImportFailed, ImportReport, file_sha256

LISTED = 10  # ids named in a message before "... and N more"


def _listed(codes: list[str]) -> str:
    shown = ", ".join(repr(c) for c in codes[:LISTED])
    return shown + (f" ... and {len(codes) - LISTED} more" if len(codes) > LISTED else "")


def read_population(path: str | Path, *, id_field: str, population_field: str, encoding: str | None = None,
                    delimiter: str | None = None, sheet: str | None = None) -> tuple[dict[str, float], dict[str, int],
                                                                                     int]:
    """The ``code -> population`` of a table, with the row of each code and the rows read.

    Raises :class:`ImportFailed` naming file, row and field for a missing column, a blank id, a value
    that is not a count of residents (text, negative, blank) or an id repeated with another value.
    A row repeated exactly is read once.
    """
    path = Path(path)
    table = read_table(path, encoding=encoding, delimiter=delimiter, sheet=sheet)
    for field, what in ((id_field, "id"), (population_field, "population")):
        if field not in table.columns:
            raise ImportFailed(f"{path.name}: the {what} field {field!r} is not in the file "
                               f"(fields: {', '.join(table.columns)})")
    if table.bad_rows:
        bad = table.bad_rows[0]
        raise ImportFailed(f"{path.name}, row {bad.row_number}: {bad.reason}")
    values: dict[str, float] = {}
    rows: dict[str, int] = {}
    for code, text, row in zip(table.frame[id_field], table.frame[population_field], table.row_numbers, strict=True):
        code = str(code).strip()
        if not code:
            raise ImportFailed(f"{path.name}, row {row}, field {id_field!r}: the area id is blank")
        try:
            number = parse_population(text)
        except ValueError:
            number = None
        if number is None:
            raise ImportFailed(f"{path.name}, row {row}, field {population_field!r}: {str(text)[:40]!r} is not a "
                               "population (a count of residents, 0 or more); nothing was stored")
        if code in values and values[code] != number:
            raise ImportFailed(f"{path.name}, row {row}, field {id_field!r}: area {code!r} appears again (first on "
                               f"row {rows[code]}) with another population; nothing was stored")
        values.setdefault(code, number)
        rows.setdefault(code, row)
    return values, rows, len(table.frame)


@dataclass
class _Match:
    """The table's codes against the layer's active areas (stage 2 of :func:`attach_population`)."""

    layer_id: int
    stored: dict[str, Any]  # code -> stored row (id, code, population)
    matched: list[str]
    unmatched: list[str]  # codes of the table that name no active area
    changed: list[dict[str, Any]]  # update parameters of the matched areas whose population changes
    without: list[str]  # codes of the areas the table does not mention that still have no population


def _match_stored(conn: Connection, path: Path, layer: str, id_field: str, values: dict[str, float]) -> _Match:
    """Split the table's codes against what layer ``layer`` stores; refuses an unknown layer or no match."""
    found = conn.execute(select(BoundaryLayer.id).where(BoundaryLayer.name == layer)).scalar()
    if found is None:
        names = ", ".join(conn.scalars(select(BoundaryLayer.name).order_by(BoundaryLayer.name))) or "none"
        raise ImportFailed(f"{path.name}: no boundary layer named {layer!r} (layers: {names}); import the "
                           "boundaries first with `boundaries import`")
    stored = {r.code: r for r in conn.execute(select(Neighbourhood.id, Neighbourhood.code, Neighbourhood.population)
                                              .where(Neighbourhood.layer_id == found,
                                                     Neighbourhood.active.is_(True)))}
    matched = [c for c in values if c in stored]
    unmatched = [c for c in values if c not in stored]
    if not matched:
        raise ImportFailed(f"{path.name}: none of the {len(values)} ids in {id_field!r} is an area code of layer "
                           f"{layer!r} (file: {_listed(unmatched[:3])}; layer: {_listed(sorted(stored)[:3])})")
    changed = [{"b_id": stored[c].id, "population": values[c]} for c in matched
               if stored[c].population is None or float(stored[c].population) != values[c]]
    without = sorted(c for c, r in stored.items() if c not in values and r.population is None)
    return _Match(int(found), stored, matched, unmatched, changed, without)


def _write(conn: Connection, match: _Match) -> None:
    """Store the changed populations; the layer's version goes up so cached figures are recomputed."""
    if match.changed:
        conn.execute(update(Neighbourhood).where(Neighbourhood.id == bindparam("b_id"))
                     .values(population=bindparam("population")), match.changed)
        conn.execute(update(BoundaryLayer).where(BoundaryLayer.id == match.layer_id)
                     .values(version=BoundaryLayer.version + 1))


def _report(report: ImportReport, match: _Match, path: Path, *, layer: str, id_field: str, population_field: str,
            values: dict[str, float], rows: dict[str, int]) -> None:
    """Counts, rejected ids (kept for the analyst) and warnings of the attachment."""
    for code in match.unmatched:
        report.reject(rows[code], id_field, f"{path.name}, row {rows[code]}: no active area with code {code!r} in "
                      f"layer {layer!r}", {id_field: code, population_field: values[code]})
    report.loaded, report.revised = len(match.matched), len(match.changed)
    report.details.update({"layer": layer, "matched": len(match.matched), "unmatched": match.unmatched[:100],
                           "areas_without_population": len(match.without)})
    if match.unmatched:
        report.warnings.append(f"{len(match.unmatched)} ids match no area of layer {layer!r}: "
                               f"{_listed(match.unmatched)}")
    if match.without:
        report.warnings.append(f"{len(match.without)} of {len(match.stored)} areas of layer {layer!r} still have no "
                               f"population (their rates stay empty): {_listed(match.without)}")


def attach_population(path: str | Path, *, layer: str, id_field: str, population_field: str,
                      engine: Engine | None = None, user_name: str | None = None, encoding: str | None = None,
                      delimiter: str | None = None, sheet: str | None = None) -> ImportReport:
    """Store the population of ``path`` on the active areas of boundary layer ``layer``.

    Inputs: the table; the layer name; the column holding each area's code (as stored by
    ``boundaries import --id-field``) and the column holding its population. Output: the
    :class:`ImportReport` (source kind ``boundaries``, profile ``population``): ``loaded`` = areas
    given a population (``revised`` of them changed a stored value), ``rejected`` = ids matching no
    area, ``duplicates`` = exact repeats; ``details`` has ``matched``, ``unmatched`` (first 100 ids),
    ``areas_without_population`` (active areas still without one) and ``layer``. The layer's version
    goes up when a value changed, so cached figures are recomputed. Raises :class:`ImportFailed`.
    """
    path = Path(path)
    if not path.exists():
        raise ImportFailed(f"{path}: file not found")
    values, rows, read = read_population(path, id_field=id_field, population_field=population_field,
                                         encoding=encoding, delimiter=delimiter, sheet=sheet)
    report = ImportReport(file_name=path.name, source_kind="boundaries", profile="population",
                          sha256=file_sha256(path), total=read)
    report.duplicates = read - len(values)
    engine = engine or get_engine()
    with engine.begin() as conn:
        match = _match_stored(conn, path, layer, id_field, values)
        open_batch(conn, report, layer=layer, user_name=user_name)
        _write(conn, match)
        _report(report, match, path, layer=layer, id_field=id_field, population_field=population_field,
                values=values, rows=rows)
        close_batch(conn, report)
    return report


def missing_population_warning(conn: Connection, layer_id: int | None = None) -> str | None:
    """The import report's warning when the primary layer (or ``layer_id``) lacks population, else None.

    Every rate per 100,000 residents divides by an area's population: without it the rate is empty.
    """
    query = select(BoundaryLayer.id, BoundaryLayer.name)
    query = query.where(BoundaryLayer.id == layer_id) if layer_id is not None else query.where(
        BoundaryLayer.is_primary.is_(True))
    layer = conn.execute(query).first()
    if layer is None:
        return None
    total, known = conn.execute(select(func.count(), func.count(Neighbourhood.population))
                                .where(Neighbourhood.layer_id == layer.id, Neighbourhood.active.is_(True))).one()
    if not total or known == total:
        return None
    how = (f"attach population with `python -m observatory boundaries population FILE.csv --layer {layer.name} "
           "--id-field CODE_COLUMN --population-field POPULATION_COLUMN`")
    if known == 0:
        return f"layer {layer.name!r} has no population: rates will be empty; {how}"
    return (f"{total - known} of {total} areas of layer {layer.name!r} have no population: their rates will be "
            f"empty; {how}")
