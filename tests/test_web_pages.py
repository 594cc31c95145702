"""Page layouts and callback functions called directly on a seeded database.

The database is written by ``tests/browser/seed.py`` (a grid city with a planted hotspot and
two survey waves), so these tests do not depend on the importers. The browser tests in
``tests/browser`` drive the same pages in Chromium.
"""

from __future__ import annotations

import re
import sys
import uuid

import pandas as pd
import plotly.graph_objects as go
import pytest

from observatory.web.i18n import CATALOGUE
from observatory.web.state import ViewState

PAGES = ("overview", "map", "trends", "perception", "neighbourhood", "data")
MODULES = {"overview": "resumen", "map": "mapa", "trends": "tendencias", "perception": "percepcion",
           "neighbourhood": "barrio", "data": "datos"}
KEY_PATTERN = re.compile(r"^(app|nav|filter|kpi|map|trends|perception|neighbourhood|data|level|gi|moran|col|period|"
                         r"overview|target|intervention|"
                         r"weekday|def|unit|survey|emerging|sex|role|download)\.[A-Za-z0-9_.]+$")


@pytest.fixture(scope="module")
def seeded(tmp_path_factory):
    """A seeded SQLite database and the Dash app built on it (once per module)."""
    from browser.seed import build

    from observatory.db.session import get_engine, upgrade_to_head

    url = f"sqlite:///{tmp_path_factory.mktemp('web') / f'web-{uuid.uuid4().hex[:6]}.db'}"
    upgrade_to_head(url)
    summary = build(get_engine(url), nx=6, ny=5, incidents=6000)
    from observatory.web.app import create_app

    app = create_app(url)
    yield {"url": url, "app": app, "summary": summary}
    get_engine(url).dispose()


def page_module(page: str):
    return sys.modules[f"pages.{MODULES[page]}"]


# Keys whose values hold visible text, and keys whose values never do (geometry, styling, ids).
TEXT_KEYS = ("children", "props", "label", "placeholder", "name", "text", "options", "title", "annotations",
             "data", "layout", "legend", "xaxis", "yaxis", "y")
SKIPPED_KEYS = ("geojson", "customdata", "locations", "z", "x", "lon", "lat", "hovertemplate", "id",
                "style", "config", "colorscale", "marker", "line", "map")


def _as_plain(node):
    """A Plotly figure or Dash component as its JSON-like dict; anything else unchanged."""
    if isinstance(node, go.Figure):
        node = node.to_plotly_json()
    return node.to_plotly_json() if hasattr(node, "to_plotly_json") else node


def strings_of(node) -> list[str]:
    """Every visible string of a Dash component tree or Plotly figure (text, names, labels)."""
    if isinstance(node, str):
        return [node]
    node = _as_plain(node)
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if (key in TEXT_KEYS or isinstance(value, (dict, list))) and key not in SKIPPED_KEYS:
                out.extend(strings_of(value))
    elif isinstance(node, (list, tuple)):
        for item in node:
            out.extend(strings_of(item))
    return [s for s in out if isinstance(s, str)]


def render(page: str, state: ViewState) -> list[str]:
    """All strings of a page: its layout plus every output of its main callback."""
    module = page_module(page)
    from observatory.web.maps import map_figure

    query = dict(pair.split("=", 1) for pair in (state_query(state) or "?").lstrip("?").split("&") if "=" in pair)
    found = strings_of(module.layout(**query))
    outputs = {
        "overview": lambda: module._update_overview(state.to_dict()),
        "map": lambda: [map_figure(state)],
        "trends": lambda: module.trends_figures(state),
        "perception": lambda: module.perception_outputs(state),
        "neighbourhood": lambda: module.profile_outputs(state),
        "data": lambda: module._update_data(state.to_dict()),
    }[page]()
    for output in outputs:
        found.extend(strings_of(output))
    return found


def state_query(state: ViewState) -> str:
    from observatory.web.state import to_query

    return to_query(state)


@pytest.mark.parametrize("lang", ["es", "en"])
@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_translated(seeded, page, lang):
    other = "en" if lang == "es" else "es"
    foreign = {v for k, v in CATALOGUE[other].items() if v != CATALOGUE[lang][k] and len(v) > 3}
    own = set(CATALOGUE[lang].values())
    state = ViewState(lang=lang, area="1" if page == "neighbourhood" else None)
    texts = render(page, state)
    assert texts, page
    leaked = [s for s in texts if KEY_PATTERN.match(s.strip())]
    assert not leaked, f"catalogue keys shown on {page}/{lang}: {leaked[:5]}"
    untranslated = sorted({s for s in texts if s in foreign and s not in own})
    assert not untranslated, f"{other} strings on the {lang} {page} page: {untranslated[:5]}"
    assert CATALOGUE[lang]["app.title"] in texts


@pytest.mark.parametrize("layer", ["counts", "rates", "smoothed", "gi", "moran", "emerging", "density", "points"])
def test_every_map_layer_draws_offline(seeded, layer):
    from observatory.web import data
    from observatory.web.maps import map_figure

    # A hotspot statistic the public may not get (issue 9) is a notice; analysts still get the layer.
    withheld = data.hotspots_withheld(ViewState(layer=layer))
    if withheld:
        assert map_figure(ViewState(layer=layer)).layout.annotations[0].text
    fig = map_figure(ViewState(layer=layer), "analyst" if withheld else "public")
    assert fig.layout.map.style == "white-bg"
    types = {trace.type for trace in fig.data}
    assert types and types <= {"choroplethmap", "scattermap", "densitymap"}


def test_hotspot_map_marks_the_planted_corner(seeded):
    from observatory.web import data

    stats = data.area_stats(ViewState())
    hot = stats[stats["gi_class"] == "hot 99%"]["code"]
    assert set(seeded["summary"]["hotspots"]) <= set(hot)
    assert len(hot) < len(stats) / 2


def test_changing_a_filter_changes_the_map_and_the_series(seeded):
    from observatory.web import data
    from observatory.web.maps import map_figure

    everything, robbery = ViewState(), ViewState(categories=("robbery_person",))
    all_counts = data.area_stats(everything)["count"].sum()
    robbery_counts = data.area_stats(robbery)["count"].sum()
    assert 0 < robbery_counts < all_counts
    hover_all = list(map_figure(everything).data[0].text)
    hover_robbery = list(map_figure(robbery).data[0].text)
    assert hover_all != hover_robbery
    from observatory import queries

    # True totals for analysts; the public's are perturbed (issue 9), so compared as analyst here.
    total = queries.total(data.engine(), data.to_filters(everything), "analyst")
    assert data.monthly(everything, "analyst")["count"].sum() == total == seeded["summary"]["incidents"]
    assert data.monthly(robbery, "analyst")["count"].sum() == data.area_stats(robbery, "analyst")["count"].sum()


def test_downloads_equal_the_query_behind_them(seeded):
    from io import StringIO

    from observatory import queries
    from observatory.web import data

    state = ViewState(categories=("s04",), source="police")
    trends = page_module("trends")
    payload = trends._download_monthly(1, state.to_dict())
    got = pd.read_csv(StringIO(payload["content"]))
    expected = queries.counts_by_month(data.engine(), data.to_filters(state), "public")
    assert got["count"].tolist() == expected["count"].tolist()
    assert payload["filename"].endswith(".csv")
    mapped = page_module("map")._download_map(1, state.to_dict())
    got = pd.read_csv(StringIO(mapped["content"]))
    areas = queries.counts_by_area(data.engine(), data.to_filters(state), "public").set_index("code")["count"]
    assert got.set_index("code")["count"].to_dict() == areas.to_dict()


def test_public_view_never_gets_points_or_small_counts(seeded):
    from observatory.web import data

    assert data.points(ViewState(), "public").empty
    assert not data.points(ViewState(), "analyst").empty
    # One month, one category, one sex: most areas fall below k and are masked.
    narrow = ViewState(date_from="2024-06-01", date_to="2024-06-30", categories=("homicide",), sex="F")
    stats = data.area_stats(narrow, "public")
    assert stats["count"].isna().any()
    assert (stats["count"].dropna() >= 5).all()
    from observatory.web.maps import map_figure

    hover = " ".join(map_figure(narrow).data[0].text)
    assert "< 5" in hover
    # Rates would give the suppressed counts back (rate x population): withheld too.
    assert stats.loc[stats["count"].isna(), ["rate", "smoothed"]].isna().all().all()
    table = page_module("map").map_table(narrow, "public")
    assert "gi_z" not in table.columns and table["rate"].notna().sum() == stats["count"].notna().sum()


def test_map_click_opens_the_profile(seeded):
    from observatory.web.maps import click_target

    state = ViewState(lang="en", layer="gi")
    href = click_target({"points": [{"location": "7"}]}, state)
    assert href.startswith("/barrio?") and "area=7" in href and "lang=en" in href
    assert click_target(None, state) is None and click_target({"points": []}, state) is None


def test_presentation_mode_enlarges_and_hides_chrome(seeded):
    module = page_module("map")
    normal = module.layout()
    present = module.layout(present="1")
    assert "present" in present.className and "present" not in normal.className
    from observatory.web.maps import map_figure

    assert map_figure(ViewState(present=True, layer="gi")).layout.font.size > map_figure(
        ViewState(layer="gi")).layout.font.size


def test_synthetic_banner_follows_the_demo_marker(seeded):
    from observatory.web import data

    module = page_module("overview")
    assert data.is_demo() is False
    assert "synthetic-banner" not in str(module.layout())


def test_cache_is_invalidated_by_a_new_import(seeded):
    import datetime as dt

    from sqlalchemy import insert

    from observatory.db.models import ImportBatch
    from observatory.web import data

    before = data.version()
    with data.engine().begin() as conn:
        conn.execute(insert(ImportBatch).values(file_name="x.csv", sha256="0" * 64, source_kind="police",
                                                profile="p", started_at=dt.datetime(2024, 7, 1),
                                                finished_at=dt.datetime(2024, 7, 1), status="done"))
    assert data.version() != before


def test_pages_work_on_postgresql_too(db_url):
    """The same data functions on a fresh database of each backend (seeded small)."""
    from browser.seed import build

    from observatory.db.session import get_engine
    from observatory.web import data

    build(get_engine(db_url), nx=4, ny=3, incidents=800, survey=True)
    data.configure(db_url)
    try:
        stats = data.area_stats(ViewState())
        assert len(stats) == 12 and stats["count"].sum() > 0
        assert not data.monthly(ViewState()).empty
        assert not data.fear_shares(ViewState(), "wave").empty
        assert not data.compstat(ViewState()).empty
    finally:
        data.configure(None)


@pytest.mark.parametrize("role", ["public", "analyst"])
def test_shared_aggregates_give_what_the_separate_queries_give(seeded, role):
    """Inside one callback's scope the panels share aggregates (area totals, the month x
    category table, the CompStat windows); every figure equals the separate queries'."""
    import datetime as dt

    from observatory import queries
    from observatory.indicators.compstat import compstat as compstat_table
    from observatory.web import data

    data.configure(seeded["url"])
    eng = data.engine()
    for state in (ViewState(), ViewState(date_from="2023-03-10", date_to="2024-01-05", sex="F"),
                  ViewState(categories=("robbery_person",), source="police", area="3")):
        filters = data.to_filters(state)
        with data.shared_scope():
            kpis, stats = data.kpis(state, role), data.area_stats(state, role)
            monthly, by_cat = data.monthly(state, role), data.category_month(state, role)
            area_month, area_cats, cs = (data.area_monthly(state, role), data.area_categories(state, role),
                                         data.compstat(state, role))
        assert kpis["total"] == queries.total(eng, filters, role)
        shown = queries.counts_by_area(eng, filters, role).set_index("neighbourhood_id")["count"]
        assert stats.set_index("id")["count"].equals(shown.reindex(stats["id"]).rename_axis("id"))
        separate = queries.counts_by_month(eng, filters, role)
        assert monthly["month"].tolist() == separate["month"].tolist()
        assert monthly["count"].tolist() == separate["count"].astype(float).tolist()
        pd.testing.assert_frame_equal(
            by_cat, queries.counts_by_month(eng, filters, role, by_category=True)[["month", "category", "count"]])
        if state.area:  # the profile's city figures
            assert len(area_month) and len(area_cats)
            assert area_month["city_count"].tolist() == separate["count"].tolist()
            city = queries.counts_by_category(eng, filters, role)
            shares = (pd.to_numeric(city["count"]) / pd.to_numeric(city["count"]).sum()).tolist()
            city = city.assign(share=shares)
            city = city[city["code"].isin(area_cats["code"])]
            assert area_cats["code"].tolist() == city["code"].tolist()
            assert area_cats["city_share"].tolist() == pytest.approx(city["share"].tolist())
        as_of = dt.date.fromisoformat(state.date_to) if state.date_to else queries.date_bounds(eng)[1]
        if role == "public":  # on the public grid, one published window total per count (issue 9)
            from tests.disclosure_attacks_kit import public_compstat_reference

            expected = public_compstat_reference(eng, state.to_dict(), as_of)
            assert [(None if pd.isna(c) else c, None if pd.isna(p) else p)
                    for c, p in zip(cs["current"], cs["previous"], strict=True)] == expected
            continue
        days = queries.counts_by_day(eng, data.to_filters(data.replace_dates(state, years_back=2)), role,
                                     by_category=False)
        expected = compstat_table(days.assign(category="total"), as_of, total=False).drop(columns=["category"])
        pd.testing.assert_frame_equal(cs, expected)


@pytest.mark.parametrize(("layer", "lang", "title"), [("gi", "en", "Gi* hotspots"), ("rates", "es", None)])
def test_map_card_title_follows_the_layer_drawn(seeded, layer, lang, title):
    """Switching layers does not reload the page: the map callback rewrites the card title too."""
    expected = title or CATALOGUE[lang][f"map.layer.{layer}"]
    state = ViewState(layer=layer, lang=lang)
    with seeded["app"].server.test_request_context("/mapa"):
        _figure, shown = page_module("map")._update_map(state.to_dict())
    assert shown == expected
    assert shown != CATALOGUE[lang]["map.layer.counts"]


def test_profile_moran_card_shows_the_cluster_of_the_full_computation(seeded):
    """The profile runs local Moran's permutations for its own area only: for every area the label
    equals the one the map's full computation gives it, and the card shows that label."""
    from observatory.web import data
    from observatory.web.i18n import t
    from observatory.web.maps import MORAN_KEYS

    state = ViewState(lang="en", layer="moran")
    full = data.area_stats(state, "analyst", with_moran=True).set_index("id")["moran"]
    assert (full != "not significant").any()  # a positive control: some clusters to get right
    for area_id, label in full.items():
        one = data.area_stats(state, "analyst", moran_area=int(area_id)).set_index("id")["moran"]
        assert one[area_id] == label, area_id
    significant = full[full != "not significant"].index[0]
    kpis, _, _ = page_module("neighbourhood").profile_outputs(
        ViewState(lang="en", area=str(significant)), "analyst")
    assert t(f"moran.{MORAN_KEYS[full[significant]]}", "en") in str(kpis)


def test_text_kpi_values_get_the_label_style_and_figures_do_not():
    """A long text value ("Retenido (protección de datos)") is set smaller so it breaks between words,
    not mid-word, in a sixth of the row; figures and short words keep the big figure style."""
    from observatory.web.components import kpi

    def value_class(value: str) -> str:
        return kpi("t", value).children.children[1].className

    assert value_class(CATALOGUE["es"]["gi.withheld"]) == "kpi-value kpi-label"
    assert value_class("No significativo") == "kpi-value kpi-label"
    for figure in ("3.646,7", "< 5", "24,9 %", "s/d", "1.234.567"):
        assert value_class(figure) == "kpi-value", figure
    from pathlib import Path

    css = (Path(__file__).resolve().parents[1] / "assets" / "observatory.css").read_text()
    assert ".kpi .kpi-value.kpi-label" in css and "overflow-wrap: normal" in css
