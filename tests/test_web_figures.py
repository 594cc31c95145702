"""Issue 10, web side: every figure on screen is the right number, computed by hand here from the
raw tables of the demo city (built once per backend: SQLite and PostgreSQL).

Hand computations read ``incidents`` x ``neighbourhoods`` x ``crime_categories`` with plain SQL
and pandas; the dashboard's figures come from ``observatory.web.data``.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import text

from observatory.web.state import ViewState
from tests.conftest import make_database

SEED = 2024
TODAY = dt.date(2026, 12, 1)  # the period of the figures (Distrito Centro 11,705 incidents)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def demo(request, tmp_path_factory):
    """The demo city on each backend, set as the dashboard's database (response cache off)."""
    from observatory.db.session import get_engine
    from observatory.demo import build_demo
    from observatory.web import data

    folder = tmp_path_factory.mktemp(f"figures-{request.param}")
    url, cleanup = make_database(request.param, folder)
    mp = pytest.MonkeyPatch()
    mp.setenv("OBSERVATORY_DATABASE_URL", url)
    mp.setenv("OBSERVATORY_CACHE", "null")
    mp.delenv("OBSERVATORY_SUPPRESSION_K", raising=False)
    engine = get_engine(url)
    summary = build_demo(engine, seed=SEED, out_dir=folder / "files", today=TODAY)
    data.configure(url)
    try:
        yield {"url": url, "engine": engine, "summary": summary, "raw": raw_incidents(engine),
               "areas": raw_areas(engine)}
    finally:
        data.configure(None)
        mp.undo()
        cleanup()


def raw_incidents(engine) -> pd.DataFrame:
    """Every incident with its date, category code, count and (possibly missing) area and district."""
    sql = text("SELECT i.occurred_on, i.count, i.neighbourhood_id, c.code AS category, n.district "
               "FROM incidents i JOIN crime_categories c ON c.id = i.category_id "
               "LEFT JOIN neighbourhoods n ON n.id = i.neighbourhood_id")
    with engine.connect() as conn:
        frame = pd.DataFrame(conn.execute(sql).all(), columns=["occurred_on", "count", "area", "category",
                                                                "district"])
    frame["occurred_on"] = pd.to_datetime(frame["occurred_on"])
    return frame


def raw_areas(engine) -> pd.DataFrame:
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, code, district, population FROM neighbourhoods")).all()
    return pd.DataFrame(rows, columns=["id", "code", "district", "population"])


# --- defect 1: the headline rate of a district, the profile's city line, unassigned incidents --------


def test_district_rate_divides_by_the_districts_residents(demo):
    from observatory.web import data

    raw, areas = demo["raw"], demo["areas"]
    for district in sorted(areas["district"].unique()):
        count = int(raw.loc[raw["district"] == district, "count"].sum())
        residents = float(areas.loc[areas["district"] == district, "population"].sum())
        k = data.kpis(ViewState(district=district), "analyst")
        assert k["total"] == count
        assert k["rate"] == pytest.approx(count / residents * 100_000, rel=1e-12)
    # The figure: 11,705 incidents over 181,400 residents (973.9 when divided by the city's 1,201,840).
    centro = data.kpis(ViewState(district="Distrito Centro"), "analyst")
    assert (centro["total"], round(centro["rate"], 1)) == (11_705, 6452.6)


def test_city_rate_counts_unassigned_incidents_and_the_profile_agrees(demo):
    from observatory.web import data

    raw, areas = demo["raw"], demo["areas"]
    unassigned = int(raw.loc[raw["area"].isna(), "count"].sum())
    assert unassigned > 0  # the demo has incidents without a location: the rule matters
    city = int(raw["count"].sum())
    expected = city / float(areas["population"].sum()) * 100_000
    overview = data.kpis(ViewState(), "analyst")
    profile = data.city_headline(ViewState(area=str(int(areas["id"].iloc[0]))), "analyst")
    assert overview["total"] == profile["total"] == city
    assert overview["rate"] == pytest.approx(expected, rel=1e-12)
    assert profile["rate"] == pytest.approx(expected, rel=1e-12)
    # Area figures leave the unassigned out: the areas add up to the city minus them.
    stats = data.area_stats(ViewState(), "analyst")
    assert int(stats["count"].sum()) == city - unassigned
    # Under a district the profile's city line is still the city (the district filter is the overview's).
    district = str(areas["district"].iloc[0])
    again = data.city_headline(ViewState(area=str(int(areas["id"].iloc[0])), district=district), "analyst")
    assert again["rate"] == pytest.approx(expected, rel=1e-12)


def test_public_profile_city_line_is_not_a_sum_of_suppressed_areas(demo):
    """Homicides in one year: nearly every area is below k for the public, yet the city figure is the
    published city total over the city's residents (the profile said 0.0, the overview 2.88)."""
    from observatory import queries
    from observatory.web import data

    raw, areas = demo["raw"], demo["areas"]
    year = demo["raw"]["occurred_on"].dt.year.max() - 1
    state = ViewState(categories=("homicide",), date_from=f"{year}-01-01", date_to=f"{year}-12-31")
    stats = data.area_stats(state, "public")
    published = queries.total(demo["engine"], data.to_filters(state), "public")
    chosen = raw[(raw["category"] == "homicide") & (raw["occurred_on"].dt.year == year)]
    assert published is not None and published > 0 and abs(published - int(chosen["count"].sum())) <= 5
    # Nearly every area is suppressed: a sum of the areas shown would drop most homicides.
    assert stats["count"].isna().mean() > 0.8 and pd.to_numeric(stats["count"]).sum() < published
    city_rate = published / float(areas["population"].sum()) * 100_000
    profile = data.city_headline(ViewState(area=str(int(areas["id"].iloc[0])), **_filters_of(state)), "public")
    assert profile["rate"] == pytest.approx(city_rate, rel=1e-12)
    assert data.kpis(state, "public")["rate"] == pytest.approx(city_rate, rel=1e-12)
    monthly = data.area_monthly(ViewState(area=str(int(areas["id"].iloc[0])), **_filters_of(state)), "public")
    assert monthly["city_rate"].sum() == pytest.approx(
        pd.to_numeric(monthly["city_count"]).sum() / float(areas["population"].sum()) * 100_000)


def _filters_of(state: ViewState) -> dict:
    return {"categories": state.categories, "date_from": state.date_from, "date_to": state.date_to}


def test_profile_area_shares_use_the_areas_published_total(demo):
    from observatory.web import data

    raw, areas = demo["raw"], demo["areas"]
    area = areas.sort_values("code").iloc[0]
    mine = raw[raw["area"] == area["id"]]
    shares = data.area_categories(ViewState(area=str(int(area["id"]))), "analyst").set_index("code")
    by_cat = mine.groupby("category")["count"].sum()
    for code, n in by_cat.items():
        assert shares.loc[code, "area_share"] == pytest.approx(n / by_cat.sum(), rel=1e-12)
    city = raw.groupby("category")["count"].sum()
    for code in shares.index:
        assert shares.loc[code, "city_share"] == pytest.approx(city.get(code, 0) / raw["count"].sum(), rel=1e-12)


def test_scope_population_refuses_a_partial_sum():
    from observatory.indicators.rates import rate_per_100k
    from observatory.indicators.scope import scope_population, scope_rate, shares

    areas = pd.DataFrame({"code": ["a", "b", "c"], "district": ["N", "N", "S"], "population": [1000, None, 3000]})
    assert pd.isna(scope_population(areas))  # one area without residents: no city rate
    assert pd.isna(scope_population(areas, ("N",)))
    assert scope_population(areas, ("S",)) == 3000
    assert scope_rate(6, areas, ("S",)) == pytest.approx(200.0)
    assert pd.isna(scope_rate(None, areas, ("S",)))
    assert rate_per_100k(5, 0) != rate_per_100k(5, 0)  # NaN, never 0 or inf
    assert shares(pd.Series([1, pd.NA, 3], dtype="Int64"), 10).tolist()[::2] == [0.1, 0.3]
    assert shares(pd.Series([1, 2]), None).isna().all()


# --- defect 2: the intervention panel's test, comparison group and buffer -------------------------


def test_intervention_panel_uses_quasi_poisson_and_names_its_comparison_group(demo):
    import numpy as np
    from scipy import stats

    from observatory import queries
    from observatory.web import data

    raw, gdf = demo["raw"], data.areas()
    stored = queries.interventions(demo["engine"]).iloc[0]
    treated = [str(c) for c in stored["area_codes"]]
    shapes = gdf.set_index(gdf["code"].astype(str)).geometry
    around = shapes[treated].union_all()
    buffer = sorted(c for c in shapes.index if c not in treated and shapes[c].intersects(around))
    comparison = sorted(set(shapes.index) - set(treated) - set(buffer))
    result = data.intervention_results(None, "analyst").set_index("id").loc[stored["id"]]
    assert result["excluded_neighbours"].split(", ") == buffer and len(buffer) > 0
    assert result["comparison_areas"].split(", ") == comparison and result["n_comparison"] == len(comparison)
    # By hand: 12 whole months before the start month, 12 from the month after it.
    codes = dict(zip(gdf["id"], gdf["code"].astype(str), strict=True))
    month = raw["occurred_on"].dt.to_period("M")
    start = pd.Period(stored["started_on"], "M")
    before = raw[(month >= start - 12) & (month < start)].groupby("area")["count"].sum().rename(index=codes)
    after = raw[(month > start) & (month <= start + 12)].groupby("area")["count"].sum().rename(index=codes)
    used = treated + comparison
    y0, y1 = before.reindex(used, fill_value=0).astype(float), after.reindex(used, fill_value=0).astype(float)
    t0, t1, c0, c1 = y0[treated].sum(), y1[treated].sum(), y0[comparison].sum(), y1[comparison].sum()
    rr = (t1 / t0) / (c1 / c0)
    x2 = 0.0
    for group, (g0, g1) in ((treated, (t0, t1)), (comparison, (c0, c1))):
        share = g1 / (g0 + g1)
        for code in group:
            n = y0[code] + y1[code]
            if n > 0:
                x2 += (y1[code] - n * share) ** 2 / (n * share) + (y0[code] - n * (1 - share)) ** 2 / (n * (1 - share))
    dof = int(((y0 + y1) > 0).sum()) - 2
    phi = max(1.0, x2 / dof)
    se = np.sqrt(phi * (1 / t0 + 1 / t1 + 1 / c0 + 1 / c1))
    assert result["rr"] == pytest.approx(rr, rel=1e-9)
    assert result["dispersion"] == pytest.approx(phi, rel=1e-9)
    assert result["p_value"] == pytest.approx(2 * stats.t.sf(abs(np.log(rr)) / se, dof), rel=1e-6)
    assert result["rr_low"] == pytest.approx(np.exp(np.log(rr) - stats.t.ppf(0.975, dof) * se), rel=1e-9)
    # The table on screen names the comparison group and the buffer.
    import sys

    shown = sys.modules["pages.resumen"].interventions_display if "pages.resumen" in sys.modules else None
    if shown is None:
        from observatory.web.app import create_app

        create_app(demo["url"])
        shown = sys.modules["pages.resumen"].interventions_display
    label = shown(data.intervention_results(None, "analyst"), "es").set_index("id").loc[stored["id"],
                                                                                       "comparison_label"]
    assert str(len(comparison)) in label and all(code in label for code in buffer)


# --- defect 5: one ranking of changes, by evidence, its period stated, rises and falls --------------


@pytest.mark.parametrize("direction", ["up", "down"])
def test_risers_are_ranked_by_evidence_over_stated_periods(demo, direction):
    from scipy.stats import binomtest

    from observatory.web import data

    raw, areas = demo["raw"], demo["areas"]
    end = raw["occurred_on"].max()
    start, prev_end = end - pd.Timedelta(days=364), end - pd.Timedelta(days=365)
    prev_start = prev_end - pd.Timedelta(days=364)
    cur = raw[raw["occurred_on"].between(start, end)].groupby("area")["count"].sum()
    prev = raw[raw["occurred_on"].between(prev_start, prev_end)].groupby("area")["count"].sum()
    hand = areas.set_index("id").assign(current=cur, previous=prev).fillna({"current": 0, "previous": 0})
    hand["rate_change"] = (hand["current"] - hand["previous"]) / hand["population"] * 100_000
    hand["p"] = [binomtest(int(c), int(c + p), 0.5).pvalue if c + p else 1.0
                 for c, p in zip(hand["current"], hand["previous"], strict=True)]
    sign = 1 if direction == "up" else -1
    hand = hand[sign * hand["rate_change"] > 0]
    hand["evidence"] = (hand["p"] < 0.05).astype(int)
    hand = hand.sort_values(["evidence", "rate_change"], ascending=[False, direction == "down"])
    shown = data.risers(ViewState(), "analyst", direction)
    assert shown["code"].tolist() == hand["code"].head(10).tolist()
    assert shown["p_value"].tolist() == pytest.approx(hand["p"].head(10).tolist(), rel=1e-9)
    significant = shown["significant"].tolist()
    assert significant == sorted(significant, reverse=True)  # no non-significant row above a significant one
    assert (shown["start"].iloc[0].date(), shown["end"].iloc[0].date()) == (start.date(), end.date())
    assert (shown["prev_start"].iloc[0].date(), shown["prev_end"].iloc[0].date()) == (prev_start.date(),
                                                                                      prev_end.date())
    # On screen: the period sentence names both periods.
    import sys

    from observatory.web.app import create_app
    from observatory.web.i18n import fmt_date

    if "pages.resumen" not in sys.modules:
        create_app(demo["url"])
    _table, sentence = sys.modules["pages.resumen"].risers_panel(ViewState(), "analyst", direction)
    assert fmt_date(start.date(), "es") in sentence and fmt_date(prev_end.date(), "es") in sentence


# --- defects 8 and 10: each layer's CSV carries its own statistic; smoothed rates carry their interval ---


def _hand_area_counts(raw: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    counts = raw.groupby("area")["count"].sum()
    return areas.assign(n=areas["id"].map(counts).fillna(0).astype(float)).sort_values("code")


def test_smoothed_layer_csv_and_hover_carry_the_eb_interval(demo):
    from scipy import stats

    from observatory.web import data
    from observatory.web.maps import hover_text, map_table

    hand = _hand_area_counts(demo["raw"], demo["areas"])
    e, b = hand["n"].to_numpy(), hand["population"].to_numpy(float)
    m = e.sum() / b.sum()
    v = (b * (e / b - m) ** 2).sum() / b.sum() - m / b.mean()  # Marshall's prior variance
    assert v > 0
    low = stats.gamma.ppf(0.025, m * m / v + e, scale=1 / (m / v + b)) * 100_000
    high = stats.gamma.ppf(0.975, m * m / v + e, scale=1 / (m / v + b)) * 100_000
    mean = (m * m / v + e) / (m / v + b) * 100_000
    csv = map_table(ViewState(layer="smoothed"), "analyst").sort_values("code")
    assert csv["smoothed"].to_numpy() == pytest.approx(mean, rel=1e-9)
    assert csv["smoothed_low"].to_numpy() == pytest.approx(low, rel=1e-9)
    assert csv["smoothed_high"].to_numpy() == pytest.approx(high, rel=1e-9)
    assert "moran" not in csv and "gi_class" not in csv
    stats_frame = data.area_stats(ViewState(layer="smoothed"), "analyst")
    text = hover_text(stats_frame, "en", smoothed=True)
    first = stats_frame.index[0]
    assert f"{stats_frame.loc[first, 'smoothed_low']:,.1f} – {stats_frame.loc[first, 'smoothed_high']:,.1f}" \
        in text[first]


def test_moran_and_emerging_csvs_carry_their_own_results(demo):
    import numpy as np
    from esda import Moran_Local
    from libpysal.weights import Queen

    from observatory.web import data
    from observatory.web.maps import map_table

    gdf = data.areas()
    hand = gdf[["id", "code"]].assign(population=gdf["population"]).merge(
        _hand_area_counts(demo["raw"], demo["areas"])[["id", "n"]], on="id")
    rates = (hand["n"] / hand["population"] * 100_000).to_numpy()
    w = Queen.from_dataframe(gdf, use_index=False)
    w.transform = "R"
    lm = Moran_Local(rates, w, permutations=199, seed=1)
    p_two = np.minimum(1, 2 * lm.p_sim)  # one two-sided 5% convention with Gi*
    labels = {1: "high-high", 2: "low-high", 3: "low-low", 4: "high-low"}
    expected = [labels[q] if p < 0.05 else "not significant" for q, p in zip(lm.q, p_two, strict=True)]
    csv = map_table(ViewState(layer="moran"), "analyst")
    assert csv["moran"].tolist() == expected
    assert any(label != "not significant" for label in expected)
    # From the Gi* layer the CSV has Gi*'s classes and no Moran column at all (it said "not significant").
    gi = map_table(ViewState(layer="gi"), "analyst")
    assert "moran" not in gi and "gi_class" in gi
    emerging = map_table(ViewState(layer="emerging"), "analyst")
    categories = data.emerging(ViewState(layer="emerging"), "analyst")
    assert emerging["emerging"].tolist() == [categories.get(i, "none") for i in gdf["id"]]
    assert set(emerging["emerging"]) - {"none"}  # the planted hotspots show


# --- defect 6: partial months are drawn as partial, never flagged; band from the trend model ---------


def test_monthly_series_marks_a_partial_last_month_and_uses_the_trend_band(demo):
    import numpy as np

    from observatory.indicators.timeseries import monthly_series
    from observatory.web import charts, data

    raw = demo["raw"]
    first = raw["occurred_on"].min()
    state = ViewState(date_to="2026-09-25")
    series = data.monthly(state, "analyst")
    chosen = raw[raw["occurred_on"] <= "2026-09-25"]
    by_month = chosen.groupby(chosen["occurred_on"].dt.to_period("M").dt.to_timestamp())["count"].sum()
    assert series["count"].tolist() == by_month.astype(float).tolist()
    last = series.iloc[-1]
    assert bool(last["partial"]) and last["flag"] == "" and np.isnan(last["upper"])
    assert series["partial"].sum() == (1 if first.day == 1 else 2)
    # The band is the trend-aware model's (indicators.timeseries) on the same monthly counts.
    reference = monthly_series(by_month.rename_axis("month").reset_index(), data_start=first.date(),
                               data_end=dt.date(2026, 9, 25))
    np.testing.assert_allclose(series["upper"].to_numpy(float), reference["upper"].to_numpy(float), rtol=1e-12)
    assert series["flag"].tolist() == reference["flag"].tolist()
    fig = charts.monthly_figure(series, "es")
    partial = [tr for tr in fig.data if tr.name == "Mes incompleto"]
    assert len(partial) == 1 and list(partial[0].y) == [last["count"]]


# --- defect 9: the analyst's heat map is the documented KDE, in incidents per km², never one blob ------


def test_analyst_heat_map_is_the_kernel_density_with_its_bandwidth(demo):
    import numpy as np

    from observatory.geo.projection import to_metric
    from observatory.web import data
    from observatory.web.maps import map_figure, map_table

    with demo["engine"].connect() as conn:
        xy = pd.DataFrame(conn.execute(text("SELECT lon, lat FROM incidents WHERE lon IS NOT NULL AND lat IS NOT NULL"))
                          .all(), columns=["lon", "lat"])
    import geopandas as gpd

    metric = to_metric(gpd.GeoSeries(gpd.points_from_xy(xy["lon"], xy["lat"]), crs="EPSG:4326"))
    coords = np.column_stack([metric.x, metric.y])
    iqr = (np.percentile(coords, 75, axis=0) - np.percentile(coords, 25, axis=0)) / 1.349
    sigma = np.minimum(coords.std(axis=0, ddof=1), iqr).mean()
    scott = sigma * len(coords) ** (-1 / 6)  # Scott's rule for a 2-D Gaussian kernel, in metres
    state = ViewState(layer="density")
    bands = map_table(state, "analyst")
    assert bands["bandwidth_m"].iloc[0] == pytest.approx(scott, rel=1e-9)
    assert int(bands["n_points"].iloc[0]) == len(xy)  # every point, not the point layer's newest 50,000
    assert bands["share"].tolist() == [0.25, 0.5, 0.75, 0.9]
    assert (bands["density_low"].diff().dropna() < 0).all() and (bands["unit"] == "incidents per km²").all()
    # Never one saturated blob: the densest quarter of the incidents covers a small part of the city.
    surface = data.density_layer(state, "analyst")
    from shapely.geometry import shape

    densest = to_metric(gpd.GeoSeries([shape(surface["geojson"]["features"][0]["geometry"])], crs="EPSG:4326"))
    city = to_metric(gpd.GeoSeries([data.areas().geometry.union_all()], crs="EPSG:4326"))
    assert densest.area.iloc[0] < 0.1 * city.area.iloc[0]
    fig = map_figure(state, "analyst")
    names = [tr.name for tr in fig.data]
    assert "density" in names and sum("incidentes por km²" in str(n) for n in names) == 4
    note = " ".join(a.text for a in fig.layout.annotations)
    assert f"{scott:,.0f}".replace(",", ".") in note and "ancho de banda" in note


# --- defect 4 (UI): one two-sided 5% convention, and the FDR option, on the Gi* map -------------------


def test_gi_map_follows_the_fdr_option_with_benjamini_hochberg_by_hand(demo):
    import numpy as np
    from libpysal.weights import Queen
    from scipy.stats import norm

    from observatory.web import data
    from observatory.web.app import state_from_controls
    from observatory.web.maps import map_figure, map_table
    from observatory.web.state import parse_query, to_query

    gdf = data.areas()
    counts = _hand_area_counts(demo["raw"], demo["areas"]).set_index("id")["n"]
    x = gdf["id"].map(counts).to_numpy(float)
    w = Queen.from_dataframe(gdf, use_index=False)
    n = len(x)
    lag, size = np.empty(n), np.empty(n)
    for i in range(n):
        members = [i, *w.neighbors[i]]  # Gi*: the area itself is in its neighbourhood (binary weights)
        lag[i], size[i] = x[members].sum(), len(members)
    s = np.sqrt((x ** 2).mean() - x.mean() ** 2)
    z = (lag - x.mean() * size) / (s * np.sqrt((n * size - size ** 2) / (n - 1)))
    p = 2 * norm.sf(np.abs(z))
    order = np.sort(p)
    passed = order <= np.arange(1, n + 1) * 0.05 / n
    cut = order[passed].max() if passed.any() else 0.0  # Benjamini-Hochberg at 5%
    plain = map_table(ViewState(layer="gi"), "analyst")
    corrected = map_table(ViewState(layer="gi", fdr=True), "analyst")
    assert plain["gi_z"].to_numpy() == pytest.approx(z, rel=1e-9)
    assert (plain["gi_class"] != "not significant").to_numpy().tolist() == (p < 0.05).tolist()
    assert (corrected["gi_class"] != "not significant").to_numpy().tolist() == (p <= cut).tolist()
    assert (p < 0.05).sum() > (p <= cut).sum() > 0  # the correction drops some, keeps the planted hot spots
    assert not (plain["gi_class"].str.contains("90%")).any()  # no 10% class under the 5% convention
    fig = map_figure(ViewState(layer="gi", fdr=True), "analyst")
    assert "FDR" in fig.layout.legend.title.text
    # The option lives in the URL and in the map page's switch.
    assert parse_query(to_query(ViewState(fdr=True))).fdr
    assert state_from_controls(None, None, [], "both", None, None, None, [["fdr"]],
                               [{"type": "opt", "key": "fdr"}], ViewState().to_dict()).fdr
