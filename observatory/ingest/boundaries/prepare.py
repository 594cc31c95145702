"""Stages 3 and 4, normalise and deduplicate the features into area rows (nothing stored yet).

:func:`prepare_areas` takes the WGS84 frame of :mod:`.geometry` and, feature by feature:

1. normalises: the code (``5001.0`` -> ``"5001"``), the name (the code when blank, with a warning), the
   geometry repaired (:func:`.geometry.repair`); a feature without code or polygon is rejected, naming file,
   feature and field;
2. deduplicates within the file: an exact copy of an earlier feature (same code, geometry and name) counts
   as a duplicate; one code used by different areas refuses the whole file (:func:`non_unique_id`), since
   incidents would land in one area or the other at random;
3. parses the values of the features kept: population (:func:`parse_population`; unreadable -> unknown,
   with a warning) and district;
4. measures area and centroid (:func:`.geometry.measure`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from observatory.ingest.boundaries.geometry import measure, repair
from observatory.ingest.report import ImportFailed, ImportReport
from observatory.text import fold

# the columns of prepare_areas' output, before the measures are added
_ROW_COLUMNS = ["feature", "code", "name", "name_key", "district", "population", "geometry", "geometry_wkb"]


@dataclass(frozen=True)
class _Fields:
    """The attribute fields the user named: each area's id (its code), name, population and district."""

    id: str
    name: str
    population: str | None
    district: str | None


@dataclass
class _Feature:
    """A feature with a code and a polygon, normalised; ``record`` keeps its attributes for :func:`_parse_values`."""

    feature: int  # 1-based number in the file
    code: str
    name: str
    geometry: shapely.Geometry
    wkb: bytes
    record: dict[str, Any] = field(repr=False)


def _code(value: Any) -> str | None:
    """An area code as text: ``5001.0`` -> ``"5001"``, blanks -> None."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = str(value).strip()
    return text or None


def _text(value: Any) -> str | None:
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def parse_population(value: Any) -> float | None:
    """A population count from a number or text (``"12,345"``, ``"12.345"``, ``"1 234,0"``); blanks -> None.

    Raises ``ValueError`` for text that is not a number or for negative values.
    """
    if value is None or value is pd.NA:
        return None
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
        if math.isnan(number):
            return None
    else:
        text = str(value).strip().replace(" ", "").replace("\u00a0", "")
        if not text:
            return None
        if "," in text and "." in text:  # the last separator is the decimal one
            decimal_comma = text.rfind(",") > text.rfind(".")
            text = text.replace(".", "").replace(",", ".") if decimal_comma else text.replace(",", "")
        elif "," in text:
            # one comma followed by exactly three digits is a thousands separator (12,345), else decimal
            head, _, tail = text.rpartition(",")
            text = text.replace(",", "") if len(tail) == 3 and head else text.replace(",", ".")
        elif text.count(".") > 1:
            text = text.replace(".", "")
        number = float(text)
    if number < 0 or not math.isfinite(number):
        raise ValueError(f"{value!r} is not a population")
    return number



def _require_field(frame: pd.DataFrame, field: str | None, what: str, file_name: str) -> None:
    if field is not None and field not in frame.columns:
        fields = ", ".join(c for c in frame.columns if c != frame.geometry.name)
        raise ImportFailed(f"{file_name}: the {what} field {field!r} is not in the file (fields: {fields})")


def non_unique_id(file_name: str, id_field: str, clashes: dict[str, int]) -> ImportFailed:
    """The refusal of an id field that names several different areas with one code (first codes + count)."""
    ordered = sorted(clashes.items(), key=lambda item: (-item[1], item[0]))
    shown = ", ".join(f"{code!r} ({n} features)" for code, n in ordered[:5])
    more = f" and {len(ordered) - 5} more" if len(ordered) > 5 else ""
    return ImportFailed(f"{file_name}: the id field {id_field!r} is not unique: {len(ordered)} codes are used by "
                        f"more than one area ({shown}{more}); choose a field with one code per area "
                        "(nothing was stored)")


def _normalise(frame: gpd.GeoDataFrame, geometries: np.ndarray, fields: _Fields, report: ImportReport
               ) -> tuple[list[_Feature], list[int]]:
    """Normalise: every feature with a code and a polygon, in file order, and the features without name.

    A feature without code or polygon is rejected in ``report``; an unnamed one is named by its code.
    """
    file_name = report.file_name
    named = {fields.id, fields.name, fields.population, fields.district}
    read_geometries = frame.geometry.values
    features: list[_Feature] = []
    unnamed: list[int] = []
    records = frame.drop(columns=frame.geometry.name).to_dict("records")
    for i, (record, geom) in enumerate(zip(records, geometries, strict=True)):
        feature = i + 1
        raw = {k: v for k, v in record.items() if k in named}
        code = _code(record.get(fields.id))
        if code is None:
            report.reject(feature, fields.id, f"{file_name}, feature {feature}: missing id in field {fields.id!r}",
                          raw)
            continue
        if geom is None:
            kind = "no geometry" if read_geometries[i] is None else (
                f"a {read_geometries[i].geom_type} with no polygon")
            report.reject(feature, "geometry", f"{file_name}, feature {feature} (id {code}): {kind}", raw)
            continue
        name = _text(record.get(fields.name))
        if name is None:
            unnamed.append(feature)
            name = code
        features.append(_Feature(feature, code, name, geom, shapely.to_wkb(geom, output_dimension=2), record))
    return features, unnamed


def _deduplicate(features: list[_Feature], fields: _Fields, report: ImportReport) -> list[_Feature]:
    """Deduplicate: the first feature of each code; exact copies count as duplicates in ``report``.

    Raises :func:`non_unique_id` when one code names different areas (another geometry or name).
    """
    seen: dict[str, _Feature] = {}
    clashes: dict[str, int] = {}  # code -> features using it (not exact copies)
    for feature in features:
        first = seen.get(feature.code)
        if first is None:
            seen[feature.code] = feature
        elif first.wkb == feature.wkb and first.name == feature.name:
            report.duplicates += 1  # an exact copy of an earlier feature: harmless
        else:
            clashes[feature.code] = clashes.get(feature.code, 1) + 1
    if clashes:
        raise non_unique_id(report.file_name, fields.id, clashes)
    return list(seen.values())


def _parse_values(features: list[_Feature], fields: _Fields) -> tuple[pd.DataFrame, list[int]]:
    """Parse the values: the area rows (columns :data:`_ROW_COLUMNS`) and the features with unreadable population."""
    rows: list[dict[str, Any]] = []
    bad_population: list[int] = []
    for f in features:
        population = None
        if fields.population is not None:
            try:
                population = parse_population(f.record.get(fields.population))
            except ValueError:
                bad_population.append(f.feature)
        rows.append({"feature": f.feature, "code": f.code, "name": f.name, "name_key": fold(f.name),
                     "district": _text(f.record.get(fields.district)) if fields.district else None,
                     "population": population, "geometry": f.geometry, "geometry_wkb": f.wkb})
    return pd.DataFrame(rows, columns=_ROW_COLUMNS), bad_population


def _measured(areas: pd.DataFrame) -> pd.DataFrame:
    """Measure: ``area_km2``, ``centroid_lon`` and ``centroid_lat`` added, the shapely geometries dropped."""
    if areas.empty:
        return areas.assign(area_km2=[], centroid_lon=[], centroid_lat=[]).drop(columns="geometry")
    km2, clon, clat = measure(gpd.GeoSeries(areas["geometry"].to_numpy(), crs=4326))
    areas["area_km2"], areas["centroid_lon"], areas["centroid_lat"] = km2, clon, clat
    return areas.drop(columns="geometry")


def _note_fixes(report: ImportReport, repaired: np.ndarray, bad_population: list[int], unnamed: list[int],
                population_field: str | None, name_field: str) -> None:
    """Report repaired geometries, unreadable populations and unnamed features (each loaded anyway)."""
    repaired_features = [int(i) + 1 for i in np.flatnonzero(repaired)]
    report.details["repaired_geometries"] = len(repaired_features)
    report.details["repaired_features"] = repaired_features[:100]
    if repaired_features:
        listed = ", ".join(map(str, repaired_features[:10])) + ("..." if len(repaired_features) > 10 else "")
        report.warnings.append(f"{len(repaired_features)} invalid geometries repaired (features {listed})")
    if bad_population:
        report.warnings.append(f"population in {population_field!r} is not a number in features "
                               f"{', '.join(map(str, bad_population[:10]))}: stored as unknown")
    if unnamed:
        report.warnings.append(f"no name in {name_field!r} for features {', '.join(map(str, unnamed[:10]))}: "
                               "their code is used as name")


def prepare_areas(frame: gpd.GeoDataFrame, report: ImportReport, *, id_field: str, name_field: str,
                  population_field: str | None, district_field: str | None) -> pd.DataFrame:
    """Validate features (WGS84 already) into area rows; rejects and counts go to ``report``.

    Output columns: code, name, name_key, district, population, area_km2, centroid_lon, centroid_lat,
    geometry_wkb, feature (1-based feature number in the file).
    """
    fields = _Fields(id_field, name_field, population_field, district_field)
    for name, what in ((id_field, "id"), (name_field, "name"), (population_field, "population"),
                       (district_field, "district")):
        _require_field(frame, name, what, report.file_name)
    report.total = len(frame)
    geometries, repaired = repair(np.asarray(frame.geometry.values, dtype=object))
    features, unnamed = _normalise(frame, geometries, fields, report)
    kept = _deduplicate(features, fields, report)
    areas, bad_population = _parse_values(kept, fields)
    report.loaded = len(areas)
    _note_fixes(report, repaired, bad_population, unnamed, population_field, name_field)
    return _measured(areas)
