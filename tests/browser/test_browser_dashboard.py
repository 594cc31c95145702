"""The dashboard in real headless Chromium on a seeded database (``seed.py``).

Every page in Spanish and English loads with no SEVERE console message and no server-side
callback error; a filter changed in the UI changes the map and the series; the URL
reproduces the view; presentation mode; a CSV download equals the query. Screenshots go to
``tests/artifacts/`` (look at them after a change of layout).
"""

from __future__ import annotations

import time
import uuid
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest
from harness import ARTIFACTS, figure_data, make_driver, require_browser, serve, settle, severe_logs, wait_until

pytestmark = [pytest.mark.browser,
              pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning")]

PAGES = {"resumen": "/", "mapa": "/mapa", "tendencias": "/tendencias", "percepcion": "/percepcion",
         "barrio": "/barrio?area=1", "datos": "/datos"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A seeded SQLite database served by the dashboard in a subprocess, and a browser."""
    require_browser()
    from seed import build

    from observatory.db.session import get_engine, upgrade_to_head

    folder = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{folder / f'site-{uuid.uuid4().hex[:6]}.db'}"
    upgrade_to_head(url)
    summary = build(get_engine(url), nx=6, ny=5, incidents=6000)
    downloads = folder / "downloads"
    downloads.mkdir()
    log = ARTIFACTS / "server-seeded.log"
    with serve(url, log_path=log) as base:
        driver = make_driver(download_dir=downloads)
        try:
            yield {"base": base, "driver": driver, "url": url, "summary": summary, "downloads": downloads, "log": log}
        finally:
            driver.quit()
    get_engine(url).dispose()


def open_page(site, path: str) -> list[str]:
    driver = site["driver"]
    driver.get(site["base"] + path)
    settle(driver)
    return severe_logs(driver)


def server_errors(site) -> list[str]:
    text = Path(site["log"]).read_text(errors="replace")
    return [line for line in text.splitlines() if "Traceback" in line or " 500 -" in line]


@pytest.mark.parametrize("lang", ["es", "en"])
@pytest.mark.parametrize("name", list(PAGES))
def test_every_page_loads_without_errors(site, name, lang):
    path = PAGES[name]
    if lang == "en":
        path += ("&" if "?" in path else "?") + "lang=en"
    errors = open_page(site, path)
    driver = site["driver"]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    time.sleep(0.5)  # let MapLibre paint before the screenshot
    driver.save_screenshot(str(ARTIFACTS / f"seeded-{name}-{lang}.png"))
    assert errors == [], errors
    assert server_errors(site) == []
    assert driver.execute_script("return document.documentElement.lang || document.querySelector('.obs-root').lang") \
        in (lang, "es", "en")
    nav = driver.find_element("id", "nav-map").text
    assert nav == ("Mapa" if lang == "es" else "Map")
    # Every graph on the page was drawn (a Plotly root exists in each dcc.Graph).
    graphs = driver.execute_script("return Array.from(document.querySelectorAll('.dash-graph')).map(g => g.id)")
    for graph in graphs:
        wait_until(lambda g=graph: figure_data(driver, g), 20, what=f"figure {graph}")


def _choose(driver, dropdown_id: str, option_text: str) -> None:
    driver.find_element("id", dropdown_id).click()
    option = wait_until(lambda: [o for o in driver.find_elements("css selector", "[role=option]")
                                 if o.text.strip() == option_text], 10, what=f"option {option_text}")[0]
    option.click()
    driver.find_element("tag name", "h1").click()  # close the menu


def test_filter_changes_map_and_series_and_url_reproduces_the_view(site):
    driver = site["driver"]
    assert open_page(site, "/mapa") == []
    before = figure_data(driver, "map-graph")
    _choose(driver, "f-src", "Reportes policiales")
    wait_until(lambda: "src=police" in driver.current_url, 15, what="URL update")
    settle(driver)
    after = figure_data(driver, "map-graph")
    assert after and after != before
    url = driver.current_url
    # The copied URL reproduces the view: same filter shown, same map.
    driver.get("about:blank")
    driver.get(url)
    settle(driver)
    assert "Reportes policiales" in driver.find_element("id", "f-src").text
    assert figure_data(driver, "map-graph") == after
    # ...and the series on the Trends page follow the same filter through the nav link.
    driver.find_element("id", "nav-trends").click()
    wait_until(lambda: "/tendencias" in driver.current_url, 15, what="navigation")
    settle(driver)
    assert "src=police" in driver.current_url
    police = figure_data(driver, "trends-monthly")
    open_page(site, "/tendencias")
    both = figure_data(driver, "trends-monthly")
    counts = next(t for t in police if t["name"] == "Delitos")["y"]
    total = next(t for t in both if t["name"] == "Delitos")["y"]
    assert sum(counts) < sum(total)
    assert severe_logs(driver) == []


def test_map_layer_choice_is_in_the_url(site):
    driver = site["driver"]
    open_page(site, "/mapa?lang=en")
    driver.find_element("xpath", "//label[normalize-space()='Gi* hotspots']").click()
    wait_until(lambda: "layer=gi" in driver.current_url, 15, what="layer in URL")
    settle(driver)
    names = {t["name"] for t in figure_data(driver, "map-graph")}
    assert "Hot spot 99%" in names
    driver.save_screenshot(str(ARTIFACTS / "seeded-mapa-gi-en.png"))


def test_presentation_mode(site):
    driver = site["driver"]
    open_page(site, "/mapa?layer=gi")
    driver.find_element("id", "nav-present").click()
    wait_until(lambda: "present=1" in driver.current_url, 15, what="presentation URL")
    settle(driver)
    assert "present" in driver.find_element("css selector", ".obs-root").get_attribute("class")
    assert not driver.find_element("css selector", ".navbar").is_displayed()
    assert not driver.find_element("css selector", ".filters").is_displayed()
    graph = driver.find_element("id", "map-graph")
    assert graph.size["height"] > 0.7 * driver.get_window_size()["height"]
    font = driver.execute_script("return parseFloat(getComputedStyle(document.querySelector('.obs-root')).fontSize)")
    assert font >= 24
    names = {t["name"] for t in figure_data(driver, "map-graph")}
    assert "Punto caliente 99%" in names
    driver.save_screenshot(str(ARTIFACTS / "seeded-present-mapa.png"))
    open_page(site, "/?present=1")
    driver.save_screenshot(str(ARTIFACTS / "seeded-present-resumen.png"))
    exit_link = driver.find_element("id", "present-exit")
    assert exit_link.is_displayed()
    exit_link.click()
    wait_until(lambda: "present" not in driver.find_element("css selector", ".obs-root").get_attribute("class"), 15,
               what="leaving presentation")
    assert severe_logs(driver) == []


def test_csv_download_equals_the_query(site):
    from observatory import queries
    from observatory.web import data
    from observatory.web.state import parse_query

    driver = site["driver"]
    query = "?cat=s04&src=complaint"
    open_page(site, "/tendencias" + query)
    for old in site["downloads"].glob("*"):
        old.unlink()
    driver.find_element("id", "trends-monthly-dl-btn").click()
    target = site["downloads"] / "monthly.csv"
    wait_until(lambda: target.exists() and target.stat().st_size > 0, 20, what="download")
    time.sleep(0.3)
    got = pd.read_csv(target)
    data.configure(site["url"])
    try:
        expected = queries.counts_by_month(data.engine(), data.to_filters(parse_query(query)), "public")
    finally:
        data.configure(None)
    assert got["count"].tolist() == expected["count"].tolist()
    assert pd.to_datetime(got["month"]).tolist() == pd.to_datetime(expected["month"]).tolist()
    assert pd.read_csv(StringIO(target.read_text())).shape[0] == len(expected)


def test_phone_width_stacks_the_layout(site):
    driver = site["driver"]
    driver.set_window_size(390, 844)
    try:
        open_page(site, "/")
        driver.save_screenshot(str(ARTIFACTS / "seeded-phone-resumen.png"))
        width = driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 400  # no horizontal scrolling on a phone
        assert driver.find_element("id", "nav-toggler").is_displayed()
    finally:
        driver.set_window_size(1400, 1000)
