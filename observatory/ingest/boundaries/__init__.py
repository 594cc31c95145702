"""Import a boundary layer (neighbourhoods, districts, police quadrants...) from GeoJSON, GeoPackage or Shapefile.

Areas are stored in WGS84 (EPSG:4326) as WKB with their area in km² (measured in a Lambert azimuthal
equal-area projection centred on the layer) and their centroid. A layer can be imported again from a new
version of its file: areas whose code persists keep their id, new codes are added, vanished codes are
deactivated, and incidents (and, for the primary layer, survey responses) are reassigned in the same
transaction, so none is lost.

:func:`import_boundaries` calls one named stage after the other:

1. read (:mod:`.read`): the layer of the file (a GeoPackage may hold several) and its attribute text,
   in the encoding asked for or the declared one with fallbacks;
2. normalise the geometries (:mod:`.geometry`): to WGS84 in 2-D, repaired, polygonal parts only;
3. normalise the features (:mod:`.prepare`): codes, names, population and district; a feature without
   id or polygon is rejected naming file, feature and field;
4. deduplicate (:mod:`.prepare`): exact copies counted as duplicates, one code for different areas
   refuses the file; then area and centroid are measured;
5. split against what is stored (:mod:`.stored`): new, updated, unchanged and vanished areas;
6. write (:mod:`.write`): one transaction with the batch: the layer row, its areas and its primary role;
7. reassign: incidents of the layers whose areas or role changed (``observatory.ingest.assign``) and, when
   the primary layer changed, survey responses (``observatory.ingest.surveys``), in that transaction;
8. report (``observatory.ingest.report``), with a warning when the primary layer lacks population.

Population can also be attached afterwards from a table: :mod:`.population` (``boundaries population``).
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
from sqlalchemy import Connection, Engine

from observatory.db.session import get_engine
from observatory.ingest.assign import reassign_layer
from observatory.ingest.batches import close_batch, open_batch
from observatory.ingest.boundaries.geometry import equal_area_crs, measure, repair, to_wgs84
from observatory.ingest.boundaries.population import attach_population, missing_population_warning
from observatory.ingest.boundaries.prepare import non_unique_id, parse_population, prepare_areas
from observatory.ingest.boundaries.read import (
    FALLBACK_ENCODINGS,
    RAW_ENCODING,
    choose_source_layer,
    read_boundary_file,
)
from observatory.ingest.boundaries.write import WrittenLayer, write_areas, write_layer
from observatory.ingest.report import ImportFailed, ImportReport, file_sha256
from observatory.ingest.surveys import reassign_survey_responses
from observatory.vocabulary import BOUNDARY_LEVELS as LEVELS

# reassign_layer and reassign_survey_responses are looked up here when an import runs (tests replace them)
__all__ = [
    "FALLBACK_ENCODINGS", "LEVELS", "RAW_ENCODING", "attach_population", "choose_source_layer", "equal_area_crs",
    "import_boundaries", "measure", "missing_population_warning", "non_unique_id", "parse_population",
    "prepare_areas", "read_boundary_file", "reassign_layer", "reassign_survey_responses", "repair", "to_wgs84",
    "write_areas", "write_layer",
]


# --------------------------------------------------------------------------- stages


def _check_arguments(path: Path, layer: str, level: str) -> None:
    if level not in LEVELS:
        raise ImportFailed(f"{path.name}: level must be one of {', '.join(LEVELS)}, not {level!r}")
    if not layer or not str(layer).strip():
        raise ImportFailed(f"{path.name}: a layer name is required")


def _read_in_wgs84(path: Path, report: ImportReport, *, crs: str | None, encoding: str | None,
                   source_layer: str | None) -> tuple[gpd.GeoDataFrame, str, str | None]:
    """Stages 1-2 (geometries as yet unrepaired): the frame in WGS84, its source CRS and the layer read."""
    frame, warnings = read_boundary_file(path, encoding=encoding, source_layer=source_layer)
    report.warnings.extend(warnings)
    read_layer = frame.attrs.get("source_layer")
    frame, source_crs, crs_warnings = to_wgs84(frame, crs, path.name)
    report.warnings.extend(crs_warnings)
    return frame, source_crs, read_layer


def _reassign(conn: Connection, written: WrittenLayer, report: ImportReport) -> None:
    """Stage 7: incidents of the layers ``written`` names, and survey responses when the primary layer changed.

    Survey responses get their neighbourhood (and its district) from the primary layer by area code:
    whenever that layer changes (areas moved, renamed, retired, districts revised) or another layer takes
    or gives up the primary role, they are re-derived here, in the same transaction.
    """
    reassigned = {str(i): reassign_layer(conn, i) for i in written.to_reassign}
    survey_changed, survey_unassigned = 0, None
    if (written.make_primary or written.was_primary) and (written.to_reassign or report.revised):
        survey_changed, survey_unassigned = reassign_survey_responses(conn)
    report.details["primary"] = bool(written.make_primary)
    report.details["reassigned"] = reassigned
    report.details["survey_responses_reassigned"] = survey_changed
    report.details["survey_responses_unassigned"] = survey_unassigned


def _warn_missing_population(conn: Connection, written: WrittenLayer, report: ImportReport) -> None:
    if written.make_primary:
        warning = missing_population_warning(conn, written.layer_id)
        report.warnings.extend([warning] if warning else [])


# --------------------------------------------------------------------------- the import


def import_boundaries(path: str | Path, *, layer: str, id_field: str, name_field: str,
                      population_field: str | None = None, district_field: str | None = None,
                      crs: str | None = None, level: str = "neighbourhood", primary: bool | None = None,
                      engine: Engine | None = None, user_name: str | None = None,
                      encoding: str | None = None, source_layer: str | None = None) -> ImportReport:
    """Import (or replace) boundary layer ``layer`` from a GeoJSON, GeoPackage or Shapefile.

    Inputs: the file; the layer name; the fields holding each area's unique id (stored as its code), name,
    optional population (a count of residents; blanks -> unknown) and district; ``crs`` for files that
    declare none (any pyproj string, e.g. ``"EPSG:3435"``); ``level`` ("neighbourhood", "district" or
    "other"); ``primary``: True makes this the layer incidents' neighbourhood refers to, False stops it
    being so, None keeps the layer's current role (a new neighbourhood layer becomes primary when there is
    none yet); ``encoding`` of the attribute text (a Python codec name such as ``"latin-1"``; None: the
    file's declared encoding with fallbacks, see :func:`read_boundary_file`); ``source_layer``, the layer
    inside a multi-layer file (GeoPackage) to read (None: the only polygon layer; several fail).
    Output: the :class:`ImportReport`; ``details`` holds repaired geometries, areas added/updated/
    deactivated, ``reassigned`` (layer id -> incident rows rewritten), ``survey_responses_reassigned``
    (survey responses whose neighbourhood or district changed; 0 unless the primary layer changed) and
    ``survey_responses_unassigned`` (responses with an area code left without a neighbourhood; None when
    they were not recomputed). The batch, areas and both reassignments form one transaction.
    Raises :class:`ImportFailed` for an unreadable file, an ambiguous or missing layer, text that is not in
    the given encoding, a missing field or an unknown CRS.
    """
    path = Path(path)
    _check_arguments(path, layer, level)
    report = ImportReport(file_name=path.name, source_kind="boundaries", profile="boundaries",
                          sha256=file_sha256(path) if path.exists() else "")
    frame, source_crs, read_layer = _read_in_wgs84(path, report, crs=crs, encoding=encoding,
                                                   source_layer=source_layer)
    areas = prepare_areas(frame, report, id_field=id_field, name_field=name_field,
                          population_field=population_field, district_field=district_field)
    report.details.update({"layer": layer, "level": level, "source_crs": source_crs, "source_layer": read_layer,
                           "encoding": encoding or "auto"})
    if areas.empty:
        raise ImportFailed(f"{path.name}: no usable area ({report.rejected} features rejected"
                           f"{': ' + report.rejections[0].reason if report.rejections else ''})")

    engine = engine or get_engine()
    with engine.begin() as conn:
        batch_id = open_batch(conn, report, layer=layer, user_name=user_name)
        written = write_layer(conn, report, areas, name=layer, level=level, primary=primary,
                              source_crs=source_crs, batch_id=batch_id)
        _reassign(conn, written, report)
        _warn_missing_population(conn, written, report)
        close_batch(conn, report)
    return report
