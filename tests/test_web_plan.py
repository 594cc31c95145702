"""Overview plan panels (targets, intervention evaluation), the analyst link in the navbar and the
perception map's district fallback and title, on the demo city (built once for the module)."""

from __future__ import annotations

import datetime as dt
import json
import sys
from io import StringIO

import pandas as pd
import pytest

from observatory.web.i18n import CATALOGUE, fmt_number, t
from observatory.web.state import ViewState, replace_state
from tests.conftest import module_sqlite
from tests.test_auth_analyst_page import login
from tests.test_callback_leaks import PASSWORD

SEED = 2024
TODAY = dt.date(2026, 11, 23)  # fixed so the demo's period does not move with the calendar


@pytest.fixture(scope="module")
def demo_app(tmp_path_factory):
    """The demo city in a fresh SQLite database and the Dash app on it (cache off)."""
    from observatory import auth
    from observatory.db.session import get_engine
    from observatory.demo import build_demo
    from observatory.web.app import create_app

    folder = tmp_path_factory.mktemp("plan")
    with module_sqlite(folder) as url:
        engine = get_engine(url)
        summary = build_demo(engine, seed=SEED, out_dir=folder / "files", today=TODAY)
        auth.add_user("ana", PASSWORD, "analyst", engine=engine)
        yield {"app": create_app(url), "engine": engine, "summary": summary}


def page_module(name: str):
    return sys.modules[f"pages.{name}"]


def body_rows(div) -> list[list[str]]:
    """Cell texts of the rows of a ``components.table``."""
    tbody = div.children.children[1]
    return [[cell.children for cell in row.children] for row in tbody.children]


def test_targets_panel_shows_each_demo_target_with_its_progress(demo_app):
    from observatory import queries
    from observatory.queries import Filters
    from observatory.web import data

    stored = queries.targets(demo_app["engine"])
    progress = data.plan_targets("public")
    assert len(stored) == 2
    assert progress["indicator"].tolist() == stored["indicator"].tolist()
    assert set(progress["status"]) <= {"achieved", "on track", "off track"}
    # The public current value: the last complete calendar year of recorded incidents per 100,000
    # inhabitants (one period of the public grid; "the last 12 months" would widen to two years).
    last = queries.date_bounds(demo_app["engine"])[1]
    year = last.year if (last.month, last.day) == (12, 31) else last.year - 1
    population = data.areas()["population"].sum()
    for row in progress.itertuples(index=False):
        count = queries.total(demo_app["engine"], Filters(start=dt.date(year, 1, 1), end=dt.date(year, 12, 31),
                                                          categories=(row.category,)), "public")
        assert row.current_value == pytest.approx(count / population * 1e5)
        # analysts: the 365 days ending with the data, true counts
        analyst = data.plan_targets("analyst").set_index("indicator").loc[row.indicator, "current_value"]
        true = queries.total(demo_app["engine"], Filters(start=last - dt.timedelta(days=364), end=last,
                                                         categories=(row.category,)), "analyst")
        assert analyst == pytest.approx(true / population * 1e5)
        assert row.progress == pytest.approx((row.baseline_value - row.current_value)
                                             / (row.baseline_value - row.target_value))
    resumen = page_module("resumen")
    for lang in ("es", "en"):
        targets_table, _ = resumen.plan_tables(ViewState(lang=lang))
        rows = body_rows(targets_table)
        assert len(rows) == 2
        statuses = {t(f"target.status.{s}", lang) for s in ("achieved", "on track", "off track")}
        assert all(r[-1] in statuses for r in rows)
        assert {r[0] for r in rows} == {t("target.rate_per_100k", lang, category=name) for name in
                                        data.categories().set_index("code").loc[
                                            ["robbery_person", "homicide"], f"name_{lang}"]}


def test_demo_intervention_is_a_significant_drop(demo_app):
    from observatory.web import data

    results = data.intervention_results()
    assert len(results) == 1
    row = results.iloc[0]
    assert row["area_codes"] == ", ".join(demo_app["summary"]["intervention_codes"])
    assert row["verdict"] == "drop" and row["significant"]
    # The demo plants a 45% drop: the whole interval lies below 1 and covers about 0.55.
    assert row["rr_low"] < 0.55 < row["rr_high"] < 1
    assert row["months_before"] == 12 and row["months_after"] == 12
    resumen = page_module("resumen")
    for lang in ("es", "en"):
        _, interventions_table = resumen.plan_tables(ViewState(lang=lang))
        (cells,) = body_rows(interventions_table)
        assert cells[-1] == t("intervention.verdict.drop", lang)
        assert cells[3] == fmt_number(row["rr"], lang, 2) and ("," if lang == "es" else ".") in cells[3]


def test_verdict_words():
    from observatory.web.data import intervention_verdict

    assert intervention_verdict(0.6, True) == "drop"
    assert intervention_verdict(1.4, True) == "rise"
    assert intervention_verdict(0.6, False) == intervention_verdict(float("nan"), True) == "no_change"


def test_analysis_link_only_for_analysts_and_admins(demo_app):
    from observatory.web.components import navbar

    state = ViewState(lang="en", district="Distrito Centro")
    assert "nav-analysis" not in str(navbar("overview", state, "public"))
    for role in ("analyst", "admin"):
        bar = str(navbar("map", state, role))
        assert "nav-analysis" in bar and "/analista?" in bar and CATALOGUE["en"]["nav.analysis"] in bar
    # Through the server: the page layout callback renders the link for a logged-in analyst only.
    app = demo_app["app"]
    body = {"output": ".._pages_content.children..._pages_store.data..", "outputs": [
        {"id": "_pages_content", "property": "children"}, {"id": "_pages_store", "property": "data"}],
        "inputs": [{"id": "_pages_location", "property": "pathname", "value": "/"},
                   {"id": "_pages_location", "property": "search", "value": ""}], "state": [],
        "changedPropIds": ["_pages_location.pathname"]}

    def overview_text(client, headers=None) -> str:
        resp = client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                           headers=headers or {})
        assert resp.status_code == 200
        return resp.get_data(as_text=True)

    public = overview_text(app.server.test_client())
    assert "nav-login" in public and "nav-analysis" not in public
    client, headers = login(app, "ana")
    assert "nav-analysis" in overview_text(client, headers)


def test_perception_map_falls_back_to_districts(demo_app, monkeypatch):
    from observatory.web import data

    state = ViewState()
    by_area = data.fear_levels(state, "area")
    high = by_area[by_area["fear_level"] == "high"]
    assert high["unreliable"].mean() > data.UNRELIABLE_MAJORITY  # the demo's neighbourhood samples are small
    levels, level = data.fear_map_levels(state)
    gdf = data.areas()
    assert level == "district"
    assert set(levels["group"]) == set(gdf["district"].astype(str))
    assert not levels["unreliable"].any() and levels["n"].sum() == high["n"].sum()
    percepcion = page_module("percepcion")
    fig = percepcion.fear_map(state)
    hover = list(fig.data[0].text)
    assert len(hover) == len(gdf)
    assert all(h.startswith(f"<b>{d}</b>") for h, d in zip(hover, gdf["district"], strict=True))
    legend = [trace.name for trace in fig.data[1:]]
    assert t("perception.unreliable", "es") not in legend  # every district estimate is reliable
    note = percepcion.fear_map_note(ViewState(lang="en"))
    assert note is not None and note.children == t("perception.fear_map_district", "en")
    outputs = percepcion.perception_outputs(ViewState(lang="en"))
    assert outputs[5] is not None and outputs[5].children == note.children

    # An unreliable district estimate is still marked: its neighbourhoods get the grey class.
    flagged = levels.assign(unreliable=levels["group"] == levels["group"].iloc[0])
    monkeypatch.setattr(data, "fear_map_levels", lambda _state: (flagged, "district"))
    fig = percepcion.fear_map(state)
    z = pd.Series(list(fig.data[0].z))
    in_flagged = (gdf["district"].astype(str) == levels["group"].iloc[0]).to_numpy()
    assert t("perception.unreliable", "es") in [trace.name for trace in fig.data[1:]]
    assert (z[in_flagged] == z.max()).all() and (z[~in_flagged] < z.max()).all()


def find_component(node, ident: str):
    """The component with id ``ident`` in a Dash layout tree, or None."""
    if getattr(node, "id", None) == ident:
        return node
    children = getattr(node, "children", None)
    for child in children if isinstance(children, (list, tuple)) else [children]:
        if child is not None and not isinstance(child, (str, int, float)):
            found = find_component(child, ident)
            if found is not None:
                return found
    return None


def _expected_intervention(engine, filters):
    from observatory import queries
    from observatory.geo import build_weights
    from observatory.geo.weights import neighbour_dict
    from observatory.indicators.intervention import evaluate_intervention

    stored = queries.interventions(engine).iloc[0]
    # The default comparison group leaves out the treated areas' queen neighbours (displacement buffer).
    areas = queries.areas(engine).reset_index(drop=True)
    neighbours = neighbour_dict(build_weights(areas, "queen", transform="B"), areas["code"])
    return evaluate_intervention(queries.true_counts_by_area_month(engine, filters, "analyst"),
                                 list(stored.area_codes), stored.started_on, neighbours=neighbours).iloc[0]


@pytest.mark.parametrize(("state", "filters"), [
    (ViewState(categories=("robbery_person",)), {"categories": ("robbery_person",)}),
    (ViewState(source="police"), {"source_kinds": ("police",)}),
    (ViewState(categories=("theft_person",), sex="F"), {"categories": ("theft_person",), "sex": ("F",)}),
], ids=["category", "source", "category+sex"])
def test_intervention_panel_follows_the_crime_source_and_victim_filters(demo_app, state, filters):
    from observatory.queries import Filters
    from observatory.web import data

    expected = _expected_intervention(demo_app["engine"], Filters(**filters))
    # The analysts' panel evaluates the true counts (the public's, the published ones: issue 9).
    every = data.intervention_results(role="analyst").iloc[0]
    got = data.intervention_results(state, "analyst").iloc[0]
    assert got["rr"] == pytest.approx(expected["rr"]) and got["rr"] != pytest.approx(every["rr"])
    assert (got["rr_low"], got["rr_high"]) == pytest.approx((expected["rr_low"], expected["rr_high"]))
    resumen = page_module("resumen")
    _, interventions_table = resumen.plan_tables(state, "analyst")
    (cells,) = body_rows(interventions_table)
    assert cells[3] == fmt_number(got["rr"], "es", 2)
    # The CSV download (a public client here) is the public table on screen (same filters).
    payload = resumen._download_interventions(1, state.to_dict())
    shown = data.intervention_results(state, "public").iloc[0]
    assert pd.read_csv(StringIO(payload["content"]))["rr"].iloc[0] == pytest.approx(shown["rr"], nan_ok=True)
    assert resumen.interventions_notice(state) is None  # every filter chosen here applies


def test_intervention_panel_names_the_filters_it_does_not_apply(demo_app):
    from observatory.web import data

    resumen = page_module("resumen")
    both = ViewState(date_from="2025-01-01", date_to="2025-06-30", district="Distrito Centro")
    # The intervention's own start and areas define period and geography: the page's do not change it.
    pd.testing.assert_frame_equal(data.intervention_results(both), data.intervention_results())
    assert resumen.interventions_notice(ViewState()) is None
    for lang in ("es", "en"):
        period, district = t("filter.dates", lang).lower(), t("filter.district", lang).lower()
        note = resumen.interventions_notice(ViewState(lang=lang, date_from=both.date_from, district=both.district))
        assert note.children == t("overview.interventions_unapplied", lang, filters=f"{period}, {district}")
        only_district = resumen.interventions_notice(ViewState(lang=lang, district=both.district)).children
        assert district in only_district and period not in only_district.split(":")[1]
    # The overview callback fills the notice under the panel's title.
    outputs = resumen._update_overview(ViewState(lang="en", date_to="2025-06-30").to_dict())
    assert outputs[-1].children == t("overview.interventions_unapplied", "en", filters=t("filter.dates", "en").lower())
    layout = resumen.layout()
    assert find_component(layout, "overview-interventions-notice") is not None


def test_public_intervention_result_is_withheld_when_its_counts_are_small(demo_app):
    from observatory.config import suppression_threshold
    from observatory.queries import Filters
    from observatory.web import data

    state = ViewState(categories=("fraud",))
    counts = _expected_intervention(demo_app["engine"], Filters(categories=("fraud",)))
    assert counts[["treated_before", "treated_after"]].min() < suppression_threshold()  # a narrow filter
    analyst = data.intervention_results(state, "analyst").iloc[0]
    public = data.intervention_results(state, "public").iloc[0]
    assert analyst["rr"] == pytest.approx(counts["rr"]) and analyst["verdict"] != "withheld"
    # Ratio and interval would give the small counts back (Var log RR = 1/T0 + 1/T1 + ...): withheld.
    assert public["verdict"] == "withheld" and public[["rr", "rr_low", "rr_high", "p_value"]].isna().all()
    (cells,) = body_rows(page_module("resumen").plan_tables(replace_state(state, lang="en"), "public")[1])
    assert cells[-1] == t("intervention.verdict.withheld", "en")


def test_perception_map_title_names_the_level_it_is_drawn_at(demo_app, monkeypatch):
    from observatory.web import data

    percepcion = page_module("percepcion")
    assert t("perception.fear_map_by_district", "es") != t("perception.fear_map", "es")
    levels, level = data.fear_map_levels(ViewState())
    assert level == "district"  # the demo's neighbourhood samples are small
    for lang in ("es", "en"):
        title = t("perception.fear_map_by_district", lang)
        assert percepcion.perception_outputs(ViewState(lang=lang))[-1] == title
        assert find_component(percepcion.layout(lang=lang), "perception-map-title").children == title
    # Drawn by neighbourhood: the title says so (layout for the URL's view, callback after a filter change).
    monkeypatch.setattr(data, "fear_map_levels", lambda _state: (levels, "area"))
    for lang in ("es", "en"):
        title = t("perception.fear_map", lang)
        assert percepcion.perception_outputs(ViewState(lang=lang))[-1] == title
        assert find_component(percepcion.layout(lang=lang), "perception-map-title").children == title
