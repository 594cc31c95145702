"""A boundary layer's ids must be unique (issue 11, item 7), and population can be attached to an existing
layer from a table (issue 10, defect 11; issue 11, item 15): on Mexico City's real police quadrants, which
carry no population."""

from __future__ import annotations

import csv
import json

import geopandas as gpd
import pytest
from sqlalchemy import func, select

from observatory.cli import main
from observatory.db.models import BoundaryLayer, ImportBatch, Neighbourhood, RejectedRow
from observatory.db.session import get_engine
from observatory.ingest.population import attach_population
from observatory.ingest.report import ImportFailed
from tests.conftest import EXAMPLES, FIXTURES, realdata

# Equal-area projection centred on Mexico City, for the areal interpolation below.
LAEA_CDMX = "+proj=laea +lat_0=19.4 +lon_0=-99.1 +datum=WGS84 +units=m +no_defs"
LEFT_OUT = 5  # quadrants the population file does not mention
FAKE_IDS = ["XX-1.1.1", "XX-1.1.2"]  # ids in the file that are no quadrant


def quadrant_populations() -> dict[str, float]:
    """Population of each quadrant by areal interpolation of the IECM colonias' SUMPOB1 population.

    No quadrant population is published (SOURCES.md); the rule: a colonia's residents are spread evenly
    over its area, and a quadrant gets the residents of the parts of colonias it covers, rounded.
    """
    quadrants = gpd.read_file(realdata("cdmx", "cuadrantes.geojson")).to_crs(LAEA_CDMX)
    colonias = gpd.read_file(realdata("cdmx", "colonias_iecm.gpkg")).to_crs(LAEA_CDMX)
    colonias["colonia_area"] = colonias.area
    parts = gpd.overlay(quadrants[["cuadrante", "geometry"]], colonias[["SUMPOB1", "colonia_area", "geometry"]],
                        how="intersection", keep_geom_type=True)
    parts["residents"] = parts["SUMPOB1"] * parts.area / parts["colonia_area"]
    population = parts.groupby("cuadrante")["residents"].sum().round()
    return {str(k): float(v) for k, v in population.reindex(quadrants["cuadrante"], fill_value=0.0).items()}


def write_csv(path, rows: list[tuple[str, str]], header=("cve_cuadrante", "poblacion")) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)


def stored_population(engine, layer: str) -> dict[str, float | None]:
    with engine.connect() as conn:
        rows = conn.execute(select(Neighbourhood.code, Neighbourhood.population)
                            .join(BoundaryLayer, BoundaryLayer.id == Neighbourhood.layer_id)
                            .where(BoundaryLayer.name == layer)).all()
    return {code: (None if pop is None else float(pop)) for code, pop in rows}


def counts(engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(select(func.count()).select_from(m)).scalar_one()
                     for m in (BoundaryLayer, Neighbourhood, ImportBatch))


def import_quadrants(capsys) -> dict:
    path = realdata("cdmx", "cuadrantes.geojson")
    assert main(["boundaries", "import", str(path), "--layer", "cuadrantes", "--id-field", "cuadrante",
                 "--name-field", "cuadrante", "--district-field", "sector", "--json"]) == 0
    return json.loads(capsys.readouterr().out)


# --- item 7: a non-unique id field is refused ---------------------------------------------------------


def test_a_non_unique_id_field_is_refused_naming_the_codes(db_url, capsys):
    path = realdata("cdmx", "cuadrantes.geojson")
    sectors = gpd.read_file(path)["sector"].value_counts()
    clashing = sectors[sectors > 1]
    engine = get_engine(db_url)
    code = main(["boundaries", "import", str(path), "--layer", "sectores", "--id-field", "sector",
                 "--name-field", "sector"])
    err = capsys.readouterr().err
    assert code == 2
    # 72 sectors over 847 quadrants: every sector code names several quadrants
    assert len(sectors) == 72 and len(clashing) == 72 and sectors.sum() == 847
    assert f"the id field 'sector' is not unique: {len(clashing)} codes are used by more than one area" in err
    biggest = clashing.sort_values(ascending=False).index[0]
    assert f"'{biggest}' ({clashing[biggest]} features)" in err and f"and {len(clashing) - 5} more" in err
    assert counts(engine) == (0, 0, 0)  # nothing stored, not even a batch


# --- item 15 / issue 10 defect 11: population attached to an existing layer ----------------------------


def test_population_attached_to_the_real_quadrants(db_url, tmp_path, capsys):
    engine = get_engine(db_url)
    report = import_quadrants(capsys)
    assert report["loaded"] == 847
    # the import report says why rates will be empty, and how to fix it
    assert any("layer 'cuadrantes' has no population: rates will be empty" in w
               and "boundaries population" in w for w in report["warnings"])
    population = quadrant_populations()
    assert len(population) == 847 and sum(population.values()) > 8_000_000
    left_out = sorted(population)[:LEFT_OUT]
    rows = [(code, f"{int(value)}") for code, value in population.items() if code not in left_out]
    rows += [(fake, "100") for fake in FAKE_IDS]
    rows.append(rows[0])  # an exact repeat: read once
    path = tmp_path / "poblacion_cuadrantes.csv"
    write_csv(path, rows)

    assert main(["boundaries", "population", str(path), "--layer", "cuadrantes", "--id-field", "cve_cuadrante",
                 "--population-field", "poblacion"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].startswith("database: ")
    assert f"matched: {847 - LEFT_OUT:,} areas ({847 - LEFT_OUT:,} changed), unmatched ids: {len(FAKE_IDS)}" in out
    assert f"areas still without population: {LEFT_OUT}" in out
    assert all(fake in out for fake in FAKE_IDS)

    stored = stored_population(engine, "cuadrantes")
    assert {c: v for c, v in stored.items() if c not in left_out} == {
        c: v for c, v in population.items() if c not in left_out}
    assert all(stored[c] is None for c in left_out)
    with engine.connect() as conn:
        batch = conn.execute(select(ImportBatch).order_by(ImportBatch.id.desc())).first()
        rejected = conn.execute(select(RejectedRow.row_number, RejectedRow.field)
                                .where(RejectedRow.batch_id == batch.id)).all()
        version = conn.execute(select(BoundaryLayer.version)).scalar_one()
    assert (batch.total, batch.loaded, batch.rejected, batch.duplicates) == (
        len(rows), 847 - LEFT_OUT, len(FAKE_IDS), 1)
    assert [tuple(r) for r in rejected] == [(847 - LEFT_OUT + 2, "cve_cuadrante"), (847 - LEFT_OUT + 3,
                                                                                    "cve_cuadrante")]
    assert version == 2  # cached figures are recomputed

    # an incident import into a layer still missing some populations says so
    assert main(["ingest", "police", str(EXAMPLES / "generic_incidents.csv"), "--profile", "generic_incidents",
                 "--json"]) == 0
    incident_report = json.loads(capsys.readouterr().out)
    assert any(f"{LEFT_OUT} of 847 areas of layer 'cuadrantes' have no population" in w
               for w in incident_report["warnings"])


@pytest.mark.parametrize("value, what", [("-12", "'-12' is not a population"),
                                         ("doce", "'doce' is not a population"),
                                         ("", "'' is not a population")])
def test_bad_population_values_refuse_the_whole_file(db_url, tmp_path, value, what):
    engine = get_engine(db_url)
    barrios = FIXTURES / "incidents" / "barrios.geojson"
    assert main(["boundaries", "import", str(barrios), "--layer", "barrios", "--id-field", "code",
                 "--name-field", "name"]) == 0
    codes = sorted(stored_population(engine, "barrios"))
    path = tmp_path / "pop.csv"
    write_csv(path, [(codes[0], "1200"), (codes[1], value), (codes[2], "800")], header=("code", "pop"))
    before = counts(engine)
    with pytest.raises(ImportFailed, match=rf"pop.csv, row 3, field 'pop': {what}.*nothing was stored"):
        attach_population(path, layer="barrios", id_field="code", population_field="pop", engine=engine)
    assert counts(engine) == before
    assert set(stored_population(engine, "barrios").values()) == {None}  # the first row was not kept


def test_population_refusals_name_the_layer_field_and_conflicting_rows(db_url, tmp_path, capsys):
    engine = get_engine(db_url)
    barrios = FIXTURES / "incidents" / "barrios.geojson"
    assert main(["boundaries", "import", str(barrios), "--layer", "barrios", "--id-field", "code",
                 "--name-field", "name"]) == 0
    codes = sorted(stored_population(engine, "barrios"))
    path = tmp_path / "pop.csv"
    write_csv(path, [(codes[0], "1200"), (codes[0], "1300")], header=("code", "pop"))
    with pytest.raises(ImportFailed, match=rf"row 3, field 'code': area '{codes[0]}' appears again \(first on row 2\)"):
        attach_population(path, layer="barrios", id_field="code", population_field="pop", engine=engine)
    with pytest.raises(ImportFailed, match=r"population field 'poblacion' is not in the file \(fields: code, pop\)"):
        attach_population(path, layer="barrios", id_field="code", population_field="poblacion", engine=engine)
    write_csv(path, [(codes[0], "1200")], header=("code", "pop"))
    with pytest.raises(ImportFailed, match=r"no boundary layer named 'colonias' \(layers: barrios\)"):
        attach_population(path, layer="colonias", id_field="code", population_field="pop", engine=engine)
    write_csv(path, [("Z9", "10")], header=("code", "pop"))
    assert main(["boundaries", "population", str(path), "--layer", "barrios", "--id-field", "code",
                 "--population-field", "pop"]) == 2
    assert "none of the 1 ids in 'code' is an area code of layer 'barrios'" in capsys.readouterr().err
    # a population written with a thousands separator is read as the count it is
    write_csv(path, [(codes[0], "1,200"), (codes[1], "950")], header=("code", "pop"))
    report = attach_population(path, layer="barrios", id_field="code", population_field="pop", engine=engine)
    assert (report.loaded, report.rejected, report.details["areas_without_population"]) == (2, 0, len(codes) - 2)
    assert stored_population(engine, "barrios")[codes[0]] == 1200.0
    again = attach_population(path, layer="barrios", id_field="code", population_field="pop", engine=engine)
    assert (again.loaded, again.revised) == (2, 0)  # the same values again change nothing


def test_population_upload_on_the_analyst_page(sqlite_url, tmp_path):
    import base64

    from observatory import auth
    from observatory.web.app import create_app
    from tests.test_auth_analyst_page import call, login
    from tests.test_callback_leaks import PASSWORD

    engine = get_engine(sqlite_url)
    assert main(["boundaries", "import", str(FIXTURES / "incidents" / "barrios.geojson"), "--layer", "barrios",
                 "--id-field", "code", "--name-field", "name"]) == 0
    auth.add_user("ana", PASSWORD, "analyst", engine=engine)
    app = create_app(sqlite_url)
    client, headers = login(app, "ana")

    def upload(blob: bytes, population_field: str | None) -> str:
        contents = "data:text/csv;base64," + base64.b64encode(blob).decode()
        return call(client, "an-report.children", [("an-upload", "contents", contents)],
                    [("an-upload", "filename", "poblacion.csv"), ("an-kind", "value", "population"),
                     ("an-profile", "value", ""), ("an-layer", "value", "barrios"),
                     ("an-id-field", "value", "cve"), ("an-name-field", "value", None),
                     ("an-source-layer", "value", None), ("an-encoding", "value", None),
                     ("an-profile-file", "contents", None), ("an-profile-file", "filename", None),
                     ("an-population-field", "value", population_field)], headers).get_data(as_text=True)

    assert "population needs the layer name, the id field and the population field" in upload(b"cve,pob\n", None)
    refused = upload(b"cve,pob\nN01,12000\nN02,-5\n", "pob")
    assert "poblacion.csv, row 3, field 'pob': '-5' is not a population" in refused
    assert set(stored_population(engine, "barrios").values()) == {None}
    report = upload(b"cve,pob\nN01,12000\nN02,9500\nN99,1\n", "pob")
    assert "loaded: 2" in report and "rejected: 1" in report and "N99" in report
    assert stored_population(engine, "barrios") == {"N01": 12000.0, "N02": 9500.0, "N03": None}
