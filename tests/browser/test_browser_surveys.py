"""The Perception page in headless Chromium on real survey microdata, imported with the real importers:

- a Mexico City install: the CDMX police quadrants, ENSU 2015 (four quarters, ``--territory 01``) and
  the ENVIPE 2021 crime module (``--territory 09``);
- a Colombian install: the ECSC 2020 dwelling table and its six crime modules (``--territory 11001``,
  Bogotá), no boundaries.

Every survey panel names its level and wave; screenshots go to ``tests/artifacts/``.
"""

from __future__ import annotations

import pytest
from conftest import realdata
from harness import ARTIFACTS, make_driver, migrated_sqlite, require_browser, serve, settle, severe_logs

pytestmark = [pytest.mark.browser, pytest.mark.realdata,
              pytest.mark.filterwarnings("ignore:HTTPResponse.getheader:DeprecationWarning")]

ECSC = {"ecsc": "ecsc2020_01_datos_de_la_vivienda.csv", "ecsc_hurto_residencia": "ecsc2020_06_hurto_a_residencia.csv",
        "ecsc_hurto_ganado": "ecsc2020_07_hurto_de_ganado_semovientes_o_aves_de_corral.csv",
        "ecsc_hurto_vehiculos": "ecsc2020_08_hurto_a_vehiculos.csv",
        "ecsc_hurto_personas": "ecsc2020_09_hurto_a_personas.csv", "ecsc_rinas": "ecsc2020_10_rinas_y_peleas.csv",
        "ecsc_extorsion": "ecsc2020_11_extorsion.csv"}




@pytest.fixture(scope="module")
def driver():
    require_browser()
    drv = make_driver()
    yield drv
    drv.quit()

@pytest.fixture(scope="module")
def cdmx_surveys(tmp_path_factory):
    from observatory.db.session import get_engine
    from observatory.ingest.boundaries import import_boundaries
    from observatory.ingest.surveys import ingest_survey

    url = migrated_sqlite(tmp_path_factory.mktemp("cdmx_surveys"), "cdmx_surveys")
    engine = get_engine(url)
    import_boundaries(realdata("cdmx", "cuadrantes.geojson"), layer="cuadrantes", id_field="cuadrante",
                      name_field="cuadrante", district_field="alcaldia", engine=engine)
    for q in (1, 2, 3, 4):
        name = f"conjunto_de_datos_cb_ensu_0{q}_2015"
        ingest_survey(realdata("mexico_surveys", "ensu_2015", f"conjunto_de_datos_ensu_0{q}_2015", name,
                               "conjunto_de_datos", f"{name}.csv"), profile="ensu", engine=engine, territory="01")
    ingest_survey(realdata("mexico_surveys", "envipe_2021", "envipe2021_TMod_Vic_national.csv"), profile="envipe",
                  engine=engine, territory="09")
    with serve(url, log_path=ARTIFACTS / "server-cdmx-surveys.log") as base:
        yield base
    engine.dispose()


@pytest.fixture(scope="module")
def colombia(tmp_path_factory):
    from observatory.db.session import get_engine
    from observatory.ingest.surveys import ingest_survey

    url = migrated_sqlite(tmp_path_factory.mktemp("colombia"), "colombia")
    engine = get_engine(url)
    for profile, name in ECSC.items():
        ingest_survey(realdata("colombia", "ecsc_2020", name), profile=profile, engine=engine, territory="11001")
    with serve(url, log_path=ARTIFACTS / "server-colombia.log") as base:
        yield base
    engine.dispose()


def _walk(driver, base: str, shot: str, waves: list[str], levels: tuple[str, ...]) -> str:
    driver.set_window_size(1400, 1000)
    driver.get(base + "/percepcion")
    settle(driver, timeout=90)
    text = driver.find_element("tag name", "body").text
    height = driver.execute_script("return document.body.scrollHeight")
    driver.set_window_size(1400, min(int(height) + 100, 6000))  # the whole page in one screenshot
    settle(driver, timeout=30)
    driver.save_screenshot(str(ARTIFACTS / f"{shot}.png"))
    assert "No hay encuestas cargadas" not in text
    notes = [e.text for e in driver.find_elements("css selector", ".survey-panel-note")]
    assert notes, "no survey panel names its level and wave"
    for note in notes:
        assert "Nivel:" in note and "Ola:" in note and any(level in note for level in levels), note
    table = driver.find_element("id", "survey-figures-table").text
    for wave in waves:
        assert wave in table
    assert all(level in table for level in levels)
    assert not [m for m in severe_logs(driver) if "500" in m], "server error"
    return text


def test_cdmx_perception_page(driver, cdmx_surveys):
    text = _walk(driver, cdmx_surveys, "surveys-cdmx-percepcion-es", ["ENSU 2015 Q4", "ENVIPE 2021"],
                 ("ciudad", "entidad"))  # ENSU: the city; ENVIPE: the state (Mexico City is both)
    assert "Cifra negra (INEGI)" in text
    assert "no tiene nivel de barrio" in text  # ENSU is city-level only: the map says so


def test_colombia_perception_page(driver, colombia):
    text = _walk(driver, colombia, "surveys-colombia-percepcion-es", ["ECSC 2020"], ("ciudad",))
    assert "Cifra oculta (DANE)" in text
    assert "diseño desconocido" in text  # the ECSC snapshot has no strata / PSUs: the fallback, said so


def test_cdmx_overview_survey_cards(driver, cdmx_surveys):
    driver.set_window_size(1400, 1000)
    driver.get(cdmx_surveys + "/")
    settle(driver, timeout=90)
    driver.save_screenshot(str(ARTIFACTS / "surveys-cdmx-resumen-es.png"))
    fear_card = driver.find_element("id", "kpi-fear").text
    vict_card = driver.find_element("id", "kpi-victimisation").text
    # ENSU asks neither the fear items nor victimisation: "no data" with its wave and level, never "unreliable".
    for card in (fear_card, vict_card):
        assert "sin datos" in card and "ENSU 2015 Q4" in card and "ciudad" in card, card
        assert "poco confiable" not in card
