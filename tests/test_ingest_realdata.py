"""Real incident files end to end (../shared/realdata): Chicago and New York (Crime Open Database), Mexico City's
police points and prosecutor counts, data.police.uk. Heavy imports run once per module, on SQLite.

The boundary side (that the layers import, their areas and CRS) is tested in test_boundaries_realdata.py; here
the incident side: every row accounted for, assignments, windows, counts.
"""

from __future__ import annotations

import uuid

import pandas as pd
import pytest
from sqlalchemy import func, select

from observatory.db.models import CrimeCategory, Incident, IncidentArea, Neighbourhood
from observatory.db.session import get_engine
from observatory.ingest.boundaries import import_boundaries
from observatory.ingest.incidents import ingest_incidents
from tests.conftest import make_database, realdata

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def module_db(tmp_path_factory):
    url, cleanup = make_database("sqlite", tmp_path_factory.mktemp(f"real-{uuid.uuid4().hex[:6]}"))
    yield get_engine(url)
    cleanup()


def query(engine, statement) -> pd.DataFrame:
    with engine.connect() as conn:
        result = conn.execute(statement)
        return pd.DataFrame(result.all(), columns=list(result.keys()))


# --- United States: Crime Open Database -------------------------------------------------------------------


@pytest.fixture(scope="module")
def chicago(module_db):
    from libpysal import examples

    homicides = realdata("us_code", "homicides_9_cities_2015.csv")
    import_boundaries(examples.get_path("Chicago77.shp"), layer="chicago_community_areas", id_field="AREA_NUMBE",
                      name_field="COMMUNITY", crs="EPSG:3435", engine=module_db)
    report = ingest_incidents(homicides, source_kind="police", profile="crime_open_database", engine=module_db)
    return module_db, report


def test_chicago_homicides_all_load_and_499_are_assigned(chicago):
    engine, report = chicago
    assert (report.total, report.loaded, report.rejected, report.duplicates) == (1922, 1922, 0, 0)
    per_area = query(engine, select(Neighbourhood.name, func.count(Incident.id).label("n"))
                     .join(Incident, Incident.neighbourhood_id == Neighbourhood.id)
                     .where(Incident.profile == "crime_open_database")
                     .group_by(Neighbourhood.name).order_by(func.count(Incident.id).desc()))
    assert per_area["n"].sum() == 499
    assert per_area.iloc[0]["name"] == "AUSTIN" and per_area.iloc[0]["n"] == 50
    # everything outside Chicago is loaded, unassigned and reported as outside the boundaries
    assert report.unassigned == 1922 - 499 == report.details["outside_boundaries"]
    cities = query(engine, select(Incident.declared_area_name, func.count().label("n"),
                                  func.count(Incident.neighbourhood_id).label("assigned"))
                   .where(Incident.profile == "crime_open_database").group_by(Incident.declared_area_name))
    cities = cities.set_index("declared_area_name")
    assert cities.loc["Chicago", "assigned"] == cities.loc["Chicago", "n"] == 499
    assert cities.drop("Chicago")["assigned"].sum() == 0
    categories = query(engine, select(CrimeCategory.code, func.count().label("n"))
                       .join(Incident, Incident.category_id == CrimeCategory.id)
                       .where(Incident.profile == "crime_open_database").group_by(CrimeCategory.code))
    assert dict(zip(categories["code"], categories["n"], strict=True)) == {"homicide": 1914,
                                                                          "non_intentional_homicide": 8}


def test_nyc_vehicle_thefts_load_with_their_windows(chicago):
    engine, _ = chicago
    path = realdata("us_code", "nyc_vehicle_thefts_2014_2017.csv")
    report = ingest_incidents(path, source_kind="police", profile="crime_open_database", engine=engine)
    assert (report.total, report.loaded, report.rejected) == (35746, 35746, 0)
    source = pd.read_csv(path, dtype=str)
    stored = query(engine, select(Incident.source_id, Incident.occurred_on, Incident.occurred_start,
                                  Incident.occurred_end, Incident.hour, CrimeCategory.code)
                   .join(CrimeCategory, CrimeCategory.id == Incident.category_id)
                   .where(Incident.source_id.in_(source["uid"].head(2000).tolist()),
                          Incident.record_key.like("crime_open_database:%")))
    merged = stored.merge(source, left_on="source_id", right_on="uid")
    assert len(merged) == 2000 and set(merged["code"]) == {"vehicle_theft"}
    # occurred_on is the START of the window; start and end are kept
    start = pd.to_datetime(merged["date_start"])
    assert (pd.to_datetime(merged["occurred_on"]) == start.dt.normalize()).all()
    assert (pd.to_datetime(merged["occurred_start"]) == start).all()
    with_end = merged["date_end"].notna()
    ended = merged[with_end]
    assert (pd.to_datetime(ended["occurred_end"]) == pd.to_datetime(ended["date_end"])).all()
    assert merged.loc[~with_end, "occurred_end"].isna().all()
    ends = query(engine, select(func.count(Incident.occurred_end))
                 .where(Incident.source_id.in_(source["uid"].tolist())))
    assert ends.iloc[0, 0] == 35746 - 2852


# --- Mexico City: SSP police points, prosecutor monthly counts --------------------------------------------------


@pytest.fixture(scope="module")
def cdmx_points(tmp_path_factory):
    url, cleanup = make_database("sqlite", tmp_path_factory.mktemp("cdmx"))
    engine = get_engine(url)
    import_boundaries(realdata("cdmx", "colonias_iecm.gpkg"), layer="colonias", id_field="CVEUT", name_field="NOMUT",
                      population_field="SUMPOB1", district_field="NOMDT", engine=engine)
    quadrants = import_boundaries(realdata("cdmx", "cuadrantes_ssp_2016.geojson"), layer="cuadrantes",
                                  id_field="cuadrante", name_field="cuadrante", level="other", engine=engine)
    report = ingest_incidents(realdata("cdmx", "ssp_cdmx_crime_lat_long_2013_2016.csv"), source_kind="police",
                              profile="cdmx_ssp", engine=engine)
    yield engine, report, quadrants
    cleanup()


def test_cdmx_police_points_every_row_accounted_for(cdmx_points):
    engine, report, _ = cdmx_points
    assert (report.total, report.loaded, report.rejected, report.duplicates) == (132692, 132692, 0, 0)
    assert report.details["no_coordinates"] == 1551
    counts = query(engine, select(func.count().label("n"), func.count(Incident.lon).label("with_point"),
                                  func.count(Incident.declared_area_code).label("with_quadrant")))
    assert counts.iloc[0].tolist() == [132692, 132692 - 1551, 132692 - 1160]
    # unassigned in the colonias: the points without coordinates and the 288 points outside every colonia
    assert report.details["outside_boundaries"] == 288
    assert report.unassigned == 1551 + 288


def test_cdmx_points_are_assigned_to_colonias_and_quadrants(cdmx_points):
    engine, report, quadrants = cdmx_points
    in_quadrant = query(engine, select(Incident.declared_area_code, Neighbourhood.code, Incident.declared_area_agrees)
                        .join(IncidentArea, IncidentArea.incident_id == Incident.id)
                        .join(Neighbourhood, Neighbourhood.id == IncidentArea.neighbourhood_id)
                        .where(Incident.lon.is_not(None)))
    # the SOURCES.md check: only 105,808 of the geocoded points fall in the quadrant their record names
    assert in_quadrant["declared_area_agrees"].eq(True).sum() == 105808
    assert (in_quadrant["declared_area_code"] == in_quadrant["code"]).sum() >= 105808
    assert quadrants.loaded == 847 and len(in_quadrant) > 130000
    assert report.details["declared_area_disagreement_rate"] == pytest.approx(0.19, abs=0.01)
    colonias = query(engine, select(func.count(func.distinct(Incident.neighbourhood_id))))
    assert colonias.iloc[0, 0] > 1500  # points spread over the 1,814 colonias


def test_pgj_monthly_counts_load_as_aggregated_statistics(module_db):
    path = realdata("cdmx", "pgj_monthly_counts.csv")
    report = ingest_incidents(path, source_kind="police", profile="cdmx_pgj_monthly", engine=module_db)
    source = pd.read_csv(path)
    assert (report.total, report.loaded, report.rejected) == (152, 152, 0) and not report.unknown_labels
    stored = query(module_db, select(CrimeCategory.code, func.sum(Incident.count).label("total"),
                                     func.count().label("rows"))
                   .join(CrimeCategory, CrimeCategory.id == Incident.category_id)
                   .where(Incident.profile == "cdmx_pgj_monthly").group_by(CrimeCategory.code)).set_index("code")
    assert stored["total"].sum() == source["count"].sum()
    assert stored.loc["homicide", "total"] == source.loc[source["crime"] == "HOMICIDIO DOLOSO", "count"].sum()
    assert stored["rows"].sum() == 152
    months = query(module_db, select(func.min(Incident.occurred_month), func.max(Incident.occurred_month))
                   .where(Incident.profile == "cdmx_pgj_monthly"))
    assert [str(v) for v in months.iloc[0]] == ["2016-01-01", "2019-02-01"]


# --- England: data.police.uk derived files -----------------------------------------------------------------


@pytest.mark.parametrize(("name", "rows", "identical", "category"), [
    ("nottingham_burglary.csv.gz", 1795, 200, "burglary_residential"),
    ("nottingham_robbery.csv.gz", 555, 48, "robbery_person"),
    ("lancashire_asb.tab", 56434, 20100, "antisocial_behaviour"),
])
def test_police_uk_files_keep_identical_rows(module_db, name, rows, identical, category):
    path = realdata("uk_police", name)
    report = ingest_incidents(path, source_kind="police", profile="uk_police", engine=module_db)
    assert (report.total, report.loaded, report.rejected, report.duplicates) == (rows, rows, 0, 0)
    assert not report.unknown_labels
    stored = query(module_db, select(CrimeCategory.code, func.count().label("n"))
                   .join(Incident, Incident.category_id == CrimeCategory.id)
                   .where(Incident.batch_id == report.batch_id).group_by(CrimeCategory.code))
    assert stored.set_index("code")["n"].to_dict() == {category: rows}
    keys = query(module_db, select(Incident.record_key).where(Incident.batch_id == report.batch_id))["record_key"]
    second_copies = keys.str.endswith(":2").sum() + keys.str.contains(r":\d+$").sum() * 0
    assert second_copies > 0 and rows - keys.str.replace(r":\d+$", "", regex=True).nunique() == identical
    if rows < 10_000:  # importing the same file again adds nothing
        again = ingest_incidents(path, source_kind="police", profile="uk_police", engine=module_db)
        assert again.loaded == 0 and again.duplicates == rows
