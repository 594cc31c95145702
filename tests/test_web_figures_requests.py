"""Issue 10: the data version is read once per request (a warm overview callback made 12 round
trips for it), measured with a counter on ``queries.data_version`` through the Dash endpoint."""

from __future__ import annotations

import json
import uuid

import pytest

from observatory.web.state import ViewState


@pytest.fixture(scope="module")
def cached_app(tmp_path_factory):
    """The seeded grid city and the app with its response cache ON (warm callbacks hit it)."""
    from browser.seed import build

    from observatory.db.session import get_engine, upgrade_to_head
    from observatory.web.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('requests') / f'req-{uuid.uuid4().hex[:6]}.db'}"
    upgrade_to_head(url)
    build(get_engine(url), nx=5, ny=4, incidents=3000)
    mp = pytest.MonkeyPatch()
    mp.delenv("OBSERVATORY_CACHE", raising=False)
    mp.delenv("OBSERVATORY_CACHE_DIR", raising=False)
    try:
        app = create_app(url)
        assert app.server.test_client().get("/_dash-dependencies").status_code == 200  # registers callbacks
        yield app
    finally:
        mp.undo()
        get_engine(url).dispose()


def callback_body(app, output_id: str, state: ViewState) -> dict:
    """The POST body of the callback whose outputs include ``output_id`` for ``state``."""
    key = next(k for k in app.callback_map if f"{output_id}." in k)
    spec = app.callback_map[key]
    items = [p for p in key.strip(".").split("...") if p]
    outputs = [dict(zip(("id", "property"), item.rsplit(".", 1), strict=True)) for item in items]
    inputs = [{"id": d["id"], "property": d["property"], "value": state.to_dict()} for d in spec["inputs"]]
    return {"output": key, "outputs": outputs if key.startswith("..") else outputs[0], "inputs": inputs,
            "state": [], "changedPropIds": [f"{inputs[0]['id']}.{inputs[0]['property']}"]}


@pytest.mark.parametrize("output_id", ["overview-kpis", "map-graph", "trends-monthly", "profile-kpis"])
def test_a_warm_callback_reads_the_data_version_once(cached_app, monkeypatch, output_id):
    from observatory import queries

    calls = []
    real = queries.data_version

    def counting(engine=None):
        calls.append(1)
        return real(engine)

    monkeypatch.setattr(queries, "data_version", counting)
    client = cached_app.server.test_client()
    body = callback_body(cached_app, output_id, ViewState(area="3", layer="gi"))
    first = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    assert first.status_code == 200, first.get_data(as_text=True)[:300]
    calls.clear()
    warm = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json")
    assert warm.status_code == 200
    assert json.loads(warm.get_data(as_text=True)) == json.loads(first.get_data(as_text=True))
    assert len(calls) == 1, f"{output_id}: {len(calls)} data_version() round trips in one warm request"


# --- defect 7: CompStat's % change compares per-day rates (year to date on 29 February) --------------


def test_compstat_year_to_date_on_29_february_is_per_day(db_url):
    from browser.seed import build
    from sqlalchemy import text

    from observatory.db.session import get_engine
    from observatory.web import data

    engine = get_engine(db_url)
    build(engine, nx=3, ny=3, incidents=4000, survey=False)
    data.configure(db_url)
    try:
        table = data.compstat(ViewState(date_to="2024-02-29"), "analyst").set_index("period")
    finally:
        data.configure(None)
    with engine.connect() as conn:
        def count(first: str, last: str) -> int:
            return int(conn.execute(text("SELECT COALESCE(SUM(count), 0) FROM incidents WHERE occurred_on "
                                         "BETWEEN :a AND :b"), {"a": first, "b": last}).scalar())

        current, previous = count("2024-01-01", "2024-02-29"), count("2023-01-01", "2023-02-28")
    ytd = table.loc["ytd"]
    assert (int(ytd["current"]), int(ytd["previous"])) == (current, previous)
    per_day = (current / 60 - previous / 59) / (previous / 59) * 100  # 60 days against 59
    assert ytd["pct_change"] == pytest.approx(per_day, rel=1e-12)
    assert abs(per_day - (current - previous) / previous * 100) > 1  # the raw-count figure was wrong


# --- defect 11 (page side): without population the pages say why rates are empty -------------------


def test_pages_say_why_rates_are_empty_without_population(db_url):
    import sys

    from browser.seed import build
    from sqlalchemy import text

    from observatory.db.session import get_engine
    from observatory.web import data
    from observatory.web.app import create_app
    from observatory.web.i18n import t
    from observatory.web.maps import map_figure

    engine = get_engine(db_url)
    build(engine, nx=3, ny=3, incidents=1500, survey=False)
    create_app(db_url)
    try:
        assert data.has_population()
        fig = map_figure(ViewState(layer="rates"), "public")
        assert not any(t("map.no_population", "es") in (a.text or "") for a in fig.layout.annotations)
        with engine.begin() as conn:  # a layer without population, like Mexico City's quadrants
            conn.execute(text("UPDATE neighbourhoods SET population = NULL"))
            conn.execute(text("UPDATE import_batches SET finished_at = finished_at"))
        data.configure(db_url)  # forget the memoised areas
        assert not data.has_population()
        for layer in ("rates", "smoothed"):
            fig = map_figure(ViewState(layer=layer), "public")
            assert any(t("map.no_population", "es") == a.text for a in fig.layout.annotations)
            assert "boundaries population" in t("map.no_population", "en")
        cards = sys.modules["pages.resumen"].kpi_cards(ViewState(), "public")
        assert t("kpi.no_population", "es") in str(cards)
        assert data.kpis(ViewState(), "public")["rate"] is None
    finally:
        data.configure(None)
