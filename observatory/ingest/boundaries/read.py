"""Stage 1, read: a boundary file (GeoJSON, GeoPackage, Shapefile) into a GeoDataFrame, as stored in the file.

Two questions are settled here, before any feature is looked at:

* which layer: :func:`choose_source_layer` picks the layer of a multi-layer file (a GeoPackage) or refuses
  to guess between several polygon layers;
* which text encoding: :func:`read_boundary_file` decodes the attribute text with the encoding asked for
  (strictly, naming the feature and field of a bad byte), or else with the file's declared one, falling back
  to cp1252 and Latin-1 and repairing UTF-8 read as Latin-1 (a ``.dbf`` without ``.cpg``).

Geometries come out as read (source CRS, possibly invalid); :mod:`.geometry` deals with them next.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from observatory.ingest.report import ImportFailed

# "ISO-8859-1" rather than "latin-1": GDAL recodes shapefiles itself and its iconv does not know "latin-1"
FALLBACK_ENCODINGS = ("cp1252", "ISO-8859-1")
# Read with this, every byte of the attribute text becomes the character of the same number (U+0000-U+00FF),
# in every driver: pyogrio has GDAL recode shapefiles and decodes the other formats itself.
RAW_ENCODING = "ISO-8859-1"


def _is_polygonal(geometry_type: object) -> bool:
    """True for a layer geometry type such as "Polygon", "MultiPolygon Z" or "3D MultiPolygon"."""
    return "polygon" in str(geometry_type or "").lower()


def _may_hold_polygons(geometry_type: object) -> bool:
    """True when a layer's declared type does not rule polygons out ("Unknown", "Geometry", collections).

    A layer without geometry type (pyogrio gives None, or "" here) is a plain table: it holds no polygons.
    """
    kind = str(geometry_type or "").lower()
    return _is_polygonal(kind) or kind.split()[0:1] in (["unknown"], ["geometry"]) or "collection" in kind


def _describe_layers(path: Path, layers: list[tuple[str, str]]) -> str:
    """``'a' (MultiPolygon, 12 features), 'b' (Point, 3 features)`` for error messages."""
    parts = []
    for name, geometry_type in layers:
        try:
            count = int(pyogrio.read_info(path, layer=name)["features"])
            size = f", {count} feature{'s' if count != 1 else ''}" if count >= 0 else ""
        except Exception:  # a count is a courtesy; a layer GDAL cannot describe is still listed
            size = ""
        parts.append(f"{name!r} ({geometry_type or 'no geometry'}{size})")
    return ", ".join(parts)


def choose_source_layer(path: Path, source_layer: str | None) -> tuple[str | None, str | None, list[str]]:
    """The layer of ``path`` to read (GeoPackages and some other formats hold several) and report warnings.

    Input: the file and the layer the user chose (None: choose automatically). Output: the layer name to
    pass to pyogrio (None: the file's only layer, GDAL's default), the name of the layer that will be read
    (None when the file's layers cannot be listed) and warnings. A file with several layers and no choice
    is read only when exactly one layer holds polygons; otherwise :class:`ImportFailed` lists the layers,
    because silently picking one could load the wrong boundaries.
    """
    try:
        layers = [(str(name), str(kind) if kind is not None else "") for name, kind in pyogrio.list_layers(path)]
    except Exception as exc:
        if source_layer is None:
            return None, None, []  # let the reader report an unreadable file with its own message
        raise ImportFailed(f"{path.name}: cannot list the layers of the file to find {source_layer!r} ({exc})"
                           ) from exc
    if source_layer is not None:
        kinds = dict(layers)
        if source_layer not in kinds:
            raise ImportFailed(f"{path.name}: no layer named {source_layer!r} in the file (layers: "
                               f"{_describe_layers(path, layers)})")
        if not _may_hold_polygons(kinds[source_layer]):
            polygon_layers = [(n, k) for n, k in layers if _is_polygonal(k)]
            listed = _describe_layers(path, polygon_layers) if polygon_layers else "none"
            raise ImportFailed(f"{path.name}: layer {source_layer!r} holds {kinds[source_layer] or 'no geometry'}, "
                               f"not polygons (polygon layers: {listed})")
        return source_layer, source_layer, ([f"read layer {source_layer!r} of a file with {len(layers)} layers"]
                                            if len(layers) > 1 else [])
    if len(layers) <= 1:
        return None, (layers[0][0] if layers else None), []
    polygonal = [(n, k) for n, k in layers if _is_polygonal(k)]
    what, whats = "polygon layer", "polygon layers"
    if not polygonal:
        # declared types such as "Unknown" may still hold polygons; only one such layer is unambiguous
        polygonal = [(n, k) for n, k in layers if _may_hold_polygons(k)]
        what, whats = "layer that can hold polygons", "layers that can hold polygons"
    if len(polygonal) == 1:
        name = polygonal[0][0]
        return name, name, [f"read layer {name!r}, the only {what} of a file with {len(layers)} layers"]
    if not polygonal:
        raise ImportFailed(f"{path.name}: none of the file's {len(layers)} layers holds polygons (layers: "
                           f"{_describe_layers(path, layers)})")
    raise ImportFailed(f"{path.name}: the file holds {len(polygonal)} {whats}: "
                       f"{_describe_layers(path, polygonal)}; choose one with --source-layer NAME "
                       f"(source_layer= in Python)")


def _undo_mojibake(frame: pd.DataFrame) -> bool:
    """Repair text columns of a .dbf without .cpg that GDAL read as Latin-1 but that hold UTF-8 bytes.

    Returns True when a column was repaired. A column is re-decoded only if every value round-trips as
    UTF-8 and at least one changes, which genuine Latin-1 text (``Ã`` followed by a symbol) never does.
    """
    repaired = False
    for column in frame.columns:
        if column == "geometry" or not (pd.api.types.is_string_dtype(frame[column])
                                        or frame[column].dtype == object):
            continue
        values = frame[column]
        texts = [v for v in values.dropna().unique().tolist() if isinstance(v, str)]
        if not texts or all(t.isascii() for t in texts):
            continue
        try:
            fixed = {t: t.encode("latin-1").decode("utf-8") for t in texts}
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        if any(k != v for k, v in fixed.items()):
            frame[column] = values.map(lambda v, f=fixed: f.get(v, v) if isinstance(v, str) else v)
            repaired = True
    return repaired


def _first_feature(values: pd.Series, text: str) -> int:
    """1-based feature number of the first row of ``values`` equal to ``text``."""
    return int(np.flatnonzero((values == text).to_numpy(dtype=bool, na_value=False))[0]) + 1


def _decode_as(frame: gpd.GeoDataFrame, encoding: str, file_name: str) -> gpd.GeoDataFrame:
    """Decode field names and text values read byte-for-byte (:data:`RAW_ENCODING`) with ``encoding``.

    Python's codec does the decoding, strictly, so every Python encoding name works for every format (GDAL's
    iconv knows other names) and bytes that are not valid in ``encoding`` stop the import with the feature
    and field instead of being dropped or replaced. Raises :class:`ImportFailed`.
    """
    geometry_name = frame.geometry.name

    def decode(text: str) -> str:
        try:
            raw = text.encode("latin-1")
        except UnicodeEncodeError:  # a driver that returned decoded text already: keep it
            return text
        return raw.decode(encoding)

    others = [e for e in ("utf-8", "cp1252", "latin-1") if not _same_encoding(e, encoding)]

    def hint(exc: UnicodeDecodeError) -> str:
        bad = exc.object[exc.start:exc.end]
        return (f"byte {bad.hex(' ')} at position {exc.start} is not valid {encoding}; the file is in another "
                f"encoding: try --encoding {' or '.join(others)}")

    renames: dict[str, str] = {}
    for column in frame.columns:
        if column == geometry_name:
            continue
        try:
            renames[column] = decode(str(column))
        except UnicodeDecodeError as exc:
            raise ImportFailed(f"{file_name}: field name {str(column)!r} ({hint(exc)})") from exc
        values = frame[column]
        if not (pd.api.types.is_string_dtype(values) or values.dtype == object):
            continue
        texts = [v for v in values.dropna().unique().tolist() if isinstance(v, str) and not v.isascii()]
        fixed: dict[str, str] = {}
        for text in texts:
            try:
                fixed[text] = decode(text)
            except UnicodeDecodeError as exc:
                raise ImportFailed(f"{file_name}, feature {_first_feature(values, text)}, field "
                                   f"{renames[column]!r}: {hint(exc)}") from exc
        if fixed:
            frame[column] = values.map(lambda v, f=fixed: f.get(v, v) if isinstance(v, str) else v)
    return frame.rename(columns=renames)


def _declared_cpg(path: Path) -> str | None:
    """The encoding a shapefile's ``.cpg`` declares (its text), None without one."""
    cpg = path.with_suffix(".cpg")
    if path.suffix.lower() != ".shp" or not cpg.exists():
        return None
    return cpg.read_text(encoding="ascii", errors="replace").strip() or None


def _same_encoding(a: str, b: str) -> bool:
    try:
        return codecs.lookup(a).name == codecs.lookup(b).name
    except LookupError:
        return False


def _read(path: Path, layer: str | None, encoding: str | None) -> gpd.GeoDataFrame:
    """One pyogrio read; GDAL errors (not decoding errors) become :class:`ImportFailed` naming the file."""
    try:
        frame = gpd.read_file(path, engine="pyogrio", layer=layer, encoding=encoding)
    except UnicodeDecodeError:
        raise
    except Exception as exc:  # GDAL errors come in many classes; name the file
        raise ImportFailed(f"{path.name}: cannot read as GeoJSON, GeoPackage or Shapefile ({exc})") from exc
    if not isinstance(frame, gpd.GeoDataFrame) or frame._geometry_column_name not in frame.columns:
        # GDAL also reads CSV and other tables without geometries: not a boundary file.
        raise ImportFailed(f"{path.name}: the file has no geometries (GeoJSON, GeoPackage or Shapefile expected)")
    return frame



def _check_encoding_name(path: Path, encoding: str | None) -> None:
    """Refuse an encoding name Python does not know, before reading anything."""
    if encoding is None:
        return
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise ImportFailed(f"{path.name}: unknown text encoding {encoding!r} (e.g. utf-8, cp1252, latin-1)"
                           ) from None


def _read_as(path: Path, layer: str | None, encoding: str, warnings: list[str]) -> gpd.GeoDataFrame:
    """Read with the encoding the user gave: the bytes untouched, then decoded by Python (see _decode_as)."""
    try:
        raw = _read(path, layer, RAW_ENCODING)
    except UnicodeDecodeError as exc:  # not expected: every byte is valid ISO-8859-1
        raise ImportFailed(f"{path.name}: cannot read the attribute text ({exc})") from exc
    frame = _decode_as(raw, encoding, path.name)
    declared = _declared_cpg(path)
    if declared and not _same_encoding(declared, encoding):
        warnings.append(f"the .cpg declares {declared}; text decoded as {encoding} as asked")
    return frame


def _read_guessing(path: Path, layer: str | None, warnings: list[str]) -> gpd.GeoDataFrame:
    """Read with the declared encoding, then each of :data:`FALLBACK_ENCODINGS`, until one decodes."""
    attempts: list[str | None] = [None, *FALLBACK_ENCODINGS]
    last_error: Exception | None = None
    for enc in attempts:
        try:
            frame = _read(path, layer, enc)
        except UnicodeDecodeError as exc:
            last_error = exc
            continue
        if enc is not None:
            warnings.append(f"text decoded as {enc} (the declared encoding failed)")
        if path.suffix.lower() == ".shp" and enc is None and not path.with_suffix(".cpg").exists():
            if _undo_mojibake(frame):
                warnings.append("the .dbf has no .cpg but holds UTF-8 text: decoded as UTF-8")
        return frame
    raise ImportFailed(f"{path.name}: cannot decode the attribute text ({last_error}); pass the file's encoding "
                       "(--encoding)")


def read_boundary_file(path: str | Path, encoding: str | None = None,
                       source_layer: str | None = None) -> tuple[gpd.GeoDataFrame, list[str]]:
    """Read a GeoJSON, GeoPackage or Shapefile into a GeoDataFrame (source CRS, geometries as read).

    Inputs: the file; ``encoding`` of its attribute text (any Python codec name, e.g. ``"latin-1"``,
    ``"cp1252"``, ``"utf-8"``); ``source_layer``, the layer to read in a file holding several (see
    :func:`choose_source_layer`).
    Text encoding: with ``encoding`` the text is decoded with it, strictly (overriding a shapefile's
    ``.cpg``; a byte it cannot decode stops the import naming the feature and field). Without it, the
    file's declared encoding (a shapefile's ``.cpg``) is used; when decoding fails, cp1252 then Latin-1 are
    tried, and UTF-8 text misread as Latin-1 (a ``.dbf`` without ``.cpg``) is repaired.
    Output: the frame (``frame.attrs["source_layer"]``: the layer read, when known) and warnings for the
    import report. Raises :class:`ImportFailed`.
    """
    path = Path(path)
    if not path.exists():
        raise ImportFailed(f"{path}: file not found")
    _check_encoding_name(path, encoding)
    layer, layer_read, warnings = choose_source_layer(path, source_layer)
    if encoding is not None:
        frame = _read_as(path, layer, encoding, warnings)
    else:
        frame = _read_guessing(path, layer, warnings)
    frame.attrs["source_layer"] = layer_read
    return frame, warnings
