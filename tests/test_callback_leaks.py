"""A public client POSTing straight to the Dash callback endpoint gets nothing restricted.

The database holds real Mexico City police quadrants (two alcaldías) and synthetic incidents
whose addresses and descriptions carry marker strings, with victim attributes, sensitive
categories (rape, domestic violence) and many quadrants with fewer than k incidents. Every
server-side callback of the dashboard (enumerated from ``app.callback_map``) is called as a
public client with many view states (every map layer, sensitive categories, one quadrant,
one district, every page path) and its response must not contain:

- an incident's coordinates (any lat/lon pair within 15 m of an incident point),
- an address or description (the marker strings), victim attribute columns,
- a count below k for a single area (table rows keyed by area, or a counts choropleth),
- raw rejected rows (they hold addresses too),
- in a CSV download: an area row with a count below k, or a rate that is not the published count
  over the population (rate x population / 1e5 would give a withheld count back),
- for a selection with a sensitive category: any hotspot statistic (a Gi*, local Moran or
  emerging hot-spot class in hover text or CSV).

The same requests made by a logged-in analyst (with the CSRF header, as the browser sends
it) do return points and microdata, which shows the checks would catch a leak.
"""

from __future__ import annotations

import base64
import json
import re

import numpy as np
import pandas as pd
import pytest
import shapely

from observatory import auth
from observatory.config import suppression_threshold
from observatory.db.session import get_engine
from observatory.ingest.boundaries import import_boundaries
from observatory.ingest.incidents import ingest_incidents
from tests.conftest import module_sqlite, realdata

MARKERS = ("ZZADDR", "ZZDESC")
VICTIM_KEYS = ('"victim_sex"', '"victim_age"', '"victim_age_group"')
AREA_KEYS = ("code", "area", "area_code", "neighbourhood", "neighbourhood_code", "cuadrante", "barrio")
COUNT_KEYS = ("count", "n", "incidents", "total", "value")
DISTRICTS = ("BENITO JUAREZ", "IZTACALCO")
COLON_NUMBER = re.compile(r"(?<!Tasa):\s*(\d+)(?![\d.,])")
PASSWORD = "leak test password"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """(app, incidents frame, area codes) on a fresh SQLite database; k is the default 5."""
    import geopandas as gpd

    folder = tmp_path_factory.mktemp("leaks")
    with module_sqlite(folder) as url:
        engine = get_engine(url)

        quadrants = gpd.read_file(realdata("cdmx", "cuadrantes.geojson"))
        quadrants = quadrants[quadrants["alcaldia"].isin(DISTRICTS)].reset_index(drop=True)
        layer_file = folder / "cuadrantes.geojson"
        quadrants.to_file(layer_file, driver="GeoJSON")
        import_boundaries(layer_file, layer="cuadrantes", id_field="cuadrante", name_field="cuadrante",
                          district_field="alcaldia", engine=engine)

        rng = np.random.default_rng(5)
        cats = ["robbery_person", "theft_person", "vehicle_theft", "assault", "rape", "domestic_violence", "homicide"]
        rows = []
        for i, geom in enumerate(quadrants.geometry):
            n = int(rng.integers(0, 9)) if i % 3 else int(rng.integers(1, 4))  # many areas below k
            rep = geom.representative_point()
            minx, miny, maxx, maxy = geom.bounds
            for _ in range(n):
                # Inside the quadrant but at least 50 m from the point the public heat layer uses.
                for _try in range(500):
                    point = shapely.Point(rng.uniform(minx, maxx), rng.uniform(miny, maxy))
                    far = np.hypot((point.x - rep.x) * 105_000, (point.y - rep.y) * 111_000) > 50
                    if far and geom.contains(point):
                        break
                else:
                    continue
                j = len(rows)
                rows.append({
                    "record_id": f"L{j}",
                    "occurred_date": f"2024-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 28)):02d}",
                    "occurred_time": f"{int(rng.integers(0, 24)):02d}:{int(rng.integers(0, 60)):02d}",
                    "category": cats[int(rng.integers(0, len(cats)))], "latitude": round(point.y, 6),
                    "longitude": round(point.x, 6), "neighbourhood_code": "", "neighbourhood_name": "",
                    "victim_sex": "FM"[j % 2], "victim_age": str(18 + j % 60), "count": 1,
                    "address": f"ZZADDR-{j} Calle", "description": f"ZZDESC-{j} relato",
                    "quadrant": quadrants.loc[i, "cuadrante"],
                })
        incidents = pd.DataFrame(rows)
        bad = dict(rows[0], record_id="BAD1", occurred_date="not a date", address="ZZADDR-REJECTED")
        pd.concat([incidents, pd.DataFrame([bad])]).drop(columns="quadrant").to_csv(folder / "incidents.csv",
                                                                                     index=False)
        report = ingest_incidents(folder / "incidents.csv", source_kind="police", profile="generic_incidents",
                                  engine=engine)
        assert report.rejected == 1 and report.loaded == len(incidents)
        auth.add_user("ana", PASSWORD, "analyst", engine=engine)

        from observatory.web.app import create_app

        app = create_app(url)
        app.server.config["TESTING"] = True
        client = app.server.test_client()
        assert client.get("/_dash-dependencies").status_code == 200  # registers the callbacks
        yield app, incidents, list(quadrants["cuadrante"])


# --- building requests ------------------------------------------------------------------------------


def view_states(area: str) -> list[dict]:
    from observatory.web.state import MAP_LAYERS, ViewState

    base = ViewState().to_dict()
    states = [dict(base, layer=layer) for layer in MAP_LAYERS]
    states += [dict(base, layer="points", categories=["rape", "domestic_violence"]),
               dict(base, layer="counts", categories=["rape"]),
               dict(base, layer="points", area=area),
               dict(base, area=area, categories=["domestic_violence"]),
               dict(base, district=DISTRICTS[1], layer="points"),
               dict(base, sex="F", age="18-29", layer="counts"),
               dict(base, date_from="2024-03-01", date_to="2024-03-31", layer="points")]
    # Issue 9: hotspot statistics of sensitive categories on one-day windows, rates of small areas.
    states += [dict(base, layer=layer, categories=["rape"], date_from="2024-05-10", date_to="2024-05-10")
               for layer in ("gi", "moran", "emerging", "density")]
    states += [dict(base, layer="rates", categories=["domestic_violence", "assault"]),
               dict(base, layer="smoothed", district=DISTRICTS[0], sex="F", age="0-17")]
    return states


def value_for(dep: dict, state: dict, area: str, path: str) -> object:
    ident, prop = dep["id"], dep["property"]
    if prop == "data" and ident == "view-state":
        return state
    if prop in ("n_clicks", "n_submit"):
        return 1
    if prop == "clickData":
        return {"points": [{"location": area, "customdata": [area], "text": area}]}
    if prop == "pathname":
        return path
    if prop == "search":
        return "?layer=points&cat=rape&area=" + area
    if prop in ("start_date", "end_date"):
        return None
    if prop == "is_open":
        return False
    return None


def expand(dep: dict, value: object) -> dict | list:
    """One dependency of the request body (pattern-matching ALL ids give a list)."""
    ident = dep["id"]
    if isinstance(ident, str) and ident.startswith("{"):
        parsed = json.loads(ident)
        if any(v == ["ALL"] for v in parsed.values()):
            concrete = {k: ("layer" if v == ["ALL"] else v) for k, v in parsed.items()}
            if dep["property"] == "id":
                return [{"id": concrete, "property": "id", "value": concrete}]
            return [{"id": concrete, "property": dep["property"], "value": "points"}]
        return {"id": parsed, "property": dep["property"], "value": value}
    return {"id": ident, "property": dep["property"], "value": value}


def outputs_of(key: str, spec: dict) -> list[dict] | dict:
    parts = key
    if parts.startswith(".."):
        items = [p for p in parts.strip(".").split("...") if p]
        outs = [dict(zip(("id", "property"), item.rsplit(".", 1), strict=True)) for item in items]
        return outs
    ident, prop = parts.rsplit(".", 1)
    return {"id": ident, "property": prop}


def requests_for(app, area: str) -> list[tuple[str, dict]]:
    paths = sorted({page["path"] for page in __import__("dash").page_registry.values()} | {"/"})
    out = []
    for key, spec in app.callback_map.items():
        if "callback" not in spec or spec.get("clientside_function"):
            continue
        if "{" in key:  # pattern-matching outputs are not used by the dashboard's data callbacks
            continue
        uses_state = any(d["id"] == "view-state" for d in spec["inputs"] + spec["state"])
        uses_path = any(d["property"] == "pathname" for d in spec["inputs"] + spec["state"])
        states = view_states(area) if uses_state else [None]
        paths_here = paths if uses_path else ["/"]
        for state in states:
            for path in paths_here:
                body = {
                    "output": key,
                    "outputs": outputs_of(key, spec),
                    "inputs": [expand(d, value_for(d, state, area, path)) for d in spec["inputs"]],
                    "state": [expand(d, value_for(d, state, area, path)) for d in spec["state"]],
                    "changedPropIds": [f"{d['id']}.{d['property']}" for d in spec["inputs"]][:1],
                }
                out.append((key, body))
    return out


# --- detecting leaks --------------------------------------------------------------------------------


def walk(obj):
    if isinstance(obj, dict):
        yield obj
        for value in obj.values():
            yield from walk(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from walk(value)


def numbers(value: object) -> list | None:
    """A list of numbers from a JSON array or a Plotly typed array (``{"dtype", "bdata"}``)."""
    if isinstance(value, list):
        return value
    if isinstance(value, dict) and "bdata" in value and "dtype" in value:
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"])).astype(float).tolist()
    return None


def point_pairs(payload: object) -> list[tuple[float, float]]:
    pairs = []
    for node in walk(payload):
        lat, lon = numbers(node.get("lat")), numbers(node.get("lon"))
        if isinstance(lat, list) and isinstance(lon, list):
            for a, b in zip(lat, lon, strict=False):
                if isinstance(a, int | float) and isinstance(b, int | float):
                    pairs.append((float(a), float(b)))
    return pairs


def small_area_counts(payload: object, k: int) -> list[dict]:
    found = []
    for node in walk(payload):
        if any(key in node for key in AREA_KEYS):
            for key in COUNT_KEYS:
                value = node.get(key)
                if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < k \
                        and float(value).is_integer():
                    found.append(node)
    return found


SENSITIVE = ("rape", "domestic_violence", "sexual_assault", "other_sexual")
HOTSPOT_CLASSES = ("hot 99%", "hot 95%", "hot 90%", "cold 90%", "cold 95%", "cold 99%", "high-high", "low-low",
                   "high-low", "low-high")


def hotspot_labels() -> list[str]:
    """Every translated Gi*, local Moran and emerging hot-spot class a page may show (not "ns")."""
    from observatory.web.i18n import CATALOGUE

    keys = [f"gi.{c}" for c in ("hot99", "hot95", "hot90", "cold90", "cold95", "cold99")]
    keys += [f"moran.{c}" for c in ("HH", "LL", "HL", "LH")]
    keys += [f"emerging.{c}" for c in ("new", "intensifying", "persistent", "diminishing", "sporadic")]
    return [CATALOGUE[lang][key] for lang in ("es", "en") for key in keys]


def csv_frames(payload: object) -> list[pd.DataFrame]:
    """The CSV files of ``dcc.Download`` payloads in a callback response."""
    import io

    return [pd.read_csv(io.StringIO(node["content"]), dtype={"code": str}) for node in walk(payload)
            if isinstance(node.get("content"), str) and str(node.get("filename", "")).endswith(".csv")
            and node["content"].strip()]


def csv_leaks(frame: pd.DataFrame, k: int, sensitive: bool) -> list[str]:
    problems = []
    count = pd.to_numeric(frame["count"], errors="coerce") if "count" in frame else None
    if count is not None and any(key in frame for key in AREA_KEYS):
        if ((count > 0) & (count < k)).any():
            problems.append("CSV area count below k")
    if count is not None and {"rate", "population"} <= set(frame.columns):
        implied = pd.to_numeric(frame["rate"], errors="coerce") * pd.to_numeric(frame["population"],
                                                                                errors="coerce") / 1e5
        if (implied.notna() & (count.isna() | ((implied - count).abs() > 1e-6))).any():
            problems.append("CSV rate is not the published count per population")
    for column in ("gi_class", "moran"):
        if sensitive and column in frame and frame[column].isin(HOTSPOT_CLASSES).any():
            problems.append(f"CSV {column} for a sensitive category")
    return problems


def figure_text_leaks(payload: object, sensitive: bool) -> list[str]:
    """Hotspot classes in hover texts and legend entries of a figure for a sensitive category."""
    if not sensitive:
        return []
    shown = [str(v) for node in walk(payload) for v in [*(node.get("text") or [] if isinstance(
        node.get("text"), list) else [node.get("text")]), node.get("name")] if v]
    return [f"hotspot class {label!r} for a sensitive category" for label in hotspot_labels()
            if any(label in v for v in shown)]


def point_leaks(payload: object, incidents: pd.DataFrame) -> list[str]:
    pts = np.array(point_pairs(payload))
    if not len(pts):
        return []
    inc = incidents[["latitude", "longitude"]].to_numpy(dtype=float)
    # 15 m: a displayed point this close to a real incident is that incident.
    d_lat = np.abs(pts[:, None, 0] - inc[None, :, 0]) * 111_000
    d_lon = np.abs(pts[:, None, 1] - inc[None, :, 1]) * 105_000
    close = (np.hypot(d_lat, d_lon) < 15).any(axis=1)
    return [f"{int(close.sum())} incident point(s)"] if close.any() else []


def choropleth_leaks(node: dict, incidents: pd.DataFrame, k: int, state: dict | None) -> list[str]:
    """A choropleth whose z equals the true count of nearly every small area publishes those counts
    (class maps carry class indices in z, which do not match counts this way)."""
    z = numbers(node.get("z")) or []
    if not (state and state == default_state() and isinstance(node.get("locations"), list) and len(z)):
        return []
    true = incidents.groupby("quadrant").size()
    small = {code: n for code, n in true.items() if 0 < n < k}
    shown = dict(zip(node["locations"], z, strict=False))
    matches = [code for code, n in small.items() if code in shown and shown[code] == n]
    if len(small) >= 5 and len(matches) >= 0.8 * len(small):
        return [f"choropleth z equals the counts of {len(matches)} areas below k"]
    return []


def hover_count_leaks(node: dict, k: int, state: dict | None) -> list[str]:
    """Hover text like "<b>N-2.1.3</b><br>Delitos: 3": a whole number after a colon below k."""
    if not (state and state.get("layer") == "counts"):
        return []
    return [f"hover text with a count below k: {label!r}" for label in node.get("text") or []
            for number in COLON_NUMBER.findall(str(label)) if 0 < int(number) < k]


def leaks(text: str, incidents: pd.DataFrame, k: int, state: dict | None) -> list[str]:
    problems = [f"marker {m}" for m in MARKERS if m in text]
    sensitive = bool(state) and bool(set(state.get("categories") or ()) & set(SENSITIVE))
    problems += [f"victim column {v}" for v in VICTIM_KEYS if v in text]
    try:
        payload = json.loads(text)
    except ValueError:
        return problems
    for frame in csv_frames(payload):
        problems += csv_leaks(frame, k, sensitive)
    problems += figure_text_leaks(payload, sensitive)
    problems += point_leaks(payload, incidents)
    rows = small_area_counts(payload, k)
    if rows:
        problems.append(f"area count below k: {rows[0]}")
    for node in walk(payload):
        if node.get("type") == "choroplethmap":
            problems += choropleth_leaks(node, incidents, k, state)
            problems += hover_count_leaks(node, k, state)
    return problems


def default_state() -> dict:
    from observatory.web.state import ViewState

    return ViewState().to_dict()


def post(client, body: dict, headers: dict | None = None):
    return client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                       headers=headers or {})


# --- the tests --------------------------------------------------------------------------------------


def test_every_public_callback_is_leak_free(world):
    app, incidents, areas = world
    k = suppression_threshold()
    client = app.server.test_client()
    small_area = areas[0]  # one incident at most (i % 3 == 0 -> 1..3 incidents)
    requests = requests_for(app, small_area)
    keys = {key for key, _ in requests}
    assert len(keys) >= 10, f"only {len(keys)} callbacks found: {sorted(keys)}"
    failures = []
    for key, body in requests:
        resp = post(client, body)
        if resp.status_code == 204:  # PreventUpdate
            continue
        assert resp.status_code < 500, f"{key} failed for the public: {resp.status_code} {resp.get_data(True)[:300]}"
        state = next((d["value"] for d in body["inputs"] + body["state"] if isinstance(d, dict)
                      and d.get("id") == "view-state"), None)
        found = leaks(resp.get_data(as_text=True), incidents, k, state)
        if found:
            failures.append(f"{key} {json.dumps(state)[:160]}: {found}")
    assert not failures, "public callbacks leak:\n" + "\n".join(failures[:20])


def test_forged_role_fields_do_not_help(world):
    app, incidents, areas = world
    client = app.server.test_client()
    with client.session_transaction() as sess:  # a tampered cookie cannot be made without the key,
        sess["role"] = "analyst"  # but even a session saying "role" grants nothing without a login
        sess["uid"] = 999_999
        sess["fp"] = "0" * 16
    bodies = [b for key, b in requests_for(app, areas[0]) if "map" in key]
    assert bodies
    for body in bodies:
        resp = post(client, body, {"X-CSRFToken": "whatever"})
        assert not leaks(resp.get_data(as_text=True), incidents, suppression_threshold(), None)


def test_the_detector_sees_what_an_analyst_gets(world):
    """Positive control: the same requests as a logged-in analyst do return restricted data."""
    app, incidents, areas = world
    client = app.server.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert client.post("/login", data={"csrf_token": token, "username": "ana", "password": PASSWORD}).status_code == 303
    header = {"X-CSRFToken": client.get_cookie("_csrf_token").value}
    seen: set[str] = set()
    for _key, body in [(key, b) for key, b in requests_for(app, areas[0]) if "map" in key]:
        resp = post(client, body, header)
        if resp.status_code == 200:
            seen.update(p.split(" ", 1)[-1] for p in leaks(resp.get_data(as_text=True), incidents, 5, None))
    assert any("incident point" in s for s in seen), f"analysts should see points; saw {seen}"


def test_the_detector_flags_small_counts_in_maps_and_tables(world):
    """The count checks themselves: a figure or table publishing small-area counts is caught."""
    _, incidents, _ = world
    true = incidents.groupby("quadrant").size()
    fig = {"data": [{"type": "choroplethmap", "locations": list(true.index), "z": [int(v) for v in true]}]}
    assert any("equals the counts" in p for p in leaks(json.dumps(fig), incidents, 5, default_state()))
    small = true[true < 5].index[0]
    hover = {"data": [{"type": "choroplethmap", "text": [f"<b>{small}</b><br>Delitos: {int(true[small])}"]}]}
    assert leaks(json.dumps(hover), incidents, 5, default_state())
    rows = {"rowData": [{"code": small, "count": int(true[small])}]}
    assert leaks(json.dumps(rows), incidents, 5, None)
    assert not leaks(json.dumps({"rowData": [{"code": small, "count": None, "suppressed": True}]}), incidents, 5, None)


def test_the_detector_flags_csv_counts_rates_and_sensitive_hotspots(world):
    """The issue 9 checks themselves: a CSV with a small area count, a rate from a true count or a
    hotspot class of a sensitive category is caught; the published forms are not."""
    _, incidents, areas = world

    def download(rows: list[dict]) -> str:
        return json.dumps({"response": {"map-dl": {"data": {"content": pd.DataFrame(rows).to_csv(index=False),
                                                             "filename": "map_rates.csv"}}}})

    code = areas[0]
    rape = dict(default_state(), categories=["rape"])
    assert leaks(download([{"code": code, "count": 3}]), incidents, 5, None)
    # 7 published, 9 true: the rate of the true count gives the 2 withheld incidents back.
    assert leaks(download([{"code": code, "count": 7, "population": 10_000, "rate": 90.0}]), incidents, 5, None)
    assert leaks(download([{"code": code, "count": None, "population": 10_000, "rate": 30.0}]), incidents, 5, None)
    assert leaks(download([{"code": code, "count": None, "gi_class": "hot 99%"}]), incidents, 5, rape)
    assert leaks(json.dumps({"text": ["<b>x</b><br>Clase: Punto caliente 99%"]}), incidents, 5, rape)
    clean = [{"code": code, "count": 7, "population": 10_000, "rate": 70.0, "gi_class": "withheld"},
             {"code": code, "count": None, "population": 10_000, "rate": None, "gi_class": "withheld"}]
    assert not leaks(download(clean), incidents, 5, rape)
