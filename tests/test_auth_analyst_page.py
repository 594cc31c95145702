"""The restricted analyst page: geomasked points, microdata download, uploads, audit log."""

from __future__ import annotations

import base64
import gzip
import json
import re

import numpy as np
import pandas as pd
import pytest
from pyproj import Geod

from observatory import audit, auth
from observatory.db.session import get_engine
from tests.test_callback_leaks import PASSWORD, world  # noqa: F401 -- the shared module fixture

GEOD = Geod(ellps="WGS84")


def login(app, username: str) -> tuple:
    client = app.server.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = client.post("/login", data={"csrf_token": token, "username": username, "password": PASSWORD})
    assert resp.status_code == 303
    return client, {"X-CSRFToken": client.get_cookie("_csrf_token").value}


def call(client, output: str, inputs: list, state: list, headers: dict | None = None):
    ident, prop = output.rsplit(".", 1)
    body = {"output": output, "outputs": {"id": ident, "property": prop},
            "inputs": [{"id": i, "property": p, "value": v} for i, p, v in inputs],
            "state": [{"id": i, "property": p, "value": v} for i, p, v in state],
            "changedPropIds": [f"{inputs[0][0]}.{inputs[0][1]}"]}
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=headers or {})


def figure_points(resp) -> np.ndarray:
    fig = resp.get_json()["response"]["an-points"]["figure"]
    for trace in fig["data"]:
        if trace["type"] == "scattermap":
            def arr(v):
                if isinstance(v, dict):
                    return np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
                return np.asarray(v, dtype=float)
            return np.column_stack([arr(trace["lon"]), arr(trace["lat"])])
    return np.empty((0, 2))


def nearest_m(points: np.ndarray, incidents: pd.DataFrame) -> np.ndarray:
    inc = incidents[["longitude", "latitude"]].to_numpy(dtype=float)
    out = []
    for lon, lat in points:
        _, _, d = GEOD.inv(np.full(len(inc), lon), np.full(len(inc), lat), inc[:, 0], inc[:, 1])
        out.append(d.min())
    return np.array(out)


def test_public_gets_a_login_link_and_nothing_else(world):  # noqa: F811
    app, _, _ = world
    client = app.server.test_client()
    body = {"output": ".._pages_content.children..._pages_store.data..", "outputs": [
        {"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/analista"},
                   {"id": "_pages_location", "property": "search", "value": ""}], "state": [],
        "changedPropIds": ["_pages_location.pathname"]}
    text = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json").get_data(
        as_text=True)
    assert "Acceso restringido" in text and "login?next=" in text and "an-upload" not in text
    resp = call(client, "an-dl.data", [("an-dl-btn", "n_clicks", 1)],
                [("an-state", "data", {}), ("an-radius", "value", 0), ("an-mask-export", "value", [])])
    assert resp.status_code == 204 or "ZZADDR" not in resp.get_data(as_text=True)
    engine = get_engine(app.server.config["OBSERVATORY_DATABASE_URL"])
    batches = len(audit.list_events(engine, action="import"))
    csv = b"record_id,occurred_date,category\nP1,2024-01-01,theft\n"
    contents = "data:text/csv;base64," + base64.b64encode(csv).decode()
    call(client, "an-report.children", [("an-upload", "contents", contents)],
         [("an-upload", "filename", "x.csv"), ("an-kind", "value", "police"),
          ("an-profile", "value", "generic_incidents"), ("an-layer", "value", None),
          ("an-id-field", "value", None), ("an-name-field", "value", None), ("an-source-layer", "value", None),
          ("an-encoding", "value", None),
          ("an-profile-file", "contents", None), ("an-profile-file", "filename", None),
           ("an-population-field", "value", None)])
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM incidents WHERE source_id = 'P1'").scalar_one() == 0
    assert len(audit.list_events(engine, action="import")) == batches


def test_geomasked_points(world):  # noqa: F811
    app, incidents, _ = world
    client, headers = login(app, "ana")
    exact = figure_points(call(client, "an-points.figure", [("an-radius", "value", 0)], [("an-state", "data", {})],
                               headers))
    assert len(exact) > 100
    assert nearest_m(exact[:40], incidents).max() < 1  # radius 0: the true positions
    masked = figure_points(call(client, "an-points.figure", [("an-radius", "value", 300)],
                                [("an-state", "data", {})], headers))
    assert len(masked) == len(exact)
    moved = np.array([GEOD.inv(a[0], a[1], b[0], b[1])[2] for a, b in zip(exact, masked, strict=True)])
    assert moved.max() <= 300 * 1.01 and moved.mean() > 100  # displaced, within the radius
    again = figure_points(call(client, "an-points.figure", [("an-radius", "value", 300)],
                               [("an-state", "data", {})], headers))
    np.testing.assert_allclose(again, masked)  # a fixed seed: the map does not jump


def test_microdata_download_is_neutralised_masked_and_audited(world):  # noqa: F811
    app, incidents, _ = world
    client, headers = login(app, "ana")
    resp = call(client, "an-dl.data", [("an-dl-btn", "n_clicks", 1)],
                [("an-state", "data", {}), ("an-radius", "value", 250), ("an-mask-export", "value", ["mask"])],
                headers)
    payload = resp.get_json()["response"]["an-dl"]["data"]
    frame = pd.read_csv(__import__("io").StringIO(payload["content"]))
    assert len(frame) == len(incidents) and frame["address"].str.startswith("ZZADDR").all()
    assert nearest_m(frame[["lon", "lat"]].to_numpy()[:30], incidents).min() > 0.5  # coordinates masked
    engine = get_engine(app.server.config["OBSERVATORY_DATABASE_URL"])
    event = audit.list_events(engine, action="export").iloc[0]
    assert event["user_name"] == "ana" and event["detail"]["rows"] == len(incidents)


def test_upload_through_the_importer_and_refusals(world, tmp_path):  # noqa: F811
    app, _, _ = world
    engine = get_engine(app.server.config["OBSERVATORY_DATABASE_URL"])
    client, headers = login(app, "ana")
    csv = (b"record_id,occurred_date,category,latitude,longitude,address,description\n"
           b"U1,2024-06-01,theft,19.38,-99.15,x,y\nU2,not a date,theft,,,,\n")

    def upload(name: str, blob: bytes):
        contents = "data:application/octet-stream;base64," + base64.b64encode(blob).decode()
        return call(client, "an-report.children", [("an-upload", "contents", contents)],
                    [("an-upload", "filename", name), ("an-kind", "value", "complaint"),
                     ("an-profile", "value", "generic_incidents"), ("an-layer", "value", None),
                     ("an-id-field", "value", None), ("an-name-field", "value", None),
                     ("an-source-layer", "value", None), ("an-encoding", "value", None),
          ("an-profile-file", "contents", None), ("an-profile-file", "filename", None),
           ("an-population-field", "value", None)],
                    headers).get_data(as_text=True)

    report = upload("nuevas.csv", csv)
    assert "loaded: 1" in report and "rejected: 1" in report
    imports = audit.list_events(engine, action="import")
    assert imports["detail"].iloc[0]["loaded"] == 1 and imports["user_name"].iloc[0] == "ana"
    before = audit.list_events(engine, action="import")
    bomb = gzip.compress(b"0" * (1200 << 20), compresslevel=9)
    assert "decompresses to more than" in upload("bomb.csv.gz", bomb)
    assert "binary file" in upload("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00" * 10)
    assert len(audit.list_events(engine, action="import")) == len(before)
    assert len(audit.list_events(engine, action="import_refused")) == 2


def test_audit_log_for_admins_only(world):  # noqa: F811
    app, _, _ = world
    engine = get_engine(app.server.config["OBSERVATORY_DATABASE_URL"])
    if auth.get_user("jefa", engine) is None:
        auth.add_user("jefa", PASSWORD, "admin", engine=engine)
    analyst, a_headers = login(app, "ana")
    denied = call(analyst, "an-audit.children", [("an-audit-btn", "n_clicks", 1)], [], a_headers)
    assert denied.status_code == 204 or denied.get_json()["response"] == {}, denied.get_data(as_text=True)[:300]
    admin, headers = login(app, "jefa")
    text = call(admin, "an-audit.children", [("an-audit-btn", "n_clicks", 1)], [], headers).get_data(as_text=True)
    assert "login" in text and "jefa" in text


@pytest.mark.parametrize("radius", [250])
def test_public_points_callback_returns_no_points(world, radius):  # noqa: F811
    app, _, _ = world
    resp = call(app.server.test_client(), "an-points.figure", [("an-radius", "value", radius)],
                [("an-state", "data", {})])
    assert len(figure_points(resp)) == 0


def test_boundary_upload_chooses_the_layer_inside_a_geopackage(world, tmp_path):  # noqa: F811
    """A GeoPackage with two polygon layers: refused with the layers listed, then read as chosen."""
    import geopandas as gpd
    from shapely.geometry import box

    app, _, _ = world
    client, headers = login(app, "ana")
    path = tmp_path / "ciudad.gpkg"
    gpd.GeoDataFrame({"cve": ["Z1", "Z2"], "nombre": ["Zona Peñón", "Zona Álamos"]},
                     geometry=[box(-99.2, 19.3, -99.1, 19.4), box(-99.1, 19.3, -99.0, 19.4)],
                     crs="EPSG:4326").to_file(path, layer="zonas", driver="GPKG")
    gpd.GeoDataFrame({"cve": ["S1"], "nombre": ["Sector"]}, geometry=[box(-99.2, 19.3, -99.0, 19.4)],
                     crs="EPSG:4326").to_file(path, layer="sectores", driver="GPKG")
    contents = "data:application/octet-stream;base64," + base64.b64encode(path.read_bytes()).decode()

    def upload(source_layer):
        return call(client, "an-report.children", [("an-upload", "contents", contents)],
                    [("an-upload", "filename", "ciudad.gpkg"), ("an-kind", "value", "boundaries"),
                     ("an-profile", "value", ""), ("an-layer", "value", "zonas_subidas"),
                     ("an-id-field", "value", "cve"), ("an-name-field", "value", "nombre"),
                     ("an-source-layer", "value", source_layer), ("an-encoding", "value", None),
          ("an-profile-file", "contents", None), ("an-profile-file", "filename", None),
           ("an-population-field", "value", None)],
                    headers).get_data(as_text=True)

    refused = upload(None)
    assert "sectores" in refused and "zonas" in refused and "source-layer" in refused
    report = upload("zonas")
    assert "loaded: 2" in report, report[:500]
    engine = get_engine(app.server.config["OBSERVATORY_DATABASE_URL"])
    with engine.connect() as conn:
        names = conn.exec_driver_sql(
            "SELECT n.name FROM neighbourhoods n JOIN boundary_layers l ON l.id = n.layer_id"
            " WHERE l.name = 'zonas_subidas' ORDER BY n.code").scalars().all()
    assert names == ["Zona Peñón", "Zona Álamos"]
