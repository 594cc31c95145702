"""Issue 9's attacks on the demo city (``observatory.demo``: populations, victim attributes, a
planted intervention and plan targets), replayed through the public callbacks, plus the public
intervention panel, plan targets and the protection notice of every page.

See tests/test_disclosure_attacks.py for the same attacks on the real Mexico City data; the
helpers are in tests/disclosure_attacks_kit.py.
"""

from __future__ import annotations

import datetime as dt
import json
import sys

import pandas as pd
import pytest

from observatory import auth, config, queries
from observatory.db.session import get_engine
from observatory.queries import access
from tests import disclosure_attacks_kit as kit
from tests.conftest import module_sqlite

SEED = 2024
TODAY = dt.date(2026, 11, 23)  # fixed so the demo's period does not move with the calendar
PASSWORD = "attack test password"
SEXUAL = ["rape", "sexual_assault", "other_sexual"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """(public Dashboard, analyst Dashboard, engine, app) on the demo city."""
    from observatory.demo import build_demo
    from observatory.web.app import create_app

    folder = tmp_path_factory.mktemp("attacks_demo")
    with module_sqlite(folder) as url:
        engine = get_engine(url)
        build_demo(engine, seed=SEED, out_dir=folder / "files", today=TODAY)
        auth.add_user("ana", PASSWORD, "analyst", engine=engine)
        app = create_app(url)
        app.server.config["TESTING"] = True
        assert app.server.test_client().get("/_dash-dependencies").status_code == 200
        yield kit.Dashboard(app), kit.login_analyst(app, "ana", PASSWORD), engine, app


def _last_year(engine) -> tuple[str, str]:
    last = queries.date_bounds(engine)[1]
    first = dt.date(last.year - 1, last.month, 1)
    return first.isoformat(), kit.month_end(dt.date(last.year, last.month, 1) - dt.timedelta(days=1)).isoformat()


def _sensitive_codes(engine) -> list[str]:
    cats = queries.categories(engine)
    return sorted(cats.loc[cats["sensitive"].astype(bool), "code"])


def test_1_gi_one_day_localisation_of_a_sensitive_category_places_nothing(demo):
    public, analyst, engine, _ = demo
    code = max(_sensitive_codes(engine), key=lambda c: len(kit.single_incident_days(engine, c, 6)))
    days = kit.single_incident_days(engine, code, 6)
    assert len(days) >= 3
    assert kit.gi_localisation(public, days, code)["placed"] == 0
    for layer in ("gi", "moran", "emerging", "density"):
        figure = public.call("map-graph.figure", kit.view(layer=layer, categories=[code]))["map-graph"]["figure"]
        assert not [t for t in figure["data"] if t.get("type") in ("choroplethmap", "densitymap")], layer
    assert kit.gi_localisation(analyst, days, code)["placed"] >= 1


@pytest.mark.parametrize("sensitive", [False, True])
def test_2_rates_give_no_withheld_count_back(demo, sensitive):
    public, _, engine, _ = demo
    start, end = _last_year(engine)
    state = kit.view(categories=_sensitive_codes(engine) if sensitive else [], date_from=start, date_to=end)
    found = kit.rate_recovery(public, engine, state)
    assert found["recovered"] == 0 and found["rate_not_from_count"] == 0, found
    frame = public.csv("map-dl", dict(state, layer="smoothed"))
    # The smoothed rate of a suppressed area is withheld too (it would narrow the count down).
    assert pd.to_numeric(frame.loc[frame["count"].isna(), "smoothed"], errors="coerce").isna().all()


def test_3_window_differencing_is_wrong_by_the_stated_margin(demo, monkeypatch):
    public, analyst, engine, _ = demo
    policy = config.disclosure_policy()
    start = dt.date.fromisoformat(_last_year(engine)[0])
    cats = sorted(set(queries.categories(engine)["code"]) - set(_sensitive_codes(engine)))
    # Calendar windows (the default): the differences read calendar periods, not months, and get
    # no suppressed cell right beyond the true zeros that the constant guess "0" gets right too.
    calendar = kit.window_differencing(public, engine, start, 4, cats, policy.k)
    assert calendar["suppressed_cells"] >= 30 and calendar["recovered"] <= calendar["true_zeros"], calendar
    monkeypatch.setenv("OBSERVATORY_PUBLIC_WINDOWS", "free")  # the option: the attack itself
    found = kit.window_differencing(public, engine, start, 4, cats, policy.k)
    assert found["suppressed_cells"] >= 30, found
    assert found["recovered"] / found["suppressed_cells"] < 0.45, found
    assert found["max_error"] <= 2 * policy.max_noise, found
    exact = kit.window_differencing(analyst, engine, start, 4, cats, policy.k)
    assert exact["recovered"] == exact["suppressed_cells"]


def test_4_victim_sex_and_age_change_nothing_for_the_public(demo):
    public, analyst, engine, _ = demo
    start, end = _last_year(engine)
    district = str(queries.districts(engine)["district"].iloc[0])
    for cats in ([], SEXUAL):
        base = kit.view(categories=cats, district=district, date_from=start, date_to=end)
        narrowed = dict(base, sex="F", age="0-17")
        for download in ("trends-monthly-dl", "trends-hourweek-dl", "map-dl", "trends-breakdown-dl"):
            pd.testing.assert_frame_equal(public.csv(download, base), public.csv(download, narrowed))
        notices = json.dumps(public.call("protection-notice.children", narrowed))
        assert "notice-query" in notices
    # Analysts keep the victim filters: fewer incidents with them.
    base = kit.view(district=district, date_from=start, date_to=end)
    wide = pd.to_numeric(analyst.csv("trends-monthly-dl", base)["count"]).sum()
    narrow = pd.to_numeric(analyst.csv("trends-monthly-dl", dict(base, sex="F", age="0-17"))["count"]).sum()
    assert 0 < narrow < wide


def test_5_district_tables_and_compstat_publish_no_count_below_k(demo):
    public, analyst, engine, _ = demo
    k = config.disclosure_policy().k
    start, end = _last_year(engine)
    small_true = 0
    for district in queries.districts(engine)["district"]:
        state = kit.view(categories=SEXUAL, district=str(district), date_from=start, date_to=end)
        assert kit.small_values(public.csv("trends-monthly-dl", state), ("count",), k) == 0
        assert kit.small_values(public.csv("overview-compstat-dl", state), ("current", "previous"), k) == 0
        assert pd.to_numeric(public.csv("trends-hourweek-dl", state)["count"], errors="coerce").fillna(0).sum() == 0
        small_true += kit.small_values(analyst.csv("trends-monthly-dl", state), ("count",), k)
    assert small_true >= 3  # the true district-months below k exist (and analysts still see them)


def test_public_interventions_come_from_published_counts(demo):
    from observatory.geo import build_weights
    from observatory.geo.weights import neighbour_dict
    from observatory.indicators.intervention import evaluate_intervention
    from observatory.web import data
    from observatory.web.state import ViewState

    _, _, engine, _ = demo
    k = config.disclosure_policy().k
    stored = queries.interventions(engine)
    assert len(stored)
    shown = data.intervention_results(ViewState(), "public")
    area_month = queries.counts_by_area_month(engine, queries.Filters(), "public")
    # The panel's comparison group leaves out the treated areas' queen neighbours (as the analysts').
    areas = queries.areas(engine).reset_index(drop=True)
    neighbours = neighbour_dict(build_weights(areas, "queen", transform="B"), areas["code"])
    evaluated = 0
    for item, row in zip(stored.itertuples(index=False), shown.itertuples(index=False), strict=True):
        treated = area_month["code"].isin(list(item.area_codes))
        if area_month.loc[treated, "suppressed"].mean() > 0.5 or area_month["suppressed"].mean() > 0.5:
            assert row.verdict == "withheld"
            continue
        # Reference: the same evaluation by hand on the published counts (suppressed at (k - 1) / 2).
        published = area_month.assign(count=pd.to_numeric(area_month["count"]).astype(float).fillna((k - 1) / 2))
        ended = None if item.ended_on is None or pd.isna(item.ended_on) else item.ended_on
        expected = evaluate_intervention(published, list(item.area_codes), item.started_on, ended_on=ended,
                                         neighbours=neighbours).iloc[0]
        true_rr = data.intervention_results(ViewState(), "analyst").set_index("id").loc[item.id, "rr"]
        assert row.rr == pytest.approx(expected["rr"]) and row.rr != pytest.approx(true_rr, abs=1e-9)
        evaluated += 1
    assert evaluated >= 1  # the demo's planted intervention is evaluated on the published counts
    # No per-area evaluation of sensitive categories for the public.
    sensitive = data.intervention_results(ViewState(categories=tuple(_sensitive_codes(engine))), "public")
    assert set(sensitive["verdict"]) == {"withheld"}
    assert set(data.intervention_results(ViewState(), "analyst")["verdict"]) - {"withheld", "insufficient"}


def test_public_plan_targets_are_published_totals(demo):
    from observatory.web import data

    _, _, engine, _ = demo
    last = queries.date_bounds(engine)[1]
    # the last complete calendar year: one period of the public grid (by hand here)
    year = last.year if (last.month, last.day) == (12, 31) else last.year - 1
    first, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    population = float(data.areas()["population"].sum())
    targets = data.plan_targets("public")
    assert len(targets)
    for row in targets.itertuples(index=False):
        assert row.scope in ("", "city")  # the demo's targets are city-wide
        window = queries.Filters(start=first, end=end, categories=(row.category,))
        # the published window is exactly those 12 months (not widened to two whole years)
        released = access.release(window, "public", "city", "window", queries.categories(engine))
        assert (released.filters.start, released.filters.end) == (first, end)
        assert row.current_on == end
        published = queries.total(engine, window, "public")
        expected = published if row.kind == "count" else published / population * 1e5
        assert row.current_value == pytest.approx(expected)


PAGES = ("resumen", "mapa", "tendencias", "barrio", "percepcion", "datos")


@pytest.mark.parametrize("lang", ["es", "en"])
def test_every_public_page_says_how_small_numbers_are_protected(demo, lang):
    from plotly.utils import PlotlyJSONEncoder

    from observatory.web.components import protection_text

    _, _, _, app = demo
    policy = config.disclosure_policy()
    text = protection_text(lang)
    assert f"< {policy.k}" in text and f"±{policy.max_noise}" in text
    with app.server.test_request_context("/"):
        for name in PAGES:
            layout = json.dumps(sys.modules[f"pages.{name}"].layout(lang=lang), cls=PlotlyJSONEncoder,
                                ensure_ascii=False)
            assert text in layout, name


def test_profile_and_recorded_vs_survey_are_published_figures(demo):
    """The neighbourhood profile's monthly CSV and the recorded-vs-survey table (public): counts
    are the public query's, rates are published count / population (NA where the count is NA)."""
    from observatory.web import data
    from observatory.web.state import ViewState

    public, _, engine, _ = demo
    k = config.disclosure_policy().k
    gdf = data.areas()
    row = gdf.sort_values("population").iloc[0]  # the smallest neighbourhood: the most small cells
    state = kit.view(area=str(row["id"]))
    monthly = public.csv("profile-monthly-dl", state)
    published = queries.counts_by_month(engine, queries.Filters(neighbourhoods=(str(row["code"]),)), "public")
    by_month = published.set_index(pd.to_datetime(published["month"]).dt.strftime("%Y-%m"))["count"]
    months = pd.to_datetime(monthly["month"]).dt.strftime("%Y-%m")
    assert pd.to_numeric(monthly["area_count"]).astype(float).fillna(-1).tolist() == \
        by_month.reindex(months).astype(float).fillna(-1).tolist()
    assert kit.small_values(monthly, ("area_count",), k) == 0
    expected_rate = pd.to_numeric(monthly["area_count"]) / float(row["population"]) * 1e5
    assert ((pd.to_numeric(monthly["area_rate"]) - expected_rate).abs().dropna() < 1e-9).all()
    assert (pd.to_numeric(monthly["area_rate"]).isna() == expected_rate.isna()).all()
    side = public.csv("perception-side-dl", kit.view())
    assert len(side)
    counts = queries.counts_by_area(engine, queries.Filters(), "public").set_index("code")["count"]
    shown = pd.to_numeric(side["count"], errors="coerce")
    assert shown.fillna(-1).tolist() == counts.reindex(side["code"]).astype(float).fillna(-1).tolist()
    # The annualised recorded rate gives back exactly the published count (by hand), NA where it is NA.
    rate = pd.to_numeric(side["recorded_rate"], errors="coerce")
    implied = rate * pd.to_numeric(side["population"]) / 1e5 * pd.to_numeric(side["recorded_months"]) / 12
    assert (rate.isna() == shown.isna()).all()
    assert ((implied - shown).abs().dropna() < 1e-6).all()
    assert data.recorded_vs_survey(ViewState(), "analyst")["recorded_rate"].notna().all()  # analysts: true rates


def test_public_heat_layer_uses_area_centroids_and_published_counts(demo):
    from observatory.web import data
    from observatory.web.data.maps import suppressed_value
    from observatory.web.state import ViewState

    _, _, engine, _ = demo
    k = config.disclosure_policy().k
    heat = data.density_points(ViewState(layer="density"), "public")
    gdf = data.areas()
    cent = gdf.geometry.representative_point()
    published = queries.counts_by_area(engine, queries.Filters(), "public").set_index("neighbourhood_id")["count"]
    weights = pd.to_numeric(published.reindex(gdf["id"]), errors="coerce").astype(float).fillna((k - 1) / 2)
    expected = pd.DataFrame({"lon": cent.x.to_numpy(), "lat": cent.y.to_numpy(), "weight": weights.to_numpy()})
    expected = expected[expected["weight"] > 0]
    pd.testing.assert_frame_equal(heat.reset_index(drop=True), expected.reset_index(drop=True))
    assert suppressed_value(k) == (k - 1) / 2
    assert data.density_points(ViewState(layer="density", categories=tuple(_sensitive_codes(engine))),
                               "public").empty
    # Analysts get the incident points themselves.
    assert len(data.density_points(ViewState(layer="density"), "analyst")) > len(gdf)


def test_the_notice_lists_the_query_notices_for_the_public_only(demo):
    from observatory.web.components import notice_text

    public, analyst, _, _ = demo
    state = kit.view(lang="en", sex="F", date_from="2025-03-10", date_to="2025-03-12", categories=["rape"])
    shown = json.dumps(public.call("protection-notice.children", state), ensure_ascii=False)
    for key in ("victim_filters_public", "perturbed"):
        assert notice_text(key, "en") in shown, key
    assert any(notice_text(f"snapped_to_{unit}", "en") in shown for unit in ("month", "quarter"))
    assert analyst.call("protection-notice.children", state)["protection-notice"]["children"] == []


def test_public_hotspots_are_computed_from_the_published_counts(demo):
    """Gi*, local Moran and emerging hot spots for the public equal the reference implementations
    (observatory.geo) run here on the published counts, suppressed cells at (k - 1) / 2."""
    from observatory import geo
    from observatory.web import data
    from observatory.web.data.areas import _weights
    from observatory.web.state import ViewState

    _, _, engine, _ = demo
    k = config.disclosure_policy().k
    gdf = data.areas()
    published = queries.counts_by_area(engine, queries.Filters(), "public").set_index("neighbourhood_id")["count"]
    n = pd.to_numeric(published.reindex(gdf["id"]), errors="coerce").astype(float).fillna((k - 1) / 2).to_numpy()
    gi = geo.gi_star(gdf[["geometry"]].assign(n=n), "n", weights=_weights())
    stats = data.area_stats(ViewState(), "public", with_moran=True)
    assert stats["gi_class"].tolist() == gi["hotspot_class"].tolist()
    rates = n / gdf["population"].to_numpy(dtype=float) * 1e5
    moran = geo.local_moran(gdf[["geometry"]].assign(v=rates), "v", weights=_weights(), permutations=199, seed=1)
    assert stats["moran"].tolist() == moran["cluster"].tolist()
    true_gi = data.area_stats(ViewState(), "analyst")["gi_class"]
    assert true_gi.tolist() != stats["gi_class"].tolist() or (published.isna().sum() == 0)
    months = queries.counts_by_area_month(engine, queries.Filters(), "public")
    months = months.assign(count=pd.to_numeric(months["count"]).astype(float).fillna((k - 1) / 2))
    expected = geo.emerging_hotspots(months.rename(columns={"neighbourhood_id": "area"})[["area", "month", "count"]],
                                     gdf.set_index("id"), weights=_weights())["category"]
    assert data.emerging(ViewState(), "public") == {int(i): c for i, c in expected.items()}


@pytest.mark.parametrize("lang", ["es", "en"])
def test_every_notice_is_translated_with_the_policy_parameters(lang, monkeypatch):
    from observatory.queries import access
    from observatory.web.components import notice_text, protection_text

    for key in (*access.NOTICES, "hotspots_sensitive", "hotspots_suppressed", "protection"):
        text = notice_text(key, lang)
        assert text and "{" not in text and "notice." not in text, key
    # The parameters come from the policy in force, not from the wording.
    monkeypatch.setenv("OBSERVATORY_SUPPRESSION_K", "10")
    monkeypatch.setenv("OBSERVATORY_NOISE_D", "3")
    monkeypatch.setenv("OBSERVATORY_SENSITIVE_UNIT", "year")
    text = protection_text(lang)
    assert "< 10" in text and "±3" in text and ("año" if lang == "es" else "year") in text


def test_a_section_holding_a_sensitive_category_is_a_sensitive_selection(demo):
    from observatory.web import data
    from observatory.web.state import ViewState

    _, _, engine, _ = demo
    cats = queries.categories(engine)
    section = str(cats.loc[cats["code"] == "rape", "iccs_section"].iloc[0])
    plain = str(cats.loc[~cats["iccs_section"].isin(cats.loc[cats["sensitive"].astype(bool), "iccs_section"]),
                         "iccs_section"].dropna().iloc[0])
    assert data.selects_sensitive(ViewState(categories=(f"s{section}",)))
    assert data.hotspots_withheld(ViewState(layer="gi", categories=(f"s{section}",))) == "hotspots_sensitive"
    assert not data.selects_sensitive(ViewState(categories=(f"s{plain}",)))
    assert not data.selects_sensitive(ViewState())  # all categories: the area tables leave them out
    assert data.hotspots_withheld(ViewState(layer="gi", categories=("rape",)), "analyst") is None


def test_the_gender_panel_publishes_the_coarse_grid_totals_never_a_false_zero(demo):
    """The Perception page's recorded sexual and domestic violence: for the public each category's
    city total is the published (perturbed, quarter-grid) figure or withheld, never the 0 a finer table
    without the sensitive categories would give; analysts get the true count."""
    from sqlalchemy import text

    from observatory.web import data
    from observatory.web.state import ViewState

    *_, engine, _app = demo
    date_from, date_to = _last_year(engine)
    state = ViewState(date_from=date_from, date_to=date_to)
    public = data.gender_lens(state, "public")["recorded"].set_index("category")["count"]
    analyst = data.gender_lens(state, "analyst")["recorded"].set_index("category")["count"]
    with engine.connect() as conn:
        true = dict(conn.execute(text(
            "SELECT c.code, SUM(i.count) FROM incidents i JOIN crime_categories c ON c.id = i.category_id "
            "WHERE i.occurred_on BETWEEN :a AND :b GROUP BY c.code"), {"a": date_from, "b": date_to}).all())
    k, d = access.notice_values()["k"], access.notice_values()["d"]
    shown = 0
    for code in public.index:
        assert int(analyst[code]) == int(true.get(code, 0))  # analysts: the true count of the window
        expected = queries.total(engine, queries.Filters(start=date_from, end=date_to, categories=(code,)), "public")
        if pd.isna(public[code]):
            assert expected is None
            continue
        shown += 1
        assert int(public[code]) == expected >= k  # the published figure, never below k
        # the window snaps to whole quarters, so the published total is close to the quarters' true total
        assert public[code] > 0 and true.get(code, 0) > 0
    assert shown >= 1, "the demo city's sexual and domestic violence should be published at the city level"
    assert d >= 1


def test_public_risers_compare_two_whole_calendar_years_of_published_counts(demo):
    """For the public the risers table compares the last complete calendar year with the year before
    (periods of the public grid), on the published counts of each year: never two overlapping windows."""
    from observatory.web import data
    from observatory.web.state import ViewState

    *_, engine, _app = demo
    last = queries.date_bounds(engine)[1]
    year = last.year if (last.month, last.day) == (12, 31) else last.year - 1
    table = data.risers(ViewState(), "public", "up")
    assert len(table)
    assert {str(v)[:10] for v in table["start"]} == {f"{year}-01-01"}
    assert {str(v)[:10] for v in table["end"]} == {f"{year}-12-31"}
    assert {str(v)[:10] for v in table["prev_start"]} == {f"{year - 1}-01-01"}
    assert {str(v)[:10] for v in table["prev_end"]} == {f"{year - 1}-12-31"}
    for start, end, column in ((dt.date(year, 1, 1), dt.date(year, 12, 31), "current"),
                               (dt.date(year - 1, 1, 1), dt.date(year - 1, 12, 31), "previous")):
        published = queries.counts_by_area(engine, queries.Filters(start=start, end=end), "public").set_index("code")
        for code, value in zip(table["code"], table[column], strict=True):
            assert int(value) == int(published.loc[code, "count"])
