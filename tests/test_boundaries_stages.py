"""The boundary import's named stages, called one by one as ``import_boundaries`` calls them."""

from __future__ import annotations

import geopandas as gpd
import pytest
import shapely
from sqlalchemy import select

from observatory.db.models import BoundaryLayer, Neighbourhood
from observatory.db.session import get_engine
from observatory.ingest.boundaries import import_boundaries, prepare_areas, read_boundary_file
from observatory.ingest.boundaries.stored import split_against_stored
from observatory.ingest.report import ImportFailed, ImportReport


def _square(x: float, y: float, size: float = 0.01) -> shapely.Polygon:
    return shapely.box(x, y, x + size, y + size)


def _frame(rows: list[tuple]) -> gpd.GeoDataFrame:
    """Features ``(code, name, population text, geometry)`` in WGS84."""
    return gpd.GeoDataFrame({"code": [r[0] for r in rows], "name": [r[1] for r in rows],
                             "pop": [r[2] for r in rows]}, geometry=[r[3] for r in rows], crs="EPSG:4326")


def _prepare(frame: gpd.GeoDataFrame, name: str = "t.geojson") -> tuple[ImportReport, object]:
    report = ImportReport(file_name=name, source_kind="boundaries", profile="boundaries")
    areas = prepare_areas(frame, report, id_field="code", name_field="name", population_field="pop",
                          district_field=None)
    return report, areas


def _read_prepared(path):
    """The area rows of a file read as the import reads it (GeoJSON rounds coordinates)."""
    return _prepare(read_boundary_file(path)[0])[1]


def test_prepare_normalises_then_deduplicates_then_parses():
    a, b, c = _square(0, 0), _square(0.01, 0), _square(0, 0.01)
    frame = _frame([("A", "Alfa", "1 000", a), ("A", "Alfa", "not read", a),  # an exact copy: counted, not parsed
                    ("B", None, "x", b), (None, "no code", "5", c), ("D", "Delta", "7", None),
                    (5001.0, "Cinco", "12,345", c)])
    report, areas = _prepare(frame)
    assert list(areas["code"]) == ["A", "B", "5001"] and list(areas["feature"]) == [1, 3, 6]
    assert list(areas["name"]) == ["Alfa", "B", "Cinco"]  # an unnamed feature is named by its code
    assert areas["population"].tolist()[0] == 1000 and areas["population"].tolist()[2] == 12345
    assert areas["population"].isna().tolist() == [False, True, False]
    assert (report.total, report.loaded, report.duplicates, report.rejected) == (6, 3, 1, 2)
    assert [r.row_number for r in report.rejections] == [4, 5]
    assert [w.split(" in ")[0] for w in report.warnings] == ["population", "no name"]
    assert "features 3:" in report.warnings[0] and "features 3:" in report.warnings[1]
    # 0.01° squares near the equator: 1.1132 km a side, measured equal-area
    side_km = 6378.137 * 3.141592653589793 / 180 * 0.01
    assert areas["area_km2"].iloc[0] == pytest.approx(side_km ** 2, rel=0.01)
    assert areas["centroid_lon"].iloc[0] == pytest.approx(0.005, abs=1e-6)


def test_deduplicate_refuses_one_code_for_different_areas():
    frame = _frame([("A", "Alfa", None, _square(0, 0)), ("A", "Alfa", None, _square(0.01, 0)),
                    ("B", "Beta", None, _square(0, 0.01)), ("B", "Other name", None, _square(0, 0.01))])
    with pytest.raises(ImportFailed, match=r"t.geojson: the id field 'code' is not unique: 2 codes .*'A' "
                                           r"\(2 features\), 'B' \(2 features\)"):
        _prepare(frame)


def test_split_against_stored_counts_what_an_import_would_write(sqlite_url, tmp_path):
    engine = get_engine(sqlite_url)
    squares = [_square(i * 0.01, 0) for i in range(5)]
    v1 = _frame([(code, f"name {code}", "10", square) for code, square in zip("ABCDE", squares, strict=True)])
    v1.to_file(tmp_path / "v1.geojson", engine="pyogrio")
    import_boundaries(tmp_path / "v1.geojson", layer="l", id_field="code", name_field="name",
                      population_field="pop", engine=engine)
    # v2 within the same extent (areas are measured in a projection centred on it): A and E unchanged, B with
    # another population (not a spatial change), C gone, F new in its place, D renamed (names place incidents)
    v2 = _frame([("A", "name A", "10", squares[0]), ("B", "name B", "11", squares[1]),
                 ("F", "name F", "10", squares[2]), ("D", "Delta", "10", squares[3]),
                 ("E", "name E", "10", squares[4])])
    v2.to_file(tmp_path / "v2.geojson", engine="pyogrio")
    areas = _read_prepared(tmp_path / "v2.geojson")
    with engine.connect() as conn:
        layer_id = conn.execute(select(BoundaryLayer.id)).scalar_one()
        ids = dict(conn.execute(select(Neighbourhood.code, Neighbourhood.id)).all())
        split = split_against_stored(conn, layer_id, areas)
        again = split_against_stored(conn, layer_id, _read_prepared(tmp_path / "v1.geojson"))
        v1.loc[1, "pop"] = "11"
        v1.to_file(tmp_path / "v3.geojson", engine="pyogrio")
        population_only = split_against_stored(conn, layer_id, _read_prepared(tmp_path / "v3.geojson"))
    assert [r["code"] for r in split.inserts] == ["F"]
    assert [(r["code"], r["b_id"]) for r in split.updates] == [("B", ids["B"]), ("D", ids["D"])]
    assert (split.unchanged, split.vanished, split.spatial_change) == (2, [ids["C"]], True)
    assert (again.inserts, again.updates, again.unchanged, again.vanished, again.spatial_change) == (
        [], [], 5, [], False)
    assert [r["code"] for r in population_only.updates] == ["B"] and population_only.updates[0]["population"] == 11
    assert (population_only.unchanged, population_only.spatial_change) == (4, False)


def test_population_module_path_is_the_subpackage():
    import observatory.ingest.boundaries.population as inside
    import observatory.ingest.population as outside

    assert outside.attach_population is inside.attach_population
    assert outside.missing_population_warning is inside.missing_population_warning


def test_unchanged_areas_near_lon_lat_zero_stay_unchanged_when_the_layer_grows(sqlite_url, tmp_path):
    """A new release adding a far area re-centres the measuring projection: the centroids of the old,
    identical polygons at longitude/latitude ~0 move by ~1e-11 degrees, which is not a revision."""
    engine = get_engine(sqlite_url)
    squares = [_square(i * 0.01 - 0.02, -0.005) for i in range(5)]
    v1 = _frame([(code, f"name {code}", "10", sq) for code, sq in zip("ABCDE", squares, strict=True)])
    v1.to_file(tmp_path / "v1.geojson", engine="pyogrio")
    import_boundaries(tmp_path / "v1.geojson", layer="l", id_field="code", name_field="name",
                      population_field="pop", engine=engine)
    v2 = _frame([*((code, f"name {code}", "10", sq) for code, sq in zip("ABCDE", squares, strict=True)),
                 ("F", "name F", "10", _square(2.0, 1.5))])
    v2.to_file(tmp_path / "v2.geojson", engine="pyogrio")
    with engine.connect() as conn:
        layer_id = conn.execute(select(BoundaryLayer.id)).scalar_one()
        split = split_against_stored(conn, layer_id, _read_prepared(tmp_path / "v2.geojson"))
    assert [r["code"] for r in split.inserts] == ["F"]
    assert (split.updates, split.unchanged) == ([], 5)  # F alone is new (a spatial change of its own)
