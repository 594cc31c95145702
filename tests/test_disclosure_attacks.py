"""Issue 9's attacks on the REAL Mexico City police data, replayed through the public callbacks.

The database holds the 132,692 SSP incident points (2013-2016, ``cdmx_ssp`` profile, the real
importer) on the 847 police quadrants (``cuadrantes.geojson``, district = alcaldía). Quadrant
populations are not published (SOURCES.md: about 10,000 residents each), so every quadrant gets
10,000: the rate attack needs only that the population is public. Each test replays one numbered
finding of the issue as a public client on loopback (Flask's test client, bounded requests),
asserts that it now recovers nothing -- or, for the cell-key perturbation, values wrong by the
method's stated margin -- and runs the same requests as an analyst, who keeps true figures (which
also shows the attack itself works). The same attacks (tests/disclosure_attacks_kit.py) measured on
main before issue 9, and now (public client):

- Gi* one-day rapes placed by the "hot 99%" class: 10 of 10 -> 0 of 10 (analysts: 10 of 10);
- rates x population / 1e5 - count, 2015: 393 of 406 withheld quadrant counts recovered -> 0;
- window differencing Feb-May 2015 (5 requests): 1,404 of 1,404 suppressed quadrant-months exact ->
  437 of 1,406 right (31%, by chance, unknown to the attacker), max error 4 = 2D, mean 1.1;
- date bisection of rapes in one alcaldía, Q1 2015: 3 of 3 dates in 16 requests -> 0;
- victim sex/age filters changed 4 of 4 public downloads -> 0 of 4;
- district-months of 2015 with 1-4 rapes published: 121 -> 0; CompStat cells below k: 30 -> 0;
  rapes in the public hour x weekday table of 2015: 728 -> 0.
"""

from __future__ import annotations

import datetime as dt
import json

import geopandas as gpd
import pandas as pd
import pytest

from observatory import auth, config, queries
from observatory.db.session import get_engine
from observatory.ingest.boundaries import import_boundaries
from observatory.ingest.incidents import ingest_incidents
from tests import disclosure_attacks_kit as kit
from tests.conftest import module_sqlite, realdata

pytestmark = pytest.mark.realdata
PASSWORD = "attack test password"
YEAR = dt.date(2015, 1, 1)


@pytest.fixture(scope="module")
def cdmx(tmp_path_factory):
    """(public Dashboard, analyst Dashboard, engine, app) on the real CDMX points and quadrants."""
    folder = tmp_path_factory.mktemp("attacks_cdmx")
    quadrants = gpd.read_file(realdata("cdmx", "cuadrantes.geojson"))
    quadrants["population"] = 10_000
    layer_file = folder / "cuadrantes.geojson"
    quadrants.to_file(layer_file, driver="GeoJSON")
    with module_sqlite(folder) as url:
        engine = get_engine(url)
        import_boundaries(layer_file, layer="cuadrantes", id_field="cuadrante", name_field="cuadrante",
                          population_field="population", district_field="alcaldia", engine=engine)
        report = ingest_incidents(realdata("cdmx", "ssp_cdmx_crime_lat_long_2013_2016.csv"), source_kind="police",
                                  profile="cdmx_ssp", engine=engine)
        assert report.loaded == 132_692
        auth.add_user("ana", PASSWORD, "analyst", engine=engine)
        from observatory.web.app import create_app

        app = create_app(url)
        app.server.config["TESTING"] = True
        assert app.server.test_client().get("/_dash-dependencies").status_code == 200
        yield kit.Dashboard(app), kit.login_analyst(app, "ana", PASSWORD), engine, app


def _rape_district_quarter(engine) -> tuple[str, dict[dt.date, int]]:
    """The alcaldía with the fewest (at least 3) rapes in the first quarter of 2015, with their dates."""
    best = None
    for district in queries.districts(engine)["district"]:
        dates = kit.true_dates(engine, queries.Filters(start=YEAR, end=dt.date(2015, 3, 31), categories=("rape",),
                                                       districts=(district,)))
        if sum(dates.values()) >= 3 and (best is None or sum(dates.values()) < sum(best[1].values())):
            best = (district, dates)
    assert best is not None
    return best


def test_1_gi_one_day_rape_localisation_places_nothing(cdmx):
    public, analyst, engine, _ = cdmx
    days = kit.single_incident_days(engine, "rape", 8)
    assert len(days) == 8
    found = kit.gi_localisation(public, days, "rape")
    assert found == {"days": 8, "placed": 0}
    # The public gets no Gi* class at all for a sensitive category: every row says "withheld".
    day = days[0][0].isoformat()
    frame = public.csv("map-dl", kit.view(layer="gi", categories=["rape"], date_from=day, date_to=day))
    assert set(frame["gi_class"]) == {"withheld"}
    figure = public.call("map-graph.figure", kit.view(layer="gi", categories=["rape"]))["map-graph"]["figure"]
    assert not any(trace.get("type") == "choroplethmap" for trace in figure["data"])
    # A one-day window snaps to its calendar month: the day's public table is the month's.
    month = days[0][0]
    same = public.csv("map-dl", kit.view(layer="counts", date_from=day, date_to=day))
    whole = public.csv("map-dl", kit.view(layer="counts", date_from=month.replace(day=1).isoformat(),
                                          date_to=kit.month_end(month).isoformat()))
    pd.testing.assert_frame_equal(same, whole)
    # Analysts keep Gi* on any window: the same requests place the incident (the attack is real).
    assert kit.gi_localisation(analyst, days, "rape")["placed"] >= 6


@pytest.mark.parametrize("categories", [[], ["rape"]])
def test_2_rate_times_population_gives_no_withheld_count_back(cdmx, categories):
    public, analyst, engine, _ = cdmx
    state = kit.view(categories=categories, date_from="2015-01-01", date_to="2015-12-31")
    found = kit.rate_recovery(public, engine, state)
    assert found["recovered"] == 0 and found["rate_not_from_count"] == 0, found
    frame = public.csv("map-dl", dict(state, layer="rates"))
    count, rate = pd.to_numeric(frame["count"], errors="coerce"), pd.to_numeric(frame["rate"], errors="coerce")
    # NA where the count is NA, published count / population x 1e5 elsewhere (computed here by hand).
    assert (rate.isna() == count.isna()).all()
    assert ((rate - count / 10_000 * 1e5).abs().dropna() < 1e-9).all()
    truth = kit.rate_recovery(analyst, engine, state)
    assert truth["rate_not_from_count"] == 0 and truth["withheld_true"] == 0


def test_3a_window_differencing_is_wrong_by_the_stated_margin(cdmx):
    public, analyst, engine, _ = cdmx
    d = config.disclosure_policy().max_noise
    k = config.disclosure_policy().k
    cats = list(queries.categories(engine).query("not sensitive")["code"])
    found = kit.window_differencing(public, engine, YEAR, 4, cats, k)
    assert found["suppressed_cells"] >= 500, found
    # Two independent cell-key noises (triangular on -D..D) cancel with probability sum p_j^2 =
    # 19/81 for D = 2: about a quarter of the differences are right by chance, and the attacker
    # cannot tell which; every difference is within the stated margin of 2D.
    assert found["recovered"] / found["suppressed_cells"] < 0.40, found
    assert found["max_error"] <= 2 * d and found["mean_abs_error"] >= 0.5, found
    exact = kit.window_differencing(analyst, engine, YEAR, 4, cats, k)
    assert exact["recovered"] == exact["suppressed_cells"] > 0


def test_3b_day_bisection_finds_nothing_finer_than_the_grid(cdmx):
    public, analyst, engine, _ = cdmx
    district, truth = _rape_district_quarter(engine)
    state = kit.view(categories=["rape"], district=district)
    first, last = YEAR, dt.date(2015, 3, 31)
    # Every window ending inside the quarter publishes the same totals: no date is resolved.
    totals = {json.dumps(public.csv("trends-monthly-dl", dict(state, date_from=first.isoformat(),
                                                               date_to=day.isoformat()))["count"].tolist())
              for day in (dt.date(2015, 1, 5), dt.date(2015, 1, 31), dt.date(2015, 2, 14), last)}
    assert len(totals) == 1, totals
    found = kit.bisect_dates(public, state, first, last, budget=60)["found"]
    exact = [day for day, n in found.items() if truth.get(day) == n]
    assert len(exact) <= 1, (found, truth)  # at most a coincidence on the first day, where bisection ends
    control = kit.bisect_dates(analyst, state, first, last, budget=120)
    assert control["found"] == truth


def test_4_victim_filters_change_nothing_for_the_public(cdmx):
    public, analyst, _, _ = cdmx
    base = kit.view(categories=["rape"], date_from="2015-01-01", date_to="2015-12-31", district="IZTAPALAPA")
    narrowed = dict(base, sex="F", age="0-17")
    for download in ("trends-monthly-dl", "trends-hourweek-dl", "map-dl", "overview-compstat-dl"):
        pd.testing.assert_frame_equal(public.csv(download, base), public.csv(download, narrowed))
    # Analysts keep the filters (the SSP points carry no victim data: none match).
    assert pd.to_numeric(analyst.csv("trends-monthly-dl", narrowed)["count"]).sum() == 0
    assert pd.to_numeric(analyst.csv("trends-monthly-dl", base)["count"]).sum() > 0


def test_5_district_tables_and_compstat_publish_no_count_below_k(cdmx):
    public, analyst, engine, _ = cdmx
    k = config.disclosure_policy().k
    district, _ = _rape_district_quarter(engine)
    state = kit.view(categories=["rape"], district=district, date_from="2015-01-01", date_to="2015-12-31")
    monthly = public.csv("trends-monthly-dl", state)
    hours = public.csv("trends-hourweek-dl", state)
    compstat = public.csv("overview-compstat-dl", dict(state, date_to="2015-06-30"))
    assert kit.small_values(monthly, ("count",), k) == 0
    assert kit.small_values(compstat, ("current", "previous", "change"), k) == 0
    # No sensitive category in the public hour x weekday table, at any grid: alone they give nothing,
    # and "all categories" is exactly the table of the other categories (same incidents, same noise).
    assert pd.to_numeric(hours["count"], errors="coerce").fillna(0).sum() == 0
    year = kit.view(date_from="2015-01-01", date_to="2015-12-31")
    others = list(queries.categories(engine).query("not sensitive")["code"])
    pd.testing.assert_frame_equal(public.csv("trends-hourweek-dl", year),
                                  public.csv("trends-hourweek-dl", dict(year, categories=others)))
    # Analysts see the true district-months (several of them between 1 and k - 1).
    assert kit.small_values(analyst.csv("trends-monthly-dl", state), ("count",), k) >= 3


@pytest.mark.parametrize("state", [kit.view(date_from="2015-01-01", date_to="2015-12-31"),
                                   kit.view(categories=["robbery_person"], district="IZTAPALAPA")])
def test_csv_numbers_are_the_published_ones(cdmx, state):
    """The CSVs of the map and trends equal the public query's frame and hold no count below k per area."""
    from observatory.web.data import to_filters
    from observatory.web.state import ViewState

    public, _, engine, _ = cdmx
    k = config.disclosure_policy().k
    filters = to_filters(ViewState.from_dict(state))
    shown = public.csv("map-dl", dict(state, layer="counts")).set_index("code")["count"]
    published = queries.counts_by_area(engine, filters, "public").set_index("code")["count"]
    pd.testing.assert_series_equal(pd.to_numeric(shown).astype(float), published.astype(float).reindex(shown.index),
                                   check_names=False)
    assert kit.small_values(shown.to_frame(), ("count",), k) == 0
    hours = public.csv("trends-hourweek-dl", state)
    table = queries.counts_by_hour_weekday(engine, filters, "public").dropna(subset=["hour"])
    assert pd.to_numeric(hours["count"]).astype(float).fillna(-1).tolist() == \
        table["count"].astype(float).fillna(-1).tolist()
    compstat = public.csv("overview-compstat-dl", state)
    as_of = dt.date.fromisoformat(state["date_to"]) if state["date_to"] else queries.date_bounds(engine)[1]
    expected = kit.public_compstat_reference(engine, state, as_of)
    shown = [tuple(None if pd.isna(v) else int(v) for v in pair) for pair in zip(compstat["current"],
                                                                                 compstat["previous"], strict=True)]
    assert shown == expected
    # The windows are whole calendar months (the public grid), written in the CSV.
    assert compstat["start"].iloc[0] == as_of.replace(day=1).isoformat()
    assert compstat["end"].iloc[0] == kit.month_end(as_of).isoformat()
