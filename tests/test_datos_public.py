"""The public Datos page quotes no rejected value (issue 9, finding 6) and names its codes in the UI's language
(issue 11, item 17).

Two exports that go wrong the way real ones do are imported through the real importer: one in EPSG:3857
(web-mercator metres where degrees are expected: the rejection reason quotes both coordinates) and one whose
columns are shifted (the street address lands in the date column: the reason quotes the address). Then the
Datos page's callback and its CSV downloads are requested over HTTP as the public and as a logged-in
analyst: the public gets counts by reason kind and file names only; the analyst keeps the detail.
"""

from __future__ import annotations

import csv
import json
import re
import sys

import numpy as np
import pytest
from pyproj import Transformer

from observatory import auth, queries
from observatory.db.session import get_engine
from observatory.ingest.boundaries import import_boundaries
from observatory.ingest.incidents import ingest_incidents
from observatory.queries.access import REASON_KINDS, public_import_view, reason_kind
from observatory.web.i18n import CATALOGUE, fmt_number, t
from tests.conftest import FIXTURES
from tests.test_auth_analyst_page import login
from tests.test_callback_leaks import PASSWORD

HEADER = ["record_id", "occurred_date", "occurred_time", "category", "latitude", "longitude", "address"]
N_GOOD, N_MERCATOR, N_SHIFTED = 150, 50, 30
# Coordinates are required here, so a point in the wrong CRS rejects its row whatever the optional-field rule.
PROFILE = """kind = "incidents"
name = "city_test"
required = ["occurred_date", "category", "latitude", "longitude"]
[columns]
record_id = ["record_id"]
occurred_date = ["occurred_date"]
occurred_time = ["occurred_time"]
category = ["category"]
latitude = ["latitude"]
longitude = ["longitude"]
address = ["address"]
"""


def _points(rng, n):
    """Points inside the Centro fixture area (lon -99.145..-99.125, lat 19.425..19.445)."""
    return rng.uniform(-99.144, -99.126, n), rng.uniform(19.426, 19.444, n)


def _write(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(rows)


@pytest.fixture
def world(db_url, tmp_path):
    """The two exports imported (plus good rows) and the app; returns what the public must never see."""
    from observatory.web.app import create_app

    engine = get_engine(db_url)
    import_boundaries(FIXTURES / "incidents" / "barrios.geojson", layer="barrios", id_field="code",
                      name_field="name", population_field="population", engine=engine)
    profile = tmp_path / "city_test.toml"
    profile.write_text(PROFILE, encoding="utf-8")
    rng = np.random.default_rng(9)
    to_mercator = Transformer.from_crs(4326, 3857, always_xy=True)

    lon, lat = _points(rng, N_GOOD + N_MERCATOR)
    x, y = to_mercator.transform(lon[N_GOOD:], lat[N_GOOD:])
    good = [[f"G{i}", "2024-03-01", "10:00", "robbery_person", f"{lat[i]:.6f}", f"{lon[i]:.6f}", f"ZZOK {i}"]
            for i in range(N_GOOD)]
    mercator = [[f"M{i}", "2024-03-02", "11:00", "burglary", f"{y[i]:.2f}", f"{x[i]:.2f}", f"ZZMERC {i}"]
                for i in range(N_MERCATOR)]
    export_a = tmp_path / "export_3857.csv"
    _write(export_a, good + mercator)
    report_a = ingest_incidents(export_a, source_kind="police", profile=str(profile), engine=engine)

    lon, lat = _points(rng, N_GOOD)
    addresses = [f"Calle ZZSHIFT {i} Num. {100 + i}" for i in range(N_SHIFTED)]
    good = [[f"H{i}", "2024-04-01", "12:00", "vehicle_theft", f"{lat[i]:.6f}", f"{lon[i]:.6f}", "Av. ZZOK"]
            for i in range(N_GOOD)]
    # one column missing at the start of each row: the address is read as the date
    shifted = [[f"S{i}", addresses[i], "13:00", "homicide", f"{lat[i]:.6f}", f"{lon[i]:.6f}", ""]
               for i in range(N_SHIFTED)]
    export_b = tmp_path / "export_shifted.csv"
    _write(export_b, good + shifted)
    report_b = ingest_incidents(export_b, source_kind="complaint", profile=str(profile), engine=engine)

    auth.add_user("ana", PASSWORD, "analyst", engine=engine)
    app = create_app(db_url)
    secrets = [str(tmp_path), *addresses]
    # every coordinate the reasons quote, as its integer digits (however the text formats the decimals)
    secrets += [f"{v:.2f}".split(".")[0].lstrip("-") for v in (*x, *y)]
    yield {"app": app, "engine": engine, "reports": (report_a, report_b), "secrets": secrets,
           "files": (export_a.name, export_b.name), "folder": str(tmp_path)}


def page_callback(client, lang: str, headers: dict | None = None) -> str:
    state = {"lang": lang}
    outputs = ["data-history.children", "data-rejected.children", "data-unknown.children",
               "data-unassigned.children"]
    body = {"output": ".." + "...".join(outputs) + "..",
            "outputs": [{"id": o.split(".")[0], "property": "children"} for o in outputs],
            "inputs": [{"id": "view-state", "property": "data", "value": state}],
            "changedPropIds": ["view-state.data"]}
    resp = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=headers or {})
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return resp.get_data(as_text=True)


def download(client, download_id: str, headers: dict | None = None) -> str:
    body = {"output": f"{download_id}.data", "outputs": {"id": download_id, "property": "data"},
            "inputs": [{"id": f"{download_id}-btn", "property": "n_clicks", "value": 1}],
            "state": [{"id": "view-state", "property": "data", "value": {"lang": "es"}}],
            "changedPropIds": [f"{download_id}-btn.n_clicks"]}
    resp = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=headers or {})
    assert resp.status_code == 200
    return resp.get_json()["response"][download_id]["data"]["content"]


def cell_texts(payload: str) -> list[str]:
    """Every string of a Dash response (table cells, headers, notes)."""
    out: list[str] = []

    def walk(obj):
        if isinstance(obj, dict):
            for value in obj.values():
                walk(value)
        elif isinstance(obj, list):
            for value in obj:
                walk(value)
        elif isinstance(obj, str):
            out.append(obj)

    walk(json.loads(payload))
    return out


def test_the_exports_were_rejected_with_their_values_in_the_reasons(world):
    """The premise: what the importer stores (analysts' view) quotes coordinates and addresses."""
    report_a, report_b = world["reports"]
    assert (report_a.loaded, report_a.rejected) == (N_GOOD, N_MERCATOR)
    assert (report_b.loaded, report_b.rejected) == (N_GOOD, N_SHIFTED)
    detail = queries.rejected_rows(world["engine"], role="analyst")
    reasons = " ".join(detail["reason"])
    assert all(s in reasons for s in world["secrets"][1:])
    assert world["folder"] not in " ".join(detail["file_name"])  # file names only, for analysts too
    assert set(detail["reason_kind"]) == {"coordinates", "date"}


def test_public_datos_page_and_csv_quote_no_value(world):
    client = world["app"].server.test_client()
    for lang in ("es", "en"):
        payload = page_callback(client, lang)
        leaked = [s for s in world["secrets"] if s in payload]
        assert leaked == [], leaked[:5]
        texts = cell_texts(payload)
        # counts by reason kind, in the UI's language, numbers formatted; file names only
        assert t("data.reject.coordinates", lang) in texts and t("data.reject.date", lang) in texts
        assert fmt_number(N_MERCATOR, lang) in texts and fmt_number(N_SHIFTED, lang) in texts
        assert set(world["files"]) <= set(texts)
        assert t("filter.source.police", lang) in texts and t("filter.source.complaint", lang) in texts
        assert t("data.status.done", lang) in texts and "done" not in texts and "police" not in texts
        assert t("data.rejected.public_note", lang) in texts
        assert fmt_number(N_GOOD + N_MERCATOR, lang) in texts  # rows read, in the history
    for download_id in ("data-rejected-dl", "data-history-dl"):
        content = download(client, download_id)
        leaked = [s for s in world["secrets"] if s in content]
        assert leaked == [], (download_id, leaked[:5])
    rejected_csv = list(csv.DictReader(content_lines := download(client, "data-rejected-dl").splitlines()))
    assert content_lines[0] == "batch_id,file_name,reason_kind,rows"
    assert {(r["file_name"], r["reason_kind"], int(r["rows"])) for r in rejected_csv} == {
        (world["files"][0], "coordinates", N_MERCATOR), (world["files"][1], "date", N_SHIFTED)}
    history_csv = list(csv.DictReader(download(client, "data-history-dl").splitlines()))
    assert "user_name" not in history_csv[0] and {r["file_name"] for r in history_csv} >= set(world["files"])


def test_analyst_keeps_the_detail(world):
    client, headers = login(world["app"], "ana")
    payload = page_callback(client, "es", headers)
    texts = cell_texts(payload)
    addresses = [s for s in world["secrets"] if s.startswith("Calle ZZSHIFT")]
    assert all(any(a in text for text in texts) for a in addresses)  # the importer's sentence, as detail
    assert t("data.reject.date", "es") in texts and t("col.detail", "es") in texts
    assert world["folder"] not in payload  # never the server's folder
    content = download(client, "data-rejected-dl", headers)
    assert all(a in content for a in addresses) and "raw" in content.splitlines()[0]


def test_public_view_rule_on_its_own():
    import pandas as pd

    frame = pd.DataFrame({"batch_id": [2, 2, 1], "file_name": ["/tmp/u-1/a.csv", "/tmp/u-1/a.csv", "C:\\x\\b.csv"],
                          "row_number": [3, 4, 2], "field": ["latitude", "occurred_date", None],
                          "reason": ["coordinates out of range (longitude, latitude): (-1.1e7, 2.2e6)",
                                     "unreadable or impossible date in column fecha: 'Calle 5'",
                                     "too many fields: 9 instead of 8 (truncated line or unquoted delimiter)"],
                          "raw": [{"lat": "2.2e6"}, {"fecha": "Calle 5"}, {}]})
    public = public_import_view(frame, "public")
    assert public.to_dict("records") == [
        {"batch_id": 2, "file_name": "a.csv", "reason_kind": "coordinates", "rows": 1},
        {"batch_id": 2, "file_name": "a.csv", "reason_kind": "date", "rows": 1},
        {"batch_id": 1, "file_name": "b.csv", "reason_kind": "malformed_line", "rows": 1}]
    analyst = public_import_view(frame, "analyst")
    assert analyst["reason"].tolist() == frame["reason"].tolist() and analyst["raw"].tolist() == frame["raw"].tolist()
    assert analyst["file_name"].tolist() == ["a.csv", "a.csv", "b.csv"]
    history = pd.DataFrame({"id": [1], "file_name": ["/srv/x/c.csv"], "profile": ["/srv/p/city.toml"],
                            "status": ["done"], "user_name": ["ana"]})
    assert public_import_view(history, "public").to_dict("records") == [
        {"id": 1, "file_name": "c.csv", "profile": "city.toml", "status": "done"}]
    assert public_import_view(history, "admin")["user_name"].tolist() == ["ana"]
    assert reason_kind("victim_age", "age is not a number") == "age"
    assert reason_kind("record_id", "record id 7 already appears on line 3 with different values") == "repeated_id"
    assert reason_kind("category", "category is blank (column delito)") == "missing_value"
    assert reason_kind("code", "x.csv, row 9: no active area with code 'Q' in layer 'l'") == "area_not_found"
    for kind in REASON_KINDS:  # every kind has its name on the page, in both languages
        assert all(f"data.reject.{kind}" in CATALOGUE[lang] for lang in ("es", "en"))


def test_unassigned_reasons_and_kinds_are_named(world):
    datos = sys.modules["pages.datos"]
    for lang in ("es", "en"):
        frame = datos.unassigned(lang)
        if not frame.empty:
            assert not set(frame["where"]) & {"no_location", "outside_areas", "area_not_found"}
            assert set(frame["kind"]) <= {t("filter.source.police", lang), t("filter.source.complaint", lang)}
        history = datos.history(lang, "public")
        assert all(re.fullmatch(r"[\d.,\u00a0 ]+", v) for v in history["loaded"])
