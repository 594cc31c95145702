"""Boundary import: formats, source layers, CRS, encodings, repairs, rejects, and replacing a layer (incidents and
survey responses follow it without loss)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box
from sqlalchemy import func, insert, select

from observatory.cli import main
from observatory.db.models import (
    BoundaryLayer,
    CrimeCategory,
    ImportBatch,
    Incident,
    IncidentArea,
    Neighbourhood,
    RejectedRow,
    SurveyResponse,
)
from observatory.db.session import get_engine
from observatory.ingest.assign import reassign_layer
from observatory.ingest.boundaries import import_boundaries, parse_population
from observatory.ingest.report import ImportFailed
from observatory.ingest.surveys import ingest_survey

X0, Y0, STEP = -99.2, 19.3, 0.1  # a 2 x 2 grid of 0.1-degree cells near Mexico City (about 11 km)


def cell(i: int, j: int) -> Polygon:
    return box(X0 + i * STEP, Y0 + j * STEP, X0 + (i + 1) * STEP, Y0 + (j + 1) * STEP)


def grid_frame(codes=("A", "B", "C", "D"), names=("Álvaro Obregón", "Benito Juárez", "Coyoacán", "Doctores"),
               population=(1000, None, "2,500", 40)) -> gpd.GeoDataFrame:
    geoms = [cell(0, 0), cell(1, 0), cell(0, 1), cell(1, 1)]
    return gpd.GeoDataFrame({"code": list(codes), "name": list(names), "pop": [str(p) if p is not None else None
                                                                                for p in population],
                             "district": ["North", "North", "South", "South"]},
                            geometry=geoms, crs="EPSG:4326")


def write(gdf: gpd.GeoDataFrame, path, **kwargs):
    gdf.to_file(path, engine="pyogrio", **kwargs)
    return path


def layer_areas(engine, layer: str) -> dict[str, dict]:
    with engine.connect() as conn:
        rows = conn.execute(select(Neighbourhood).join(BoundaryLayer, BoundaryLayer.id == Neighbourhood.layer_id)
                            .where(BoundaryLayer.name == layer)).mappings().all()
    return {r["code"]: dict(r) for r in rows}


# --- formats, CRS, encodings ------------------------------------------------------------------------------


def test_geojson_import_stores_wgs84_area_centroid_and_batch(db_url, tmp_path):
    path = write(grid_frame(), tmp_path / "barrios.geojson")
    engine = get_engine(db_url)
    report = import_boundaries(path, layer="barrios", id_field="code", name_field="name",
                               population_field="pop", district_field="district", engine=engine)
    assert (report.total, report.loaded, report.rejected, report.duplicates) == (4, 4, 0, 0)
    areas = layer_areas(engine, "barrios")
    assert set(areas) == {"A", "B", "C", "D"}
    a = areas["A"]
    assert a["name"] == "Álvaro Obregón" and a["name_key"] == "alvaro obregon" and a["district"] == "North"
    # a 0.1 x 0.1 degree cell at 19.3 N: 11.13 km x 10.5 km
    expected_km2 = (0.1 * 111.32) * (0.1 * 111.32 * 0.9441)
    assert a["area_km2"] == pytest.approx(expected_km2, rel=0.01)
    assert a["centroid_lon"] == pytest.approx(X0 + 0.05, abs=1e-4)
    assert a["centroid_lat"] == pytest.approx(Y0 + 0.05, abs=1e-3)
    assert shapely.from_wkb(a["geometry_wkb"]).symmetric_difference(cell(0, 0)).area < 1e-12
    assert [areas[c]["population"] for c in "ABCD"] == [1000.0, None, 2500.0, 40.0]
    with engine.connect() as conn:
        layer = conn.execute(select(BoundaryLayer).where(BoundaryLayer.name == "barrios")).mappings().one()
        batch = conn.execute(select(ImportBatch).where(ImportBatch.id == report.batch_id)).mappings().one()
    assert layer["is_primary"] and layer["level"] == "neighbourhood" and layer["source_crs"] == "EPSG:4326"
    assert batch["source_kind"] == "boundaries" and batch["layer"] == "barrios" and batch["status"] == "done"
    assert batch["loaded"] == 4 and len(batch["sha256"]) == 64
    json.dumps(report.to_dict())


def test_geopackage_in_projected_crs_and_second_neighbourhood_layer_not_primary(db_url, tmp_path):
    engine = get_engine(db_url)
    import_boundaries(write(grid_frame(), tmp_path / "a.geojson"), layer="first", id_field="code",
                      name_field="name", engine=engine)
    utm = grid_frame().to_crs("EPSG:32614")
    report = import_boundaries(write(utm, tmp_path / "b.gpkg"), layer="second", id_field="code",
                               name_field="name", engine=engine)
    assert report.loaded == 4 and report.details["source_crs"] == "EPSG:32614"
    b = shapely.from_wkb(layer_areas(engine, "second")["B"]["geometry_wkb"])
    assert b.equals_exact(cell(1, 0).normalize(), tolerance=1e-6) or b.symmetric_difference(cell(1, 0)).area < 1e-10
    with engine.connect() as conn:
        primaries = conn.execute(select(BoundaryLayer.name).where(BoundaryLayer.is_primary.is_(True))).scalars().all()
    assert primaries == ["first"]


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_shapefile_without_prj_needs_crs(db_url, tmp_path):
    engine = get_engine(db_url)
    gdf = grid_frame().to_crs("EPSG:32614").set_crs(None, allow_override=True)
    path = write(gdf, tmp_path / "nocrs.shp")
    assert not path.with_suffix(".prj").exists()
    with pytest.raises(ImportFailed, match=r"nocrs\.shp.*--crs"):
        import_boundaries(path, layer="nocrs", id_field="code", name_field="name", engine=engine)
    report = import_boundaries(path, layer="nocrs", id_field="code", name_field="name", crs="EPSG:32614",
                               engine=engine)
    assert report.loaded == 4
    c = layer_areas(engine, "nocrs")["C"]
    assert c["centroid_lon"] == pytest.approx(X0 + 0.05, abs=1e-4)
    # the failed attempt left nothing behind
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(BoundaryLayer)).scalar() == 1


@pytest.mark.parametrize("cpg", ["none", "wrong"])
def test_latin1_dbf_names(tmp_path, sqlite_url, cpg):
    path = write(grid_frame(), tmp_path / "latin.shp", encoding="ISO-8859-1")
    raw = path.with_suffix(".dbf").read_bytes()
    assert "Álvaro".encode("latin-1") in raw
    if cpg == "none":
        path.with_suffix(".cpg").unlink(missing_ok=True)
    else:
        path.with_suffix(".cpg").write_text("UTF-8")  # declares UTF-8 but the bytes are Latin-1
    report = import_boundaries(path, layer="latin", id_field="code", name_field="name", engine=get_engine(sqlite_url))
    areas = layer_areas(get_engine(sqlite_url), "latin")
    assert areas["A"]["name"] == "Álvaro Obregón" and areas["C"]["name"] == "Coyoacán"
    assert report.loaded == 4
    if cpg == "wrong":
        assert any("cp1252" in w for w in report.warnings)


def test_utf8_dbf_without_cpg_is_not_garbled(tmp_path, sqlite_url):
    path = write(grid_frame(), tmp_path / "utf8.shp", encoding="utf-8")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    report = import_boundaries(path, layer="utf8", id_field="code", name_field="name",
                               engine=get_engine(sqlite_url))
    assert any("UTF-8" in w for w in report.warnings)
    assert layer_areas(get_engine(sqlite_url), "utf8")["B"]["name"] == "Benito Juárez"


def _latin1_shapefile(tmp_path: Path) -> Path:
    """A shapefile whose .dbf holds Latin-1 bytes ("Peñón" = 50 65 f1 f3 6e) and that has no .cpg."""
    gdf = gpd.GeoDataFrame({"code": ["P", "A"], "name": ["Peñón", "Álamos"]}, geometry=[cell(0, 0), cell(1, 0)],
                           crs="EPSG:4326")
    path = write(gdf, tmp_path / "latin1.shp", encoding="ISO-8859-1")
    path.with_suffix(".cpg").unlink(missing_ok=True)
    assert "Peñón".encode("latin-1") in path.with_suffix(".dbf").read_bytes()
    return path


def test_encoding_option_decodes_a_latin1_shapefile_without_cpg(db_url, tmp_path, capsys):
    path = _latin1_shapefile(tmp_path)
    argv = ["boundaries", "import", str(path), "--id-field", "code", "--name-field", "name", "--json"]
    assert main([*argv, "--layer", "barrios", "--encoding", "latin-1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["loaded"] == 2 and report["details"]["encoding"] == "latin-1"
    areas = layer_areas(get_engine(db_url), "barrios")
    assert {c: a["name"] for c, a in areas.items()} == {"P": "Peñón", "A": "Álamos"}
    assert areas["P"]["name_key"] == "penon"

    # a wrong explicit encoding is honoured, never silently replaced by a guess: where the bytes are not
    # valid in it the import stops naming the file, feature and field; a single-byte encoding where every
    # byte is valid gives visibly different names (nothing can tell those from real text)
    assert main([*argv, "--layer", "wrong_utf8", "--encoding", "utf-8"]) == 2
    error = capsys.readouterr().err
    assert "latin1.shp, feature 1, field 'name': byte f1 at position 2 is not valid utf-8" in error
    assert "--encoding cp1252 or latin-1" in error
    assert main([*argv, "--layer", "wrong_cyrillic", "--level", "other", "--encoding", "cp1251"]) == 0
    capsys.readouterr()
    engine = get_engine(db_url)
    assert {c: a["name"] for c, a in layer_areas(engine, "wrong_cyrillic").items()} == {"P": "Peсуn", "A": "Бlamos"}
    assert layer_areas(engine, "wrong_utf8") == {}  # the failed import stored nothing
    assert main([*argv, "--layer", "x", "--encoding", "klingon"]) == 2
    assert "latin1.shp: unknown text encoding 'klingon'" in capsys.readouterr().err


def test_encoding_option_for_geojson_overrides_cpg_and_decodes_field_names(tmp_path, sqlite_url):
    engine = get_engine(sqlite_url)
    gdf = gpd.GeoDataFrame({"código": ["P"], "name": ["Peñón"], "Población": [1200]}, geometry=[cell(0, 0)],
                           crs="EPSG:4326")
    utf8 = write(gdf, tmp_path / "g.geojson")
    latin = tmp_path / "latin.geojson"
    latin.write_bytes(utf8.read_text(encoding="utf-8").encode("latin-1"))  # the same GeoJSON in Latin-1
    report = import_boundaries(latin, layer="g", id_field="código", name_field="name", population_field="Población",
                               encoding="latin-1", engine=engine)
    assert report.loaded == 1 and report.warnings == []
    area = layer_areas(engine, "g")["P"]
    assert (area["name"], area["population"]) == ("Peñón", 1200.0)
    # an explicit encoding wins over a .cpg that declares another one, with a note in the report
    shp = write(gdf, tmp_path / "declared.shp", encoding="ISO-8859-1")
    shp.with_suffix(".cpg").write_text("UTF-8")
    report = import_boundaries(shp, layer="s", id_field="código", name_field="name", encoding="cp1252",
                               level="other", engine=engine)
    assert layer_areas(engine, "s")["P"]["name"] == "Peñón"
    assert "the .cpg declares UTF-8; text decoded as cp1252 as asked" in report.warnings


def _multi_layer_gpkg(tmp_path: Path, name: str = "city.gpkg", polygon_layers: int = 2) -> Path:
    """A GeoPackage with the 2 x 2 grid ("colonias"), optionally two halves ("sectores"), and points."""
    path = tmp_path / name
    write(grid_frame(), path, layer="colonias")
    if polygon_layers == 2:
        halves = gpd.GeoDataFrame({"code": ["W", "E"], "name": ["West", "East"], "district": ["North", "South"]},
                                  geometry=[box(X0, Y0, X0 + STEP, Y0 + 2 * STEP),
                                            box(X0 + STEP, Y0, X0 + 2 * STEP, Y0 + 2 * STEP)], crs="EPSG:4326")
        write(halves, path, layer="sectores")
    points = gpd.GeoDataFrame({"code": ["p1"], "name": ["Kiosk"]}, geometry=[Point(X0 + 0.05, Y0 + 0.05)],
                              crs="EPSG:4326")
    write(points, path, layer="puntos")
    return path


def test_source_layer_chooses_a_layer_of_a_multi_layer_geopackage(db_url, tmp_path, capsys):
    import pyogrio

    engine = get_engine(db_url)
    path = _multi_layer_gpkg(tmp_path)
    assert [tuple(x) for x in pyogrio.list_layers(path)] == [("colonias", "Polygon"), ("sectores", "Polygon"),
                                                              ("puntos", "Point")]
    with pytest.raises(ImportFailed) as failed:
        import_boundaries(path, layer="barrios", id_field="code", name_field="name", engine=engine)
    message = str(failed.value)
    assert message.startswith("city.gpkg: the file holds 2 polygon layers: 'colonias' (Polygon, 4 features), "
                              "'sectores' (Polygon, 2 features); choose one with --source-layer NAME")
    assert "puntos" not in message  # only the layers that could be meant are listed
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(BoundaryLayer)).scalar() == 0

    report = import_boundaries(path, layer="sectores", id_field="code", name_field="name", source_layer="sectores",
                               level="district", engine=engine)
    assert report.loaded == 2 and report.details["source_layer"] == "sectores"
    assert set(layer_areas(engine, "sectores")) == {"W", "E"}

    argv = ["boundaries", "import", str(path), "--id-field", "code", "--name-field", "name", "--json"]
    assert main([*argv, "--layer", "barrios", "--source-layer", "colonias"]) == 0
    cli_report = json.loads(capsys.readouterr().out)
    assert cli_report["loaded"] == 4 and cli_report["details"]["source_layer"] == "colonias"
    assert any("read layer 'colonias' of a file with 3 layers" in w for w in cli_report["warnings"])
    assert set(layer_areas(engine, "barrios")) == {"A", "B", "C", "D"}

    assert main([*argv, "--layer", "p", "--source-layer", "puntos"]) == 2
    assert "city.gpkg: layer 'puntos' holds Point, not polygons (polygon layers: 'colonias'" in capsys.readouterr().err
    assert main([*argv, "--layer", "p", "--source-layer", "Colonias"]) == 2  # layer names are exact
    error = capsys.readouterr().err
    assert "no layer named 'Colonias' in the file (layers: 'colonias' (Polygon, 4 features)" in error
    assert "'puntos' (Point, 1 feature)" in error


def test_a_single_polygon_layer_beside_other_layers_is_read_without_choosing(tmp_path, sqlite_url):
    path = _multi_layer_gpkg(tmp_path, "one.gpkg", polygon_layers=1)
    report = import_boundaries(path, layer="barrios", id_field="code", name_field="name",
                               engine=get_engine(sqlite_url))
    assert report.loaded == 4 and report.details["source_layer"] == "colonias"
    assert "read layer 'colonias', the only polygon layer of a file with 2 layers" in report.warnings


def test_invalid_geometries_repaired_multipolygons_and_holes_kept(tmp_path, sqlite_url):
    engine = get_engine(sqlite_url)
    bowtie = Polygon([(X0, Y0), (X0 + STEP, Y0 + STEP), (X0 + STEP, Y0), (X0, Y0 + STEP), (X0, Y0)])
    assert not bowtie.is_valid
    outer = cell(1, 0)
    hole = box(X0 + STEP + 0.03, Y0 + 0.03, X0 + STEP + 0.07, Y0 + 0.07)
    with_hole = Polygon(outer.exterior.coords, [hole.exterior.coords])
    island = cell(1, 1).buffer(-0.03)
    gdf = gpd.GeoDataFrame({"code": ["bow", "multi"], "name": ["Bow", "Multi"]},
                           geometry=[bowtie, MultiPolygon([with_hole, island])], crs="EPSG:4326")
    report = import_boundaries(write(gdf, tmp_path / "geoms.geojson"), layer="geoms", id_field="code",
                               name_field="name", engine=engine)
    assert report.loaded == 2 and report.details["repaired_geometries"] == 1
    assert report.details["repaired_features"] == [1]
    areas = layer_areas(engine, "geoms")
    bow = shapely.from_wkb(areas["bow"]["geometry_wkb"])
    assert bow.is_valid and bow.geom_type == "MultiPolygon" and len(bow.geoms) == 2
    assert bow.area == pytest.approx(bowtie.buffer(0).area * 2, rel=1e-6) or bow.area == pytest.approx(
        STEP * STEP / 2, rel=1e-6)
    multi = shapely.from_wkb(areas["multi"]["geometry_wkb"])
    assert multi.geom_type == "MultiPolygon" and len(multi.geoms) == 2
    assert any(len(p.interiors) == 1 for p in multi.geoms)
    assert not multi.contains(hole.centroid)  # the hole stays a hole


def test_missing_ids_and_non_polygons_are_rejected_with_reasons(tmp_path, sqlite_url):
    engine = get_engine(sqlite_url)
    gdf = grid_frame(codes=("A", None, "C", "D"))
    gdf = gpd.GeoDataFrame(
        gdf.to_dict("list") | {"geometry": list(gdf.geometry)}, crs="EPSG:4326")
    extra = gdf.iloc[[3]]  # an exact copy of feature 4: a duplicate, not an error
    point = gpd.GeoDataFrame({"code": ["P"], "name": ["A point"]}, geometry=[shapely.Point(X0, Y0)], crs="EPSG:4326")
    gdf = gpd.GeoDataFrame(gpd.pd.concat([gdf, extra, point], ignore_index=True), crs="EPSG:4326")
    path = write(gdf, tmp_path / "dups.geojson")
    report = import_boundaries(path, layer="dups", id_field="code", name_field="name", engine=engine)
    assert (report.total, report.loaded, report.rejected, report.duplicates) == (6, 3, 2, 1)
    reasons = {r.row_number: (r.field, r.reason) for r in report.rejections}
    assert reasons[2][0] == "code" and "dups.geojson, feature 2: missing id" in reasons[2][1]
    assert reasons[6][0] == "geometry" and "feature 6 (id P): a Point with no polygon" in reasons[6][1]
    with engine.connect() as conn:
        stored = conn.execute(select(func.count()).select_from(RejectedRow)
                              .where(RejectedRow.batch_id == report.batch_id)).scalar()
    assert stored == 2
    assert set(layer_areas(engine, "dups")) == {"A", "C", "D"}
    # one code for two different areas: the id field is not an id (see tests/test_boundaries_population.py)
    path = write(grid_frame(codes=("A", "B", "A", "D")), tmp_path / "clash.geojson")
    with pytest.raises(ImportFailed, match=r"clash.geojson: the id field 'code' is not unique: 1 codes .*'A' \(2"):
        import_boundaries(path, layer="clash", id_field="code", name_field="name", engine=engine)


def test_bad_arguments_fail_clearly(tmp_path, sqlite_url):
    engine = get_engine(sqlite_url)
    path = write(grid_frame(), tmp_path / "g.geojson")
    with pytest.raises(ImportFailed, match=r"g\.geojson.*'nombre'.*fields: code, name"):
        import_boundaries(path, layer="g", id_field="code", name_field="nombre", engine=engine)
    with pytest.raises(ImportFailed, match="level"):
        import_boundaries(path, layer="g", id_field="code", name_field="name", level="city", engine=engine)
    with pytest.raises(ImportFailed, match="not found"):
        import_boundaries(tmp_path / "missing.gpkg", layer="g", id_field="code", name_field="name", engine=engine)


def test_parse_population():
    assert parse_population(" 12,345 ") == 12345
    assert parse_population("1.234.567") == 1234567
    assert parse_population("1.234,5") == 1234.5
    assert parse_population("12,5") == 12.5
    assert parse_population(7) == 7.0
    assert parse_population("") is None and parse_population(None) is None and parse_population(float("nan")) is None
    with pytest.raises(ValueError):
        parse_population("many")
    with pytest.raises(ValueError):
        parse_population(-3)


# --- replacing a layer and reassigning incidents ----------------------------------------------------------


def _add_incidents(engine, rows: list[dict]) -> None:
    """Insert incident rows directly (the incident importer is tested elsewhere)."""
    with engine.begin() as conn:
        batch_id = conn.execute(insert(ImportBatch).values(
            file_name="x.csv", sha256="0" * 64, source_kind="police", profile="test",
            started_at=dt.datetime(2024, 1, 1), status="done")).inserted_primary_key[0]
        category_id = conn.execute(select(func.min(CrimeCategory.id))).scalar()
        day = dt.date(2024, 1, 15)
        conn.execute(insert(Incident), [{
            "source_kind": "police", "record_key": f"r{k}", "source_id": f"r{k}", "content_hash": "h",
            "batch_id": batch_id, "profile": "test", "occurred_on": day, "occurred_month": day.replace(day=1),
            "weekday": day.weekday(), "category_id": category_id, "original_label": "ROBO", "count": 1,
            "lon": r.get("lon"), "lat": r.get("lat"), "declared_area_code": r.get("code"),
            "declared_area_name": r.get("name"),
        } for k, r in enumerate(rows)])


def _incidents(engine) -> dict[str, tuple]:
    with engine.connect() as conn:
        rows = conn.execute(select(Incident.record_key, Neighbourhood.code, Incident.assignment)
                            .outerjoin(Neighbourhood, Neighbourhood.id == Incident.neighbourhood_id)).all()
    return {key: (code, how) for key, code, how in rows}


def test_replacing_a_layer_keeps_ids_and_reassigns_incidents(db_url, tmp_path):
    engine = get_engine(db_url)
    v1 = write(grid_frame(), tmp_path / "v1.geojson")
    import_boundaries(v1, layer="barrios", id_field="code", name_field="name", engine=engine)
    ids_v1 = {code: area["id"] for code, area in layer_areas(engine, "barrios").items()}
    pts = {k: (X0 + (i + 0.5) * STEP, Y0 + (j + 0.5) * STEP) for k, (i, j) in
           {"A": (0, 0), "B": (1, 0), "C": (0, 1), "D": (1, 1)}.items()}
    _add_incidents(engine, [
        {"lon": pts["A"][0], "lat": pts["A"][1]},
        {"lon": pts["B"][0], "lat": pts["B"][1]},
        {"lon": pts["D"][0], "lat": pts["D"][1]},
        {"name": "DOCTORES"},  # no coordinates: by name
        {"code": "c"},  # no coordinates: by code
        {"lon": pts["C"][1], "lat": pts["C"][0] + 0.025, "code": "C"},  # swapped lat/lon, declared area agrees
    ])
    layer_id = layer_areas(engine, "barrios")["A"]["layer_id"]
    assert reassign_layer(engine, layer_id) == 6
    assert _incidents(engine) == {"r0": ("A", "point"), "r1": ("B", "point"), "r2": ("D", "point"),
                                  "r3": ("D", "name"), "r4": ("C", "code"), "r5": ("C", "point")}
    assert reassign_layer(engine, layer_id) == 0  # nothing changed: nothing written

    # same file again: nothing changes, no new version
    again = import_boundaries(v1, layer="barrios", id_field="code", name_field="name", engine=engine)
    assert (again.loaded, again.duplicates) == (0, 4) and again.details["reassigned"] == {}

    # v2: D vanishes, B grows over D's cell, E is new (the old C cell split: C keeps half)
    v2_frame = gpd.GeoDataFrame(
        {"code": ["A", "B", "C", "E"], "name": ["Álvaro Obregón", "Benito Juárez", "Coyoacán", "Escandón"]},
        geometry=[cell(0, 0), cell(1, 0).union(cell(1, 1)),
                  box(X0, Y0 + STEP, X0 + STEP / 2, Y0 + 2 * STEP), box(X0 + STEP / 2, Y0 + STEP, X0 + STEP,
                                                                         Y0 + 2 * STEP)],
        crs="EPSG:4326")
    second = import_boundaries(write(v2_frame, tmp_path / "v2.geojson"), layer="barrios", id_field="code",
                               name_field="name", engine=engine)
    assert second.details["areas_added"] == 1 and second.details["areas_deactivated"] == 1
    assert second.details["areas_updated"] == 2 and second.details["areas_unchanged"] == 1
    areas = layer_areas(engine, "barrios")
    assert {code: areas[code]["id"] for code in "ABCD"} == ids_v1  # ids kept, D still stored
    assert not areas["D"]["active"] and areas["E"]["active"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(Incident)).scalar() == 6
        version = conn.execute(select(BoundaryLayer.version).where(BoundaryLayer.name == "barrios")).scalar()
    assert version == 2
    # C's centre is now in E; D's point moved to B; the name DOCTORES no longer exists
    assert _incidents(engine) == {"r0": ("A", "point"), "r1": ("B", "point"), "r2": ("B", "point"),
                                  "r3": (None, None), "r4": ("C", "code"), "r5": ("E", "point")}


def test_making_another_layer_primary_moves_assignments(db_url, tmp_path):
    engine = get_engine(db_url)
    import_boundaries(write(grid_frame(), tmp_path / "g.geojson"), layer="colonias", id_field="code",
                      name_field="name", engine=engine)
    _add_incidents(engine, [{"lon": X0 + 0.05, "lat": Y0 + 0.05}, {"lon": X0 + 0.15, "lat": Y0 + 0.15}])
    halves = gpd.GeoDataFrame({"q": ["Q-west", "Q-east"], "n": ["West", "East"]},
                              geometry=[box(X0, Y0, X0 + STEP, Y0 + 2 * STEP),
                                        box(X0 + STEP, Y0, X0 + 2 * STEP, Y0 + 2 * STEP)], crs="EPSG:4326")
    path = write(halves, tmp_path / "q.geojson")
    import_boundaries(path, layer="quadrants", id_field="q", name_field="n", level="other", engine=engine)
    # new secondary layer: incidents get incident_areas rows, primary untouched
    with engine.connect() as conn:
        secondary = conn.execute(select(func.count()).select_from(IncidentArea)).scalar()
    assert secondary == 2
    # the incidents were inserted unassigned; importing a new layer reassigned only that layer
    report = import_boundaries(path, layer="quadrants", id_field="q", name_field="n", level="other",
                               primary=True, engine=engine)
    assert report.details["primary"] is True
    assert _incidents(engine) == {"r0": ("Q-west", "point"), "r1": ("Q-east", "point")}
    with engine.connect() as conn:
        primaries = conn.execute(select(BoundaryLayer.name).where(BoundaryLayer.is_primary.is_(True))).scalars().all()
        areas = conn.execute(select(IncidentArea.layer_id, Neighbourhood.code)
                             .join(Neighbourhood, Neighbourhood.id == IncidentArea.neighbourhood_id)).all()
    assert primaries == ["quadrants"]
    assert sorted(code for _, code in areas) == ["A", "D"]  # the old primary is now a secondary layer


def test_failure_during_reassignment_leaves_database_unchanged(db_url, tmp_path, monkeypatch):
    engine = get_engine(db_url)
    v1 = write(grid_frame(), tmp_path / "v1.geojson")
    import_boundaries(v1, layer="barrios", id_field="code", name_field="name", engine=engine)
    before = layer_areas(engine, "barrios")

    def boom(*_args, **_kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("observatory.ingest.boundaries.reassign_layer", boom)
    v2 = write(grid_frame(codes=("A", "B", "C", "E")), tmp_path / "v2.geojson")
    with pytest.raises(RuntimeError, match="disk full"):
        import_boundaries(v2, layer="barrios", id_field="code", name_field="name", engine=engine)
    assert layer_areas(engine, "barrios") == before
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(ImportBatch)).scalar() == 1
        assert conn.execute(select(BoundaryLayer.version)).scalar() == 1


# --- survey responses follow the primary layer ------------------------------------------------------------


def _add_survey(engine, tmp_path: Path, codes: dict[str, str]) -> None:
    """Load a generic_survey file: one respondent per entry of ``codes`` (respondent id -> area code)."""
    lines = ["respondent_id,household_id,wave,weight,neighbourhood_code,sex,age,trust_police"]
    lines += [f"{rid},h-{rid},Wave 2024,10.5,{code},F,30,2" for rid, code in codes.items()]
    path = tmp_path / f"survey-{len(codes)}-{'-'.join(codes)}.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = ingest_survey(path, profile="generic_survey", engine=engine)
    assert report.loaded == len(codes)


def _responses(engine) -> dict[str, tuple]:
    """respondent id -> (code of its neighbourhood, its district, neighbourhood id)."""
    with engine.connect() as conn:
        rows = conn.execute(select(SurveyResponse.respondent_key, Neighbourhood.code, SurveyResponse.district,
                                   SurveyResponse.neighbourhood_id)
                            .outerjoin(Neighbourhood, Neighbourhood.id == SurveyResponse.neighbourhood_id)).all()
    return {key: (code, district, nid) for key, code, district, nid in rows}


def test_replacing_the_primary_layer_rederives_survey_neighbourhoods(db_url, tmp_path):
    engine = get_engine(db_url)
    import_boundaries(write(grid_frame(), tmp_path / "v1.geojson"), layer="barrios", id_field="code",
                      name_field="name", district_field="district", engine=engine)
    ids = {code: area["id"] for code, area in layer_areas(engine, "barrios").items()}
    _add_survey(engine, tmp_path, {"r1": "A", "r2": "B", "r3": "D", "r4": "E", "r5": "a", "r6": ""})
    _add_incidents(engine, [{"code": "D"}])
    with engine.connect() as conn:  # a blank code is stored as NULL on both backends (not the text 'NaN')
        assert conn.execute(select(SurveyResponse.area_code).where(SurveyResponse.respondent_key == "r6")
                            ).scalar_one() is None
    assert _responses(engine) == {"r1": ("A", "North", ids["A"]), "r2": ("B", "North", ids["B"]),
                                  "r3": ("D", "South", ids["D"]), "r4": (None, None, None),
                                  "r5": ("A", "North", ids["A"]), "r6": (None, None, None)}

    # v2: D disappears, E appears, B moves to another district; A and C stay as they were
    v2 = grid_frame(codes=("A", "B", "C", "E"))
    v2["district"] = ["North", "East", "South", "South"]
    path = write(v2, tmp_path / "v2.geojson")
    report = import_boundaries(path, layer="barrios", id_field="code", name_field="name", district_field="district",
                               engine=engine)
    assert report.details["areas_added"] == 1 and report.details["areas_deactivated"] == 1
    e_id = layer_areas(engine, "barrios")["E"]["id"]
    assert _responses(engine) == {"r1": ("A", "North", ids["A"]), "r2": ("B", "East", ids["B"]),
                                  "r3": (None, None, None), "r4": ("E", "South", e_id),
                                  "r5": ("A", "North", ids["A"]), "r6": (None, None, None)}
    # r2 (district), r3 (area gone), r4 (area new) changed; r3 is the one code left without an area
    assert report.details["survey_responses_reassigned"] == 3
    assert report.details["survey_responses_unassigned"] == 1
    assert _incidents(engine)["r0"] == (None, None)  # incidents were reassigned in the same import
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SurveyResponse)).scalar() == 6  # none deleted

    again = import_boundaries(path, layer="barrios", id_field="code", name_field="name", district_field="district",
                              engine=engine)
    assert again.details["survey_responses_reassigned"] == 0
    assert again.details["survey_responses_unassigned"] is None  # nothing changed: not recomputed


def test_a_new_primary_layer_moves_survey_responses_and_secondary_layers_do_not(db_url, tmp_path, capsys):
    engine = get_engine(db_url)
    import_boundaries(write(grid_frame(), tmp_path / "g.geojson"), layer="colonias", id_field="code",
                      name_field="name", district_field="district", engine=engine)
    _add_survey(engine, tmp_path, {"s1": "A", "s2": "D", "s3": "Q-west"})
    before = _responses(engine)
    assert [before[k][0] for k in ("s1", "s2", "s3")] == ["A", "D", None]

    halves = gpd.GeoDataFrame({"q": ["Q-west", "Q-east"], "n": ["West", "East"], "d": ["Oeste", "Este"]},
                              geometry=[box(X0, Y0, X0 + STEP, Y0 + 2 * STEP),
                                        box(X0 + STEP, Y0, X0 + 2 * STEP, Y0 + 2 * STEP)], crs="EPSG:4326")
    path = write(halves, tmp_path / "q.geojson")
    secondary = import_boundaries(path, layer="quadrants", id_field="q", name_field="n", district_field="d",
                                  level="other", engine=engine)
    assert secondary.details["survey_responses_reassigned"] == 0 and _responses(engine) == before

    argv = ["boundaries", "import", str(path), "--layer", "quadrants", "--id-field", "q", "--name-field", "n",
            "--district-field", "d", "--level", "other", "--primary"]
    assert main(argv) == 0
    assert "reassigned: 0 incident rows, 3 survey responses" in capsys.readouterr().out
    west = layer_areas(engine, "quadrants")["Q-west"]["id"]
    assert _responses(engine) == {"s1": (None, None, None), "s2": (None, None, None), "s3": ("Q-west", "Oeste", west)}

    # giving the primary role back restores the first assignment exactly
    back = import_boundaries(tmp_path / "g.geojson", layer="colonias", id_field="code", name_field="name",
                             district_field="district", primary=True, engine=engine)
    assert back.details["survey_responses_reassigned"] == 3 and _responses(engine) == before


def test_surveys_loaded_before_any_boundary_layer_get_their_neighbourhood(db_url, tmp_path):
    engine = get_engine(db_url)
    _add_survey(engine, tmp_path, {"t1": "C", "t2": "Z"})
    assert _responses(engine) == {"t1": (None, None, None), "t2": (None, None, None)}
    report = import_boundaries(write(grid_frame(), tmp_path / "g.geojson"), layer="barrios", id_field="code",
                               name_field="name", district_field="district", engine=engine)
    assert report.details["survey_responses_reassigned"] == 1 and report.details["survey_responses_unassigned"] == 1
    assert _responses(engine)["t1"][:2] == ("C", "South") and _responses(engine)["t2"] == (None, None, None)


def test_survey_reassignment_shares_the_import_transaction(db_url, tmp_path, monkeypatch):
    from observatory.ingest import boundaries

    engine = get_engine(db_url)
    import_boundaries(write(grid_frame(), tmp_path / "v1.geojson"), layer="barrios", id_field="code",
                      name_field="name", district_field="district", engine=engine)
    _add_survey(engine, tmp_path, {"u1": "D"})
    _add_incidents(engine, [{"code": "D"}])
    reassign_layer(engine, layer_areas(engine, "barrios")["A"]["layer_id"])
    areas, responses, incidents = layer_areas(engine, "barrios"), _responses(engine), _incidents(engine)
    real = boundaries.reassign_survey_responses
    done: list[tuple[int, int]] = []

    def then_fail(conn):
        done.append(real(conn))  # the responses are rewritten, then the import fails before committing
        raise RuntimeError("power cut")

    monkeypatch.setattr(boundaries, "reassign_survey_responses", then_fail)
    v2 = write(grid_frame(codes=("A", "B", "C", "E")), tmp_path / "v2.geojson")
    with pytest.raises(RuntimeError, match="power cut"):
        import_boundaries(v2, layer="barrios", id_field="code", name_field="name", district_field="district",
                          engine=engine)
    assert done == [(1, 1)]  # u1 lost D inside the transaction...
    # ...but nothing of the failed import is stored: areas, incidents and responses as before
    assert _responses(engine) == responses and responses["u1"][0] == "D"
    assert _incidents(engine) == incidents and incidents["r0"] == ("D", "code")
    assert layer_areas(engine, "barrios") == areas
