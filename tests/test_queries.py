"""The query layer on both backends: aggregates, filters, access rules (suppression, no points)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import shapely
from conftest import make_database
from shapely.geometry import box
from sqlalchemy import insert, select, text

from observatory import queries as q
from observatory.config import disclosure_policy
from observatory.db.models import (
    BoundaryLayer,
    CrimeCategory,
    ImportBatch,
    Incident,
    IncidentArea,
    IndicatorTarget,
    Intervention,
    Neighbourhood,
    RejectedRow,
    SurveyResponse,
    SurveyWave,
)
from observatory.db.planner import refresh_statistics
from observatory.db.session import get_engine
from observatory.queries import Filters
from observatory.queries.cellkey import ptable

# (code, name, district, population, polygon)
AREAS = [
    ("A1", "Alameda", "Norte", 1000.0, box(-99.2, 19.4, -99.1, 19.5)),
    ("A2", "Álamos", "Norte", 2000.0, box(-99.1, 19.4, -99.0, 19.5)),
    ("B1", "Bosque", "Sur", 500.0, box(-99.2, 19.3, -99.1, 19.4)),
    ("B2", "Barranca", "Sur", None, box(-99.1, 19.3, -99.0, 19.4)),
]
QUADRANTS = [("Q1", "Cuadrante 1", box(-99.2, 19.4, -99.0, 19.5)), ("Q2", "Cuadrante 2", box(-99.2, 19.3, -99.0, 19.4))]
# (key, source, date, hour, category, count, area, lon, lat, sex, age, address)
INCIDENTS = [
    ("p1", "police", "2024-01-05", 10, "robbery_person", 3, "A1", -99.15, 19.45, "F", "18-29", "Calle 1"),
    ("c1", "complaint", "2024-01-20", None, "robbery_person", 4, "A1", None, None, "M", "30-44", None),
    ("p2", "police", "2024-02-03", 22, "rape", 2, "A1", -99.14, 19.44, "F", "18-29", "Calle 2"),
    ("p3", "police", "2024-02-10", 3, "homicide", 1, "A1", -99.13, 19.46, "M", "18-29", None),
    ("p4", "police", "2024-03-01", 12, "robbery_person", 1, "A2", -99.05, 19.45, None, None, None),
    ("c2", "complaint", "2024-03-02", 20, "rape", 6, "A2", None, None, "F", "0-17", None),
    ("p5", "police", "2024-01-10", 18, "robbery_person", 10, "B1", -99.15, 19.35, "M", "45-59", None),
    ("p6", "police", "2024-03-15", 18, "domestic_violence", 1, "B1", -99.14, 19.34, "F", "30-44", "Calle 6"),
    ("p7", "police", "2024-02-15", 9, "robbery_person", 2, None, -98.0, 18.0, None, None, None),
    ("p8", "police", "2024-03-20", None, "unclassified", 1, "B2", None, None, None, None, None),
]
QUADRANT_OF = {"A1": "Q1", "A2": "Q1", "B1": "Q2", "B2": "Q2"}


def load_fixture(url: str) -> None:
    """Insert the small city above with SQLAlchemy Core (no importer involved)."""
    engine = get_engine(url)
    now = dt.datetime(2024, 4, 1, 12, 0)
    with engine.begin() as conn:
        batch = conn.execute(insert(ImportBatch).values(
            file_name="fixture.csv", sha256="0" * 64, source_kind="police", profile="generic_incidents",
            started_at=now, finished_at=now, status="done", total=11, loaded=10, rejected=1, user_name="ana",
        )).inserted_primary_key[0]
        conn.execute(insert(RejectedRow).values(batch_id=batch, row_number=12, field="occurred_date",
                                                reason="not a date", raw={"address": "Calle secreta 9"}))
        ids: dict[str, int] = {}
        for name, primary, rows in (("barrios", True, [(c, n, d, p, g) for c, n, d, p, g in AREAS]),
                                    ("cuadrantes", False, [(c, n, None, None, g) for c, n, g in QUADRANTS])):
            layer = conn.execute(insert(BoundaryLayer).values(name=name, level="neighbourhood", is_primary=primary,
                                                              version=1)).inserted_primary_key[0]
            ids[name] = layer
            for code, area_name, district, pop, geom in rows:
                ids[code] = conn.execute(insert(Neighbourhood).values(
                    layer_id=layer, code=code, name=area_name, name_key=area_name.lower(), district=district,
                    population=pop, area_km2=1.0, geometry_wkb=shapely.to_wkb(geom), active=True,
                )).inserted_primary_key[0]
        cats = dict(conn.execute(select(CrimeCategory.code, CrimeCategory.id)).all())
        sens = dict(conn.execute(select(CrimeCategory.code, CrimeCategory.sensitive)).all())
        for key, source, date, hour, cat, count, area, lon, lat, sex, age, address in INCIDENTS:
            day = dt.date.fromisoformat(date)
            incident = conn.execute(insert(Incident).values(
                source_kind=source, record_key=key, source_id=key, content_hash=key, batch_id=batch,
                profile="generic_incidents", occurred_on=day, occurred_month=day.replace(day=1),
                occurred_time=dt.time(hour) if hour is not None else None, hour=hour, weekday=day.weekday(),
                category_id=cats[cat], original_label="Robo raro" if cat == "unclassified" else cat, count=count,
                sensitive=sens[cat], lon=lon, lat=lat, neighbourhood_id=ids[area] if area else None,
                assignment="point" if area else None, victim_sex=sex, victim_age_group=age, address=address,
                description="texto libre" if address else None,
            )).inserted_primary_key[0]
            if area:
                conn.execute(insert(IncidentArea).values(incident_id=incident, layer_id=ids["cuadrantes"],
                                                         neighbourhood_id=ids[QUADRANT_OF[area]]))
        wave = conn.execute(insert(SurveyWave).values(name="2024", profile="generic_survey",
                                                      reference_months=12)).inserted_primary_key[0]
        conn.execute(insert(SurveyResponse), [
            {"wave_id": wave, "batch_id": batch, "unit": "person", "respondent_key": "r1", "household_key": "h1",
             "weight": 10.5, "neighbourhood_id": ids["A1"], "district": "Norte", "sex": "F", "age_group": "18-29",
             "items": {"victim_any": 1, "unsafe_city": 1, "fear_home_night": 3}},
            {"wave_id": wave, "batch_id": batch, "unit": "person", "respondent_key": "r2", "household_key": "h2",
             "weight": 20.0, "neighbourhood_id": None, "district": None, "sex": "M", "age_group": "60+",
             "items": {"victim_any": 0, "unsafe_city": None}},
            {"wave_id": wave, "batch_id": batch, "unit": "event", "respondent_key": "e1", "household_key": "h1",
             "weight": 5.0, "neighbourhood_id": None, "district": None, "sex": None, "age_group": None,
             "items": {"crime_type": "robbery_person", "reported": 0}},
        ])
        conn.execute(insert(Intervention).values(name="Patrullaje", started_on=dt.date(2024, 2, 1),
                                                 area_codes=["A1", "A2"], description="more patrols"))
        conn.execute(insert(IndicatorTarget).values(indicator="rate_per_100k:homicide", scope="city",
                                                    baseline_value=20.0, baseline_on=dt.date(2023, 1, 1),
                                                    target_value=10.0, target_on=dt.date(2026, 1, 1)))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def url(request, tmp_path_factory):
    """The fixture city in a fresh database of each backend, shared by the tests of this module."""
    db, cleanup = make_database(request.param, tmp_path_factory.mktemp(request.param))
    load_fixture(db)
    refresh_statistics(get_engine(db))  # exercised on both backends
    yield db
    cleanup()


def engine_of(url: str):
    return get_engine(url)


def by_code(frame: pd.DataFrame, column: str = "count") -> dict:
    return {code: (None if pd.isna(v) else int(v)) for code, v in zip(frame["code"], frame[column], strict=True)}


# --- filters -----------------------------------------------------------------------------------------------


def test_filters_round_trip_through_query_string():
    f = Filters(start="2024-01-01", end=dt.date(2024, 3, 31), categories=["robbery_person", "homicide"],
                sections={"03"}, source_kinds=["police"], districts=["Norte, Alto", "Sur"], neighbourhoods=["A1"],
                sex="F,M", age_groups=["18-29"], layer="cuadrantes 2024")
    qs = f.to_query_string()
    back = Filters.from_query_string("?" + qs)
    assert back == f
    assert back.cache_key() == f.cache_key()
    assert Filters.from_query_string("") == Filters()
    assert Filters(categories=["b", "a", "a"]).categories == ("a", "b")
    assert Filters(categories=["a"]).cache_key() != Filters(categories=["b"]).cache_key()


def test_filters_reject_bad_values():
    with pytest.raises(ValueError, match="source kind"):
        Filters(source_kinds=["rumour"])
    with pytest.raises(ValueError, match="after end"):
        Filters(start="2024-02-01", end="2024-01-01")
    with pytest.raises(ValueError, match="ISO date"):
        Filters(start="yesterday")


# --- aggregates ----------------------------------------------------------------------------------------------


def test_counts_by_area_analyst_sums_counts_and_lists_zeros(url):
    frame = q.counts_by_area(engine_of(url), Filters(), role="analyst")
    assert by_code(frame) == {"A1": 10, "A2": 7, "B1": 11, "B2": 1}
    assert not frame["suppressed"].any()
    assert list(frame.columns) == ["neighbourhood_id", "code", "name", "district", "population", "count",
                                   "suppressed", "sensitive_withheld"]
    later = q.counts_by_area(engine_of(url), Filters(start="2024-02-01"), role="analyst")
    assert by_code(later) == {"A1": 3, "A2": 7, "B1": 1, "B2": 1}


@pytest.mark.parametrize("role", ["public", "analyst"])
@pytest.mark.parametrize("filters", [Filters(), Filters(start="2024-01-06", end="2024-03-12"),
                                     Filters(start="2024-02-01", sex=["F"]), Filters(neighbourhoods=["A1", "B1"])])
def test_area_counts_is_the_three_separate_queries(url, role, filters):
    """area_counts gives exactly counts_by_area and total; its statistics table holds the true
    counts for analysts and the PUBLISHED counts (never the true ones) for the public."""
    eng = engine_of(url)
    shown, full, count = q.area_counts(eng, filters, role)
    pd.testing.assert_frame_equal(shown, q.counts_by_area(eng, filters, role))
    assert count == q.total(eng, filters, role)
    if role == "analyst":
        pd.testing.assert_frame_equal(full, q.true_counts_by_area(eng, filters, role))
    else:
        assert full["code"].tolist() == shown["code"].tolist()
        pd.testing.assert_series_equal(full["count"], shown["count"], check_names=False)
        with pytest.raises(PermissionError):
            q.true_counts_by_area(eng, filters, role)
        with pytest.raises(PermissionError):
            q.true_counts_by_area_month(eng, filters, role)


def test_monthly_totals_equal_the_sum_of_the_category_series(url, monkeypatch):
    """counts_by_month sums its month x category aggregate: same months and (true) totals."""
    # The stored span's own months (free windows): the calendar default is tested below.
    monkeypatch.setenv("OBSERVATORY_PUBLIC_WINDOWS", "free")
    eng = engine_of(url)
    for filters in (Filters(), Filters(start="2024-01-06", end="2024-03-12", sex=["F"])):
        monthly = q.counts_by_month(eng, filters, "analyst")
        by_cat = q.counts_by_month(eng, filters, "analyst", by_category=True)
        sums = by_cat.groupby("month")["count"].sum()
        assert list(monthly["month"]) == list(sums.index)
        assert monthly["count"].tolist() == sums.tolist()
        # Published cells are perturbed one by one: the same months, sums need not agree.
        assert list(q.counts_by_month(eng, filters, "public")["month"]) == list(sums.index)


def test_date_bounds_are_inclusive_whether_or_not_on_month_boundaries(url):
    eng = engine_of(url)
    whole_months = q.counts_by_area(eng, Filters(start="2024-01-01", end="2024-02-29"), role="analyst")
    assert by_code(whole_months) == {"A1": 10, "A2": 0, "B1": 10, "B2": 0}
    odd_days = q.counts_by_area(eng, Filters(start="2024-01-06", end="2024-03-01"), role="analyst")
    assert by_code(odd_days) == {"A1": 7, "A2": 1, "B1": 10, "B2": 0}
    days = q.counts_by_day(eng, Filters(start="2024-02-01", end="2024-02-29"), role="analyst", by_category=False)
    assert days["count"].tolist() == [2, 1, 2]


def ref_key(incident_id: int) -> int:
    """The noise key of an incident, computed here with Python's own integers (docs/disclosure.md)."""
    return ((int(incident_id) * 2654435761 + disclosure_policy().key_salt) % 4294967291) % 256


def ref_published(records: pd.DataFrame) -> int:
    """Published value of the cell made of ``records``: true sum + ptable noise of its cell key."""
    true = int(records["count"].sum())
    if true == 0:
        return 0
    cell_key = sum(ref_key(i) for i in records["id"]) % 256
    return true + int(ptable(2)[min(true, 2), cell_key])


def ref_shown(value: int, k: int = 5) -> int | None:
    return None if value < k else value


def test_counts_by_area_public_perturbs_suppresses_and_leaves_out_sensitive(url, monkeypatch):
    # The stored span's own months (free windows): the calendar default is tested below.
    monkeypatch.setenv("OBSERVATORY_PUBLIC_WINDOWS", "free")
    eng = engine_of(url)
    records = q.incident_records(eng, Filters(), "analyst")
    plain = records[~records["category"].isin(["rape", "domestic_violence"])]
    frame = q.counts_by_area(eng, Filters(), role="public")
    # Sensitive categories are left out of every neighbourhood table (true A1 8, A2 1, B1 10, B2 1).
    expected = {code: ref_shown(ref_published(plain[plain["neighbourhood"] == code])) for code in by_code(frame)}
    assert by_code(frame) == expected
    assert expected["A2"] is None and expected["B2"] is None and expected["B1"] is not None
    assert frame["suppressed"].tolist() == [v is None for v in expected.values()]
    assert frame["sensitive_withheld"].all()
    assert not q.counts_by_area(eng, Filters(), role="analyst")["sensitive_withheld"].any()
    # Asking for the sensitive category alone gives nothing at neighbourhood level (A2 has 6 rapes).
    rape = q.counts_by_area(eng, Filters(categories=["rape"]), role="public")
    assert by_code(rape) == {"A1": None, "A2": None, "B1": None, "B2": None}
    assert (frame["count"].dropna() >= 5).all()
    # A day window snaps out to whole months: 2024-02-10 reads as from 2024-02-01.
    later = q.counts_by_area(eng, Filters(start="2024-02-10"), role="public")
    pd.testing.assert_frame_equal(later, q.counts_by_area(eng, Filters(start="2024-02-01"), role="public"))
    feb_on = plain[plain["occurred_on"] >= "2024-02-01"]
    assert by_code(later) == {c: ref_shown(ref_published(feb_on[feb_on["neighbourhood"] == c])) for c in expected}


def test_secondary_layer_uses_incident_areas(url):
    frame = q.counts_by_area(engine_of(url), Filters(layer="cuadrantes"), role="analyst")
    assert by_code(frame) == {"Q1": 17, "Q2": 12}
    with pytest.raises(KeyError, match="unknown boundary layer"):
        q.counts_by_area(engine_of(url), Filters(layer="nope"), role="analyst")


def test_counts_by_district_is_a_small_area_table_with_sensitive_by_quarter(url):
    eng = engine_of(url)
    records = q.incident_records(eng, Filters(), "analyst")
    district = records["neighbourhood"].map({"A1": "Norte", "A2": "Norte", "B1": "Sur", "B2": "Sur"})
    # The whole stored period (open ends) is whole quarters: sensitive categories stay in.
    frame = q.counts_by_district(eng, Filters(), role="public")
    expected = {d: ref_shown(ref_published(records[district == d])) for d in ("Norte", "Sur")}
    assert dict(zip(frame["district"], frame["count"].map(lambda v: None if pd.isna(v) else int(v)),
                    strict=True)) == expected
    assert not frame["sensitive_withheld"].any()
    # One month is finer than the quarter: they are left out, and the table says so.
    month = q.counts_by_district(eng, Filters(start="2024-03-01", end="2024-03-31"), role="public")
    assert month["sensitive_withheld"].all()
    march = records[(records["occurred_on"] >= "2024-03-01") & ~records["category"].isin(["rape", "domestic_violence"])]
    assert month["count"].isna().all() and len(march) == 2  # one incident per district: below k
    analyst = q.counts_by_district(eng, Filters(), role="analyst")
    assert dict(zip(analyst["district"], analyst["count"].astype(int), strict=True)) == {"Norte": 17, "Sur": 12}


def test_counts_by_month_fills_months_and_filters(url, monkeypatch):
    # The stored span's own months (free windows): the calendar default is tested below.
    monkeypatch.setenv("OBSERVATORY_PUBLIC_WINDOWS", "free")
    eng = engine_of(url)
    frame = q.counts_by_month(eng, Filters(), role="analyst")
    assert frame["month"].dt.strftime("%Y-%m").tolist() == ["2024-01", "2024-02", "2024-03"]
    assert frame["count"].tolist() == [17, 5, 9]  # city-wide: unassigned and sensitive included
    public = q.counts_by_month(eng, Filters(), role="public")
    plain = q.incident_records(eng, Filters(), "analyst")
    plain = plain[~plain["category"].isin(["rape", "domestic_violence"])]  # month cells: left out
    month = plain["occurred_on"].dt.month
    assert public["count"].tolist() == [ref_published(plain[month == m]) for m in (1, 2, 3)]
    assert not public["suppressed"].any() and public["sensitive_withheld"].all()
    padded = q.counts_by_month(eng, Filters(start="2023-11-15", end="2024-04-30"), role="analyst")
    assert padded["count"].tolist() == [0, 0, 17, 5, 9, 0]
    police = q.counts_by_month(eng, Filters(source_kinds=["police"]), role="analyst")
    assert police["count"].sum() == 31 - 4 - 6
    women = q.counts_by_month(eng, Filters(sex=["F"]), role="analyst")
    assert women["count"].sum() == 3 + 2 + 6 + 1
    sexual = q.counts_by_month(eng, Filters(sections=["03"]), role="analyst")
    assert sexual["count"].sum() == 8
    union = q.counts_by_month(eng, Filters(sections=["03"], categories=["homicide"]), role="analyst")
    assert union["count"].sum() == 9
    north = q.counts_by_month(eng, Filters(districts=["Norte"]), role="analyst")
    assert north["count"].sum() == 17
    nothing = q.counts_by_month(eng, Filters(categories=["no_such_code"]), role="analyst")
    assert nothing["count"].sum() == 0


def test_counts_by_month_for_one_neighbourhood_is_a_small_area_table(url, monkeypatch):
    # The stored span's own months (free windows): the calendar default is tested below.
    monkeypatch.setenv("OBSERVATORY_PUBLIC_WINDOWS", "free")
    eng = engine_of(url)
    frame = q.counts_by_month(eng, Filters(neighbourhoods=["A1"]), role="public")
    a1 = q.incident_records(eng, Filters(neighbourhoods=["A1"]), "analyst")
    a1 = a1[a1["category"] != "rape"]
    jan, feb = a1[a1["occurred_on"] < "2024-02-01"], a1[a1["occurred_on"] >= "2024-02-01"]
    assert frame["count"].tolist()[0] == ref_published(jan)  # January 3 + 4
    # February: homicide 1 (rape left out); March: none. The span is the stored data's (Jan-Mar),
    # not A1's own, which would tell when its last incident was.
    assert frame["suppressed"].tolist() == [False, True, True]
    assert ref_published(feb) < 5
    analyst = q.counts_by_month(eng, Filters(neighbourhoods=["A1"]), role="analyst")
    assert analyst["count"].tolist() == [7, 3]
    assert q.total(eng, Filters(neighbourhoods=["B2"]), role="public") is None
    # The city total over the whole (open) period keeps every category, perturbed, never suppressed.
    assert q.total(eng, Filters(), role="public") == ref_published(q.incident_records(eng, Filters(), "analyst"))
    assert q.total(eng, Filters(), role="analyst") == 31


def test_counts_by_month_by_category(url):
    frame = q.counts_by_month(engine_of(url), Filters(), role="analyst", by_category=True)
    robbery = frame[frame["category"] == "robbery_person"]
    assert robbery["count"].tolist() == [17, 2, 1]
    assert len(frame) == 3 * 5  # 3 months x 5 categories present


def test_counts_by_area_month(url, monkeypatch):
    # The stored span's own months (free windows): the calendar default is tested below.
    monkeypatch.setenv("OBSERVATORY_PUBLIC_WINDOWS", "free")
    eng = engine_of(url)
    frame = q.counts_by_area_month(eng, Filters(), role="analyst")
    assert len(frame) == 4 * 3
    a1 = frame[frame["code"] == "A1"]["count"].tolist()
    assert a1 == [7, 3, 0]
    public = q.counts_by_area_month(eng, Filters(), role="public")
    assert len(public) == 4 * 3 and (public["count"].dropna() >= 5).all()
    b1 = q.incident_records(eng, Filters(neighbourhoods=["B1"], end="2024-01-31"), "analyst")
    assert public.loc[public["code"] == "B1", "count"].tolist()[0] == ref_shown(ref_published(b1))


def test_counts_by_category_and_hour_weekday_and_day(url, monkeypatch):
    # The stored span's own months (free windows): the calendar default is tested below.
    monkeypatch.setenv("OBSERVATORY_PUBLIC_WINDOWS", "free")
    eng = engine_of(url)
    records = q.incident_records(eng, Filters(), "analyst")
    cats = q.counts_by_category(eng, Filters(), role="public").set_index("code")
    robbery = records[records["category"] == "robbery_person"]
    assert cats.loc["robbery_person", "count"] == ref_published(robbery) and int(robbery["count"].sum()) == 20
    # Sensitive cells are suppressed below k even in city tables; rape 8 is shown perturbed.
    rape = ref_published(records[records["category"] == "rape"])
    assert cats.loc["rape", "count"] == ref_shown(rape) and bool(cats.loc["rape", "sensitive"])
    assert pd.isna(cats.loc["domestic_violence", "count"]) and cats.loc["domestic_violence", "suppressed"]
    assert cats.loc["fraud", "count"] == 0
    grid = q.counts_by_hour_weekday(eng, Filters(), role="analyst")
    assert len(grid) == 7 * 25
    assert grid["count"].sum() == 31
    friday10 = grid[(grid["weekday"] == 4) & (grid["hour"] == 10)]
    assert friday10["count"].tolist() == [3]
    unknown = grid[grid["hour"].isna()]["count"].sum()
    assert unknown == 4 + 1
    public = q.counts_by_hour_weekday(eng, Filters(), role="public")
    assert len(public) == 7 * 25 and public["sensitive_withheld"].all()
    fri = records[(records["id"].isin(q.incident_records(eng, Filters(categories=["robbery_person"]), "analyst")["id"]))
                  & (records["occurred_on"] == "2024-01-05")]
    assert public[(public["weekday"] == 4) & (public["hour"] == 10)]["count"].tolist() == [ref_published(fri)]
    days = q.counts_by_day(eng, Filters(end="2024-01-31"), role="analyst")
    assert days["occurred_on"].dt.day.tolist() == [5, 10, 20]
    assert days["count"].tolist() == [3, 10, 4]
    # For the public a "day" table has one row per month (its first day): no day cells.
    # Every selected category has its row (sensitive ones left out of month cells), zeros included:
    # a row only where there were incidents would tell a suppressed small count from a zero.
    public_days = q.counts_by_day(eng, Filters(end="2024-01-31"), role="public").set_index("category")
    assert set(public_days["occurred_on"].dt.strftime("%Y-%m-%d")) == {"2024-01-01"}
    assert set(public_days.index) == set(q.categories(eng).query("~sensitive")["code"])
    assert public_days.loc["robbery_person", "count"] == ref_published(robbery[robbery["occurred_on"] < "2024-02-01"])
    assert (public_days.drop(index="robbery_person")["count"] == 0).all()
    # Two categories of different ICCS sections widen to every category (the public category grid).
    small = q.counts_by_day(eng, Filters(neighbourhoods=["A1"], categories=["homicide", "theft"]), role="public")
    plain_codes = sorted(q.categories(eng).query("~sensitive")["code"])
    assert small.groupby("occurred_on")["category"].apply(sorted).map(lambda c: c == plain_codes).all()
    assert small["occurred_on"].nunique() == 3
    a1 = records[(records["neighbourhood"] == "A1") & ~records["category"].isin(["rape", "domestic_violence"])]
    for (month, code), cell in small.set_index(["occurred_on", "category"])["count"].items():
        mine = a1[(a1["category"] == code) & (a1["occurred_on"].dt.to_period("M").dt.start_time == month)]
        assert (None if pd.isna(cell) else int(cell)) == ref_shown(ref_published(mine))


def test_points_never_for_the_public(url):
    eng = engine_of(url)
    public = q.points(eng, Filters(), role="public")
    assert public.empty
    assert "lon" in public.columns
    analyst = q.points(eng, Filters(), role="analyst")
    assert len(analyst) == 7  # every incident with coordinates, sensitive ones included
    assert analyst["sensitive"].sum() == 2
    boxed = q.points(eng, Filters(), role="analyst", bbox=(-99.2, 19.4, -99.1, 19.5))
    assert sorted(boxed["category"]) == ["homicide", "rape", "robbery_person"]
    assert len(q.points(eng, Filters(), role="admin", limit=2)) == 2
    with pytest.raises(ValueError, match="unknown role"):
        q.points(eng, Filters(), role="hacker")
    with pytest.raises(PermissionError):
        q.incident_records(eng, Filters(), role="public")
    records = q.incident_records(eng, Filters(), role="analyst")
    assert "Calle 1" in set(records["address"])


def test_reference_tables(url):
    eng = engine_of(url)
    gdf = q.areas(eng)
    assert gdf.crs.to_epsg() == 4326
    assert gdf["code"].tolist() == ["A1", "A2", "B1", "B2"]
    assert gdf.geometry.iloc[0].equals(AREAS[0][4])
    assert q.areas(eng, layer="cuadrantes")["code"].tolist() == ["Q1", "Q2"]
    assert q.date_bounds(eng) == (dt.date(2024, 1, 5), dt.date(2024, 3, 20))
    d = q.districts(eng).set_index("district")
    assert d.loc["Norte", "population"] == 3000 and pd.isna(d.loc["Sur", "population"])
    labels = q.unknown_labels(eng, role="analyst")
    assert labels[["label", "count"]].values.tolist() == [["Robo raro", 1]]
    # One record carries that label (fewer than k): not published (it could be an address).
    public_labels = q.unknown_labels(eng)
    assert public_labels.empty and list(public_labels.columns) == list(labels.columns)
    unassigned = q.unassigned_summary(eng)
    assert unassigned[["source_kind", "reason", "records", "count"]].values.tolist() == [
        ["police", "outside_areas", 1, 2]]
    history = q.import_history(eng)
    assert "user_name" not in history.columns and history["loaded"].tolist() == [10]
    assert q.import_history(eng, role="admin")["user_name"].tolist() == ["ana"]
    assert "raw" not in q.rejected_rows(eng).columns
    assert q.rejected_rows(eng, role="analyst")["raw"].iloc[0] == {"address": "Calle secreta 9"}
    assert q.interventions(eng)["area_codes"].tolist() == [["A1", "A2"]]
    assert q.targets(eng)["target_value"].tolist() == [10.0]
    assert set(q.layers(eng)["n_areas"]) == {4, 2}


def test_survey_microdata_expands_items(url):
    eng = engine_of(url)
    waves = q.survey_waves(eng)
    assert waves[["name", "persons", "households", "events"]].values.tolist() == [["2024", 2, 0, 1]]
    persons = q.survey_responses(eng, wave="2024")
    assert persons["respondent_key"].tolist() == ["r1", "r2"]
    assert persons["weight"].tolist() == [10.5, 20.0]
    assert persons["neighbourhood"].tolist()[0] == "A1" and pd.isna(persons["neighbourhood"].tolist()[1])
    assert persons["victim_any"].tolist() == [1.0, 0.0]
    assert persons["unsafe_city"].iloc[0] == 1.0 and pd.isna(persons["unsafe_city"].iloc[1])
    assert persons["fear_home_night"].iloc[0] == 3.0 and pd.isna(persons["fear_home_night"].iloc[1])
    events = q.survey_responses(eng, unit="event")
    assert events["crime_type"].tolist() == ["robbery_person"] and events["reported"].tolist() == [0.0]
    assert q.survey_responses(eng, wave="1999").empty


def test_empty_database_gives_empty_tables_not_errors(sqlite_url):
    eng = get_engine(sqlite_url)
    month = Filters(start="2024-01-01", end="2024-03-31")
    for role in ("public", "analyst"):
        assert q.counts_by_area(eng, month, role).empty
        assert q.counts_by_month(eng, month, role)["count"].tolist() == [0, 0, 0]
        assert q.counts_by_month(eng, Filters(), role).empty
        assert q.counts_by_area_month(eng, month, role).empty
        assert q.counts_by_category(eng, month, role)["count"].sum() == 0
        assert q.counts_by_hour_weekday(eng, month, role)["count"].sum() == 0
        assert q.points(eng, month, role).empty
    assert q.areas(eng).empty and q.date_bounds(eng) == (None, None)
    assert q.total(eng, Filters(), "public") == 0


def test_data_version_changes_when_an_import_finishes(url):
    eng = engine_of(url)
    before = q.data_version(eng)
    assert q.data_version(eng) == before
    with eng.begin() as conn:
        conn.execute(insert(ImportBatch).values(file_name="x.csv", sha256="1" * 64, source_kind="police",
                                                profile="p", started_at=dt.datetime(2024, 5, 1),
                                                finished_at=dt.datetime(2024, 5, 1, 0, 1), status="done"))
    after = q.data_version(eng)
    assert after != before
    with eng.begin() as conn:
        conn.execute(text("DELETE FROM import_batches WHERE file_name = 'x.csv'"))


def test_public_history_and_rejected_rows_hold_no_paths_or_values(url):
    """Issue 9, finding 6: rejection reasons quote the value; batches store the server's path."""
    eng = engine_of(url)
    with eng.begin() as conn:
        batch = conn.execute(insert(ImportBatch).values(
            file_name="/srv/uploads/2024/c:\\tmp\\secret.csv", sha256="9" * 64, source_kind="police", profile="p",
            started_at=dt.datetime(2024, 5, 2), finished_at=dt.datetime(2024, 5, 2, 0, 1), status="failed",
        )).inserted_primary_key[0]
        conn.execute(insert(RejectedRow).values(batch_id=batch, row_number=3, field="lat",
                                                reason="latitude 19.43215 out of range", raw={"lat": "19.43215"}))
    try:
        public = q.rejected_rows(eng, batch_id=batch)
        # the public gets counts by reason kind (issue 9 finding 6: access.public_import_view)
        assert public.columns.tolist() == ["batch_id", "file_name", "reason_kind", "rows"]
        assert public.iloc[0].tolist() == [batch, "secret.csv", "other", 1]
        assert "19.43215" in q.rejected_rows(eng, batch_id=batch, role="analyst")["reason"].iloc[0]
        history = q.import_history(eng)
        assert history.loc[history["id"] == batch, "file_name"].tolist() == ["secret.csv"]
        # file names only for every role (issue 11 item 17): the audit log keeps paths for admins
        assert q.import_history(eng, role="analyst").loc[lambda f: f["id"] == batch, "file_name"].tolist() == [
            "secret.csv"]
    finally:
        with eng.begin() as conn:
            conn.execute(text(f"DELETE FROM rejected_rows WHERE batch_id = {int(batch)}"))
            conn.execute(text(f"DELETE FROM import_batches WHERE id = {int(batch)}"))


QUERIES = {
    "area": lambda e: q.counts_by_area(e, Filters(), role="public"),
    "area_analyst": lambda e: q.counts_by_area(e, Filters(start="2024-01-10"), role="analyst"),
    "area_q": lambda e: q.counts_by_area(e, Filters(layer="cuadrantes"), role="public"),
    "district": lambda e: q.counts_by_district(e, Filters(), role="public"),
    "area_month": lambda e: q.counts_by_area_month(e, Filters(end="2024-02-29"), role="public"),
    "month": lambda e: q.counts_by_month(e, Filters(sex=["F", "M"]), role="public", by_category=True),
    "category": lambda e: q.counts_by_category(e, Filters(districts=["Sur"]), role="public"),
    "hour": lambda e: q.counts_by_hour_weekday(e, Filters(source_kinds=["police"]), role="public"),
    "day": lambda e: q.counts_by_day(e, Filters(), role="analyst"),
    "points": lambda e: q.points(e, Filters(), role="analyst"),
    "categories": lambda e: q.categories(e),
    "unassigned": lambda e: q.unassigned_summary(e),
    "unknown": lambda e: q.unknown_labels(e, role="analyst"),
    "areas": lambda e: q.areas(e).drop(columns="geometry"),
}


def test_identical_results_on_sqlite_and_postgresql(tmp_path):
    """The same fixture gives the same DataFrames (values and dtypes) on both backends."""
    results = {}
    for kind in ("sqlite", "postgresql"):
        db, cleanup = make_database(kind, tmp_path)
        try:
            load_fixture(db)
            eng = get_engine(db)
            results[kind] = {name: fn(eng) for name, fn in QUERIES.items()}
        finally:
            cleanup()
    for name in QUERIES:
        lite, pg = results["sqlite"][name], results["postgresql"][name]
        if name == "points":  # ids differ only if sequences differ; compare without them
            lite, pg = lite.drop(columns="id"), pg.drop(columns="id")
        if "neighbourhood_id" in lite.columns:
            lite, pg = lite.drop(columns="neighbourhood_id"), pg.drop(columns="neighbourhood_id")
        pd.testing.assert_frame_equal(lite, pg, obj=name)


def captured_sql(eng, fn) -> list[tuple[str, tuple]]:
    """The aggregate statements (SQL, parameters) that ``fn()`` sends to the database."""
    from sqlalchemy import event

    seen: list[tuple[str, tuple]] = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        if "sum(incidents.count)" in statement:
            seen.append((statement, tuple(parameters)))

    event.listen(eng, "before_cursor_execute", grab)
    try:
        fn()
    finally:
        event.remove(eng, "before_cursor_execute", grab)
    return seen


@pytest.mark.parametrize(("name", "call"), [
    ("area, whole months", lambda e: q.counts_by_area(e, Filters(start="2024-01-01", end="2024-03-31"), "public")),
    ("area, days", lambda e: q.counts_by_area(e, Filters(start="2024-01-06", end="2024-03-12"), "analyst")),
    ("area x month", lambda e: q.counts_by_area_month(e, Filters(start="2024-01-01", end="2024-02-29"), "public")),
    ("month", lambda e: q.counts_by_month(e, Filters(categories=["rape"]), "public", by_category=True)),
    ("category", lambda e: q.counts_by_category(e, Filters(start="2024-02-01"), "public")),
    ("day", lambda e: q.counts_by_day(e, Filters(start="2024-01-01", end="2024-03-31"), "analyst")),
    ("area, victim filters", lambda e: q.area_counts(e, Filters(start="2024-01-06", sex=["F"], age_groups=["18-29"]),
                                                     "public")),
    ("month, victim filters", lambda e: q.counts_by_month(e, Filters(end="2024-03-12", sex=["F"]), "public")),
    ("hour x weekday, victim filters", lambda e: q.counts_by_hour_weekday(e, Filters(age_groups=["18-29"]),
                                                                          "public")),
    ("hour x weekday, categories", lambda e: q.counts_by_hour_weekday(
        e, Filters(start="2024-01-03", categories=["rape", "robbery_person"], sex=["F"]), "public")),
])
def test_dashboard_aggregates_read_covering_indexes(tmp_path, monkeypatch, name, call):
    """EXPLAIN QUERY PLAN on SQLite: the main aggregates never read the incidents table itself
    (the SQL path: what answers while the incident cube is being built, and secondary layers)."""
    import sqlite3

    monkeypatch.setenv("OBSERVATORY_CUBE", "off")

    db, cleanup = make_database("sqlite", tmp_path)
    try:
        load_fixture(db)
        eng = get_engine(db)
        refresh_statistics(eng)
        statements = captured_sql(eng, lambda: call(eng))
        assert statements, name
        raw = sqlite3.connect(eng.url.database)
        for sql, params in statements:
            plan = " | ".join(row[3] for row in raw.execute("EXPLAIN QUERY PLAN " + sql, params))
            assert "COVERING INDEX ix_incidents_" in plan, (name, plan)
        raw.close()
    finally:
        cleanup()
