"""Real boundary files: Mexico City's quadrants, sectors, alcaldías and colonias; Chicago; Lancashire wards.

One SQLite database per module holds every layer; the heavy work (imports, the 132,692 SSP points) is done
once in module-scoped fixtures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from conftest import make_database, realdata
from sqlalchemy import select

from observatory.db.models import BoundaryLayer, Neighbourhood
from observatory.db.session import get_engine
from observatory.ingest.assign import assign, load_layers
from observatory.ingest.boundaries import import_boundaries

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def cdmx(tmp_path_factory):
    """A database with the CDMX layers; yields (engine, {layer name: report})."""
    paths = {
        "cuadrantes": realdata("cdmx", "cuadrantes.geojson"),
        "sectores": realdata("cdmx", "sectores.geojson"),
        "alcaldias": realdata("cdmx", "alcaldias.geojson"),
        "cuadrantes_2016": realdata("cdmx", "cuadrantes_ssp_2016.geojson"),
        "colonias": realdata("cdmx", "colonias_iecm.gpkg"),
    }
    url, cleanup = make_database("sqlite", tmp_path_factory.mktemp("cdmx"))
    engine = get_engine(url)
    reports = {
        "cuadrantes": import_boundaries(paths["cuadrantes"], layer="cuadrantes", id_field="cuadrante",
                                        name_field="cuadrante", district_field="alcaldia", engine=engine),
        "sectores": import_boundaries(paths["sectores"], layer="sectores", id_field="sector", name_field="sector",
                                      level="other", engine=engine),
        "alcaldias": import_boundaries(paths["alcaldias"], layer="alcaldias", id_field="cvegeo",
                                       name_field="municipio", level="district", engine=engine),
        "cuadrantes_2016": import_boundaries(paths["cuadrantes_2016"], layer="cuadrantes_2016",
                                             id_field="cuadrante", name_field="cuadrante", district_field="municipio",
                                             level="other", engine=engine),
        "colonias": import_boundaries(paths["colonias"], layer="colonias", id_field="CVEUT", name_field="NOMUT",
                                      population_field="SUMPOB1", district_field="NOMDT", engine=engine),
    }
    yield engine, reports, paths
    cleanup()


@pytest.fixture(scope="module")
def cdmx_layers(cdmx):
    engine, _, _ = cdmx
    with engine.connect() as conn:
        return {layer.name: layer for layer in load_layers(conn)}


def test_cdmx_layers_import_with_their_levels(cdmx):
    engine, reports, _ = cdmx
    counts = {name: (r.total, r.loaded, r.rejected) for name, r in reports.items()}
    assert counts == {"cuadrantes": (847, 847, 0), "sectores": (72, 72, 0), "alcaldias": (16, 16, 0),
                      "cuadrantes_2016": (847, 847, 0), "colonias": (1814, 1814, 0)}
    with engine.connect() as conn:
        layers = {r.name: (r.level, r.is_primary, r.source_crs) for r in conn.execute(select(BoundaryLayer))}
    assert layers["cuadrantes"] == ("neighbourhood", True, "EPSG:4326")  # first neighbourhood layer
    assert layers["colonias"][:2] == ("neighbourhood", False)
    assert layers["alcaldias"][0] == "district"
    assert layers["cuadrantes_2016"][2] == "EPSG:4979"  # the 3-D CRS, flattened to 2-D on import
    # the 2016 file has one self-intersecting quadrant; colonias five invalid polygons: all repaired
    assert reports["cuadrantes_2016"].details["repaired_geometries"] == 1
    assert reports["colonias"].details["repaired_geometries"] == 5


def test_cdmx_areas_are_valid_wgs84_and_measured(cdmx, cdmx_layers):
    for layer in cdmx_layers.values():
        geoms = layer.areas.geometry.values
        assert shapely.is_valid(geoms).all() and not shapely.has_z(geoms).any()
        minx, miny, maxx, maxy = layer.areas.total_bounds
        assert -99.4 < minx < maxx < -98.9 and 19.0 < miny < maxy < 19.6
    engine = cdmx[0]
    with engine.connect() as conn:
        rows = conn.execute(select(BoundaryLayer.name, Neighbourhood.area_km2, Neighbourhood.population)
                            .join(Neighbourhood, Neighbourhood.layer_id == BoundaryLayer.id)).all()
    frame = pd.DataFrame(rows, columns=["layer", "km2", "population"])
    total = frame.groupby("layer")["km2"].sum()
    # quadrants, sectors and alcaldías tile the same city: their total areas agree within a few percent
    assert total["sectores"] == pytest.approx(total["cuadrantes"], rel=0.05)
    assert total["alcaldias"] == pytest.approx(total["cuadrantes"], rel=0.05)
    file_population = pyogrio.read_dataframe(cdmx[2]["colonias"], read_geometry=False)["SUMPOB1"].sum()
    colonias = frame[frame["layer"] == "colonias"]
    assert colonias["population"].notna().all()
    assert colonias["population"].sum() == pytest.approx(file_population)
    assert 8e6 < file_population < 1e7
    assert frame[frame["layer"] == "cuadrantes"]["population"].isna().all()  # population is optional


def _points_inside(geoms: np.ndarray, per_area: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``per_area`` random points inside each polygon (rejection sampling in its bounding box)."""
    rng = np.random.default_rng(seed)
    xs, ys, owner = [], [], []
    for k, geom in enumerate(geoms):
        minx, miny, maxx, maxy = geom.bounds
        x, y = rng.uniform(minx, maxx, 60 * per_area), rng.uniform(miny, maxy, 60 * per_area)
        inside = shapely.contains_xy(geom, x, y)
        x, y = x[inside][:per_area], y[inside][:per_area]
        xs.append(x)
        ys.append(y)
        owner.append(np.full(len(x), k))
    return np.concatenate(xs), np.concatenate(ys), np.concatenate(owner)


def test_points_generated_inside_each_quadrant_land_in_it(cdmx_layers):
    layers = list(cdmx_layers.values())
    quadrants = cdmx_layers["cuadrantes"].areas
    x, y, owner = _points_inside(quadrants.geometry.values, per_area=5, seed=1)
    rep = shapely.get_coordinates(quadrants.geometry.representative_point().values)
    x, y = np.concatenate([x, rep[:, 0]]), np.concatenate([y, rep[:, 1]])
    owner = np.concatenate([owner, np.arange(len(quadrants))])
    assert len(np.unique(owner)) == 847
    result = assign(pd.DataFrame({"lon": x, "lat": y}), layers)
    got = result.primary["neighbourhood_id"].to_numpy(dtype="int64", na_value=-1)
    expected = quadrants["id"].to_numpy()[owner]
    # a point in two overlapping quadrants (slivers of the real map) legitimately goes to the smaller id
    in_several = np.array([c > 1 for c in np.bincount(quadrants.sindex.query(
        shapely.points(x, y), predicate="intersects")[0], minlength=len(x))])
    assert in_several.mean() < 0.01
    assert (got[~in_several] == expected[~in_several]).all()
    assert (result.primary["assignment"] == "point").all()
    # the secondary layers agree with the quadrants' own attributes: each quadrant's alcaldía
    alcaldias = cdmx_layers["alcaldias"]
    names = alcaldias.areas.set_index("id")["name"]
    point_alcaldia = result.secondary[alcaldias.layer_id].map(names)
    declared = quadrants["district"].to_numpy()[owner]
    assert (point_alcaldia.to_numpy() == declared).mean() > 0.97


@pytest.fixture(scope="module")
def ssp_points():
    data = pd.read_csv(realdata("cdmx", "ssp_cdmx_crime_lat_long_2013_2016.csv"), dtype=str, keep_default_na=False)
    return pd.DataFrame({"lon": pd.to_numeric(data["long"], errors="coerce"),
                         "lat": pd.to_numeric(data["lat"], errors="coerce"),
                         "declared_area_code": data["cuadrante"], "declared_area_name": None})


def test_cdmx_police_points_against_colonias_and_2016_quadrants(cdmx_layers, ssp_points):
    layers = [cdmx_layers["colonias"], cdmx_layers["cuadrantes_2016"]]
    layers[0] = type(layers[0])(layers[0].layer_id, "colonias", "neighbourhood", True, layers[0].areas)
    layers[1] = type(layers[1])(layers[1].layer_id, "cuadrantes_2016", "other", False, layers[1].areas)
    result = assign(ssp_points, layers)
    stats = result.stats
    assert stats["rows"] == 132_692
    assert stats["no_coordinates"] == 1_551  # the literal NA coordinates
    assert abs(stats["outside"] - 288) <= 5  # outside every colonia (SOURCES.md: 288)
    assert stats["point"] == 132_692 - 1_551 - stats["outside"]
    # SOURCES.md: 105,808 of the geocoded points fall in the quadrant their record names (80.7 %)
    agrees = result.primary["declared_area_agrees"]
    assert abs(int(agrees.sum()) - 105_808) <= 100
    assert 0.17 < result.disagreement_rate < 0.21
    # "(NO ESPECIFICADO)" names no area: not counted either way
    unspecified = (ssp_points["declared_area_code"] == "(NO ESPECIFICADO)").to_numpy()
    assert unspecified.sum() == 1_160 and agrees[unspecified].isna().all()


def test_chicago77_with_crs_argument(tmp_path, sqlite_url):
    from libpysal import examples

    path = examples.get_path("Chicago77.shp")  # bundled with libpysal: no download
    engine = get_engine(sqlite_url)
    report = import_boundaries(path, layer="community_areas", id_field="AREA_NUMBE", name_field="COMMUNITY",
                               crs="EPSG:3435", engine=engine)
    assert (report.total, report.loaded, report.rejected) == (77, 77, 0)
    with engine.connect() as conn:
        rows = pd.DataFrame(conn.execute(select(Neighbourhood.code, Neighbourhood.name, Neighbourhood.area_km2,
                                                Neighbourhood.centroid_lon, Neighbourhood.centroid_lat)).all())
    assert "AUSTIN" in set(rows["name"])
    austin = rows.set_index("name").loc["AUSTIN"]
    assert austin["centroid_lon"] == pytest.approx(-87.763, abs=0.005)
    assert austin["centroid_lat"] == pytest.approx(41.894, abs=0.005)
    # our equal-area measure matches the file's own SHAPE_AREA (square feet) for every community area
    attrs = pyogrio.read_dataframe(path, read_geometry=False)
    file_km2 = pd.Series((attrs["SHAPE_AREA"] * 0.3048**2 / 1e6).to_numpy(), index=attrs["AREA_NUMBE"].astype(str))
    measured = rows.set_index("code")["area_km2"]
    assert np.allclose(measured.loc[file_km2.index], file_km2, rtol=0.002)
    assert 580 < measured.sum() < 620


def test_lancashire_wards_in_british_national_grid(sqlite_url):
    path = realdata("uk_police", "lancashire_wards.gpkg")
    engine = get_engine(sqlite_url)
    report = import_boundaries(path, layer="wards", id_field="ward_code", name_field="ward_name", engine=engine)
    assert (report.total, report.loaded, report.rejected) == (271, 271, 0)
    assert report.details["source_crs"] == "EPSG:27700"
    with engine.connect() as conn:
        layer = load_layers(conn)[0]
        km2 = conn.execute(select(Neighbourhood.area_km2)).scalars().all()
    minx, miny, maxx, maxy = layer.areas.total_bounds
    assert -3.2 < minx < maxx < -2.0 and 53.4 < miny < maxy < 54.3
    planar = pyogrio.read_dataframe(path).area.sum() / 1e6  # BNG metres, scale error < 0.1 %
    assert sum(km2) == pytest.approx(planar, rel=0.005)
