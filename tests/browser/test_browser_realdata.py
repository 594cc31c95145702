"""The same browser walk on real open data, imported through the real importers.

- Chicago's 77 community areas (libpysal's bundled ``Chicago77.shp``, EPSG:3435) with the 2015
  homicides of ``us_code/homicides_9_cities_2015.csv`` (the other eight cities fall outside
  and stay unassigned): Austin, with the most homicides (50), is a Gi* hot spot on the analyst's map;
  the public map withholds Gi* when most community areas are below the suppression threshold.
- Mexico City's 847 police quadrants with the SSP's 132,692 geolocated crimes (2013-2016).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from conftest import realdata
from harness import (
    ARTIFACTS,
    figure_data,
    make_driver,
    migrated_sqlite,
    require_browser,
    serve,
    settle,
    severe_logs,
    wait_until,
)

pytestmark = [pytest.mark.browser, pytest.mark.realdata,
              pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning")]

PASSWORD = "browser test password"
PAGES = {"resumen": "/", "mapa": "/mapa", "tendencias": "/tendencias", "percepcion": "/percepcion",
         "barrio": "/barrio?area=1", "datos": "/datos"}




@pytest.fixture(scope="module")
def driver():
    require_browser()
    drv = make_driver()
    yield drv
    drv.quit()

@pytest.fixture(scope="module")
def chicago(tmp_path_factory):
    from libpysal import examples

    from observatory.db.session import get_engine
    from observatory.ingest.boundaries import import_boundaries
    from observatory.ingest.incidents import ingest_incidents

    homicides = realdata("us_code", "homicides_9_cities_2015.csv")
    url = migrated_sqlite(tmp_path_factory.mktemp("chicago"), "chicago")
    engine = get_engine(url)
    import_boundaries(examples.get_path("Chicago77.shp"), layer="community_areas", id_field="AREA_NUMBE",
                      name_field="COMMUNITY", crs="EPSG:3435", engine=engine)
    report = ingest_incidents(homicides, source_kind="police", profile="crime_open_database", engine=engine)
    assert report.loaded == 1922
    from observatory import auth

    auth.add_user("ana", PASSWORD, "analyst", engine=engine)
    log = ARTIFACTS / "server-chicago.log"
    with serve(url, log_path=log) as base:
        yield {"base": base, "url": url, "log": log, "engine": engine}
    engine.dispose()


@pytest.fixture(scope="module")
def cdmx(tmp_path_factory):
    from observatory.db.session import get_engine
    from observatory.ingest.boundaries import import_boundaries
    from observatory.ingest.incidents import ingest_incidents

    quadrants = realdata("cdmx", "cuadrantes.geojson")
    points = realdata("cdmx", "ssp_cdmx_crime_lat_long_2013_2016.csv")
    url = migrated_sqlite(tmp_path_factory.mktemp("cdmx"), "cdmx")
    engine = get_engine(url)
    import_boundaries(quadrants, layer="cuadrantes", id_field="cuadrante", name_field="cuadrante",
                      district_field="alcaldia", engine=engine)
    report = ingest_incidents(points, source_kind="police", profile="cdmx_ssp", engine=engine)
    assert report.loaded == 132_692
    log = ARTIFACTS / "server-cdmx.log"
    with serve(url, log_path=log) as base:
        yield {"base": base, "url": url, "log": log}
    engine.dispose()


def walk(site: dict, driver, prefix: str) -> None:
    """Open every page in both languages: no console errors, no server errors, a screenshot each."""
    for lang in ("es", "en"):
        for name, path in PAGES.items():
            url = site["base"] + path + (("&" if "?" in path else "?") + "lang=en" if lang == "en" else "")
            driver.get(url)
            settle(driver, timeout=90)
            time.sleep(0.8)  # let MapLibre paint the polygons before the screenshot
            driver.save_screenshot(str(ARTIFACTS / f"{prefix}-{name}-{lang}.png"))
            assert severe_logs(driver) == [], (name, lang)
    log = Path(site["log"]).read_text(errors="replace")
    assert "Traceback" not in log and " 500 -" not in log


def test_chicago_walk_and_austin_hotspot(chicago, driver):
    from urllib.parse import quote, urlsplit

    from observatory import queries
    from observatory.queries import access
    from observatory.web.i18n import t

    walk(chicago, driver, "chicago")
    # The public map: Gi* from the published counts, withheld when most areas are suppressed.
    published = queries.counts_by_area(chicago["engine"], queries.Filters(), "public")
    withheld = access.too_suppressed(published["count"].isna())
    driver.get(chicago["base"] + "/mapa?lang=en&layer=gi")
    settle(driver, timeout=90)
    names = {trace["name"] for trace in figure_data(driver, "map-graph")}
    notice = t("notice.hotspots_suppressed", "en", **access.notice_values())
    assert (notice[:40] in driver.find_element("tag name", "body").text) == withheld
    assert ("Hot spot 99%" in names) == (not withheld)
    driver.save_screenshot(str(ARTIFACTS / "chicago-mapa-gi-public-en.png"))
    # The analyst's map: Gi* on the true counts, Austin (50 homicides) hot at 99%.
    driver.delete_all_cookies()
    driver.get(chicago["base"] + "/login?next=" + quote("/mapa?lang=en&layer=gi"))
    driver.find_element("id", "username").send_keys("ana")
    driver.find_element("id", "password").send_keys(PASSWORD)
    driver.find_element("css selector", "button[type=submit]").click()
    wait_until(lambda: urlsplit(driver.current_url).path == "/mapa", 20, what="redirect after login")
    settle(driver, timeout=90)
    traces = figure_data(driver, "map-graph")
    assert "Hot spot 99%" in {trace["name"] for trace in traces}
    austin = [text for text in traces[0]["text"] if "AUSTIN" in text]
    assert austin and "Hot spot 99%" in austin[0]
    driver.save_screenshot(str(ARTIFACTS / "chicago-mapa-gi-en.png"))
    driver.delete_all_cookies()


def test_cdmx_walk_and_filter(cdmx, driver):
    walk(cdmx, driver, "cdmx")
    driver.get(cdmx["base"] + "/mapa")
    settle(driver, timeout=90)
    before = figure_data(driver, "map-graph")
    assert sum(t["n"] for t in before) >= 847
    driver.find_element("id", "f-cat").click()
    option = wait_until(lambda: [o for o in driver.find_elements("css selector", "[role=option]")
                                 if "Homicidio doloso" in o.text], 15, what="homicide option")[0]
    option.click()
    driver.find_element("tag name", "h1").click()
    wait_until(lambda: "cat=homicide" in driver.current_url, 15, what="URL update")
    settle(driver, timeout=90)
    assert figure_data(driver, "map-graph") != before
    assert severe_logs(driver) == []
