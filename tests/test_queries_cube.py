"""The in-memory incident cube answers exactly what SQL answers, and follows every change of the data."""

from __future__ import annotations

import datetime as dt
import random
import time

import numpy as np
import pandas as pd
import pytest
import shapely
from shapely.geometry import box
from sqlalchemy import event, insert, select

from observatory import queries as q
from observatory.db.models import BoundaryLayer, CrimeCategory, ImportBatch, Incident, IncidentArea, Neighbourhood
from observatory.db.session import get_engine
from observatory.ingest.incidents import update_unclassified
from observatory.queries import Filters, cube

AREA_CODES = ["N1", "N2", "N3", "S1", "S2", "S3"]
CATEGORY_CODES = ["robbery_person", "theft", "vehicle_theft", "homicide", "rape", "domestic_violence", "unclassified"]
START = dt.date(2022, 1, 1)


def load_random_city(url: str, n: int = 4000, seed: int = 5) -> None:
    """Six areas in two districts (plus a secondary layer) and ``n`` random incidents with NULLs
    in every nullable column the aggregates read (area, hour, victim sex and age)."""
    rnd = random.Random(seed)
    engine = get_engine(url)
    now = dt.datetime(2024, 7, 1)
    with engine.begin() as conn:
        batch = conn.execute(insert(ImportBatch).values(
            file_name="random.csv", sha256="2" * 64, source_kind="police", profile="generic_incidents",
            started_at=now, finished_at=now, status="done", total=n, loaded=n)).inserted_primary_key[0]
        primary = conn.execute(insert(BoundaryLayer).values(name="barrios", level="neighbourhood", is_primary=True,
                                                            version=1)).inserted_primary_key[0]
        second = conn.execute(insert(BoundaryLayer).values(name="zonas", level="zone", is_primary=False,
                                                           version=1)).inserted_primary_key[0]
        ids = {}
        for k, code in enumerate(AREA_CODES):
            ids[code] = conn.execute(insert(Neighbourhood).values(
                layer_id=primary, code=code, name=f"Barrio {code}", name_key=code.lower(),
                district="Norte" if code.startswith("N") else "Sur", population=1000.0 * (k + 1), area_km2=1.0,
                geometry_wkb=shapely.to_wkb(box(k, 0, k + 1, 1)), active=True)).inserted_primary_key[0]
        zone = conn.execute(insert(Neighbourhood).values(
            layer_id=second, code="Z1", name="Zona 1", name_key="zona 1", population=None, area_km2=6.0,
            geometry_wkb=shapely.to_wkb(box(0, 0, 6, 1)), active=True)).inserted_primary_key[0]
        cats = dict(conn.execute(select(CrimeCategory.code, CrimeCategory.id)).all())
        sens = dict(conn.execute(select(CrimeCategory.code, CrimeCategory.sensitive)).all())
        rows = []
        for i in range(n):
            day = START + dt.timedelta(days=rnd.randrange(0, 910))
            cat = rnd.choice(CATEGORY_CODES)
            area = rnd.choice([*AREA_CODES, None])
            hour = rnd.choice([None, *range(24)])
            rows.append(dict(
                source_kind=rnd.choice(["police", "complaint"]), record_key=f"r{i}", content_hash=f"h{i}",
                batch_id=batch, profile="generic_incidents", occurred_on=day, occurred_month=day.replace(day=1),
                hour=hour, weekday=day.weekday(), category_id=cats[cat], original_label=cat,
                count=rnd.choice([1, 1, 1, 2, 5]), sensitive=sens[cat], neighbourhood_id=ids[area] if area else None,
                assignment="point" if area else None, victim_sex=rnd.choice([None, "F", "M", "X"]),
                victim_age_group=rnd.choice([None, "0-17", "18-29", "30-44", "60+"])))
        conn.execute(insert(Incident), rows)
        incident_ids = conn.execute(select(Incident.id).where(Incident.neighbourhood_id.is_not(None))).scalars()
        conn.execute(insert(IncidentArea), [{"incident_id": i, "layer_id": second, "neighbourhood_id": zone}
                                            for i in incident_ids])


def random_filters(count: int, seed: int = 9) -> list[Filters]:
    """Varied selections: day-level and month-aligned periods, categories and sections, sources,
    districts, neighbourhoods (small-area tables), victim sex and age, a secondary layer."""
    rnd = random.Random(seed)
    out = [Filters(), Filters(start="2022-03-01", end="2022-05-31"), Filters(categories=["nonexistent"]),
           Filters(start="2030-01-01"), Filters(neighbourhoods=["N1"]), Filters(layer="zonas"),
           Filters(districts=["Sur"], sex=["F"]), Filters(sections=["03"], age_groups=["18-29", "60+"])]
    while len(out) < count:
        start = START + dt.timedelta(days=rnd.randrange(0, 800))
        end = start + dt.timedelta(days=rnd.randrange(0, 400))
        out.append(Filters(
            start=rnd.choice([None, start]), end=rnd.choice([None, end]),
            categories=rnd.sample(CATEGORY_CODES, rnd.choice([0, 0, 1, 2])),
            sections=rnd.choice([(), (), ("02",), ("03", "01")]),
            source_kinds=rnd.choice([(), ("police",), ("complaint",)]),
            districts=rnd.choice([(), (), ("Norte",)]), neighbourhoods=rnd.choice([(), (), (), ("N2", "S1")]),
            sex=rnd.choice([(), (), ("F",), ("M", "X")]), age_groups=rnd.choice([(), (), ("30-44",)]),
            layer=rnd.choice([None, None, None, "zonas"])))
    return out


CALLS = {
    "counts_by_area": lambda e, f, r: q.counts_by_area(e, f, r),
    "area_counts": lambda e, f, r: q.area_counts(e, f, r),
    "unsuppressed_counts_by_area": lambda e, f, r: q.true_counts_by_area(e, f, "analyst"),
    "counts_by_area_month": lambda e, f, r: q.counts_by_area_month(e, f, r),
    "counts_by_month": lambda e, f, r: q.counts_by_month(e, f, r),
    "counts_by_month_by_category": lambda e, f, r: q.counts_by_month(e, f, r, by_category=True),
    "counts_by_category": lambda e, f, r: q.counts_by_category(e, f, r),
    "counts_by_hour_weekday": lambda e, f, r: q.counts_by_hour_weekday(e, f, r),
    "counts_by_day": lambda e, f, r: q.counts_by_day(e, f, r),
    "counts_by_day_total": lambda e, f, r: q.counts_by_day(e, f, r, by_category=False),
    "total": lambda e, f, r: q.total(e, f, r),
}


def assert_same(a, b, label: str) -> None:
    if isinstance(a, tuple):
        for x, y in zip(a, b, strict=True):
            assert_same(x, y, label)
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b, obj=label)
    else:
        assert a == b, label


def aggregate_statements(engine, fn, needle: str = "sum(incidents.count)") -> int:
    """How many statements containing ``needle`` (default: ``SUM(incidents.count)``, an aggregate)
    ``fn()`` sends to the database."""
    seen = []

    def grab(conn, cursor, statement, parameters, context, executemany):
        if needle in statement:
            seen.append(statement)

    event.listen(engine, "before_cursor_execute", grab)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    return len(seen)


def test_cube_gives_the_sql_answer_for_every_aggregate_filter_and_role(city, monkeypatch):
    checked = 0
    for filters in random_filters(40):
        for role in ("public", "analyst"):
            for name, call in CALLS.items():
                monkeypatch.setenv("OBSERVATORY_CUBE", "off")
                expected = call(city, filters, role)
                monkeypatch.setenv("OBSERVATORY_CUBE", "sync")
                got = call(city, filters, role)
                assert_same(got, expected, f"{name} {role} {filters}")
                checked += 1
    assert checked == 40 * 2 * len(CALLS)
    built = cube.current_cube(city)
    assert built is not None and built.rows == 4000
    # The positive control: the comparison above does see a difference when there is one.
    monkeypatch.setenv("OBSERVATORY_CUBE", "off")
    sql_total = q.total(city, Filters(), "analyst")
    assert sql_total == int(built.count.sum()) and sql_total > 4000


def test_cube_answers_without_sql_on_the_primary_layer_only(city):
    assert aggregate_statements(city, lambda: q.counts_by_area(city, Filters(sex=["F"]), "public")) == 0
    assert aggregate_statements(city, lambda: q.counts_by_month(city, Filters(), "public")) == 0
    # A secondary layer's areas come from incident_areas, which the cube does not hold: SQL answers.
    assert aggregate_statements(city, lambda: q.counts_by_area(city, Filters(layer="zonas"), "public")) == 1


def test_cube_holds_aggregate_columns_only_and_is_small(city):
    built = cube.current_cube(city)
    assert built.nbytes / built.rows <= 20  # bytes per incident: no coordinates, text or identifiers
    assert not {"lon", "lat", "address", "description", "id", "source_id"} & set(vars(built))
    assert np.all(np.diff(built.day) >= 0)  # sorted by date: a period is a slice


def test_cube_follows_a_new_import(city):
    before = q.total(city, Filters(), "analyst")
    old = cube.current_cube(city)
    with city.begin() as conn:
        batch = conn.execute(insert(ImportBatch).values(
            file_name="more.csv", sha256="3" * 64, source_kind="police", profile="generic_incidents",
            started_at=dt.datetime(2024, 8, 1), finished_at=dt.datetime(2024, 8, 1, 0, 1), status="done",
            total=1, loaded=1)).inserted_primary_key[0]
        theft = conn.execute(select(CrimeCategory.id).where(CrimeCategory.code == "theft")).scalar_one()
        conn.execute(insert(Incident).values(
            source_kind="police", record_key="new-1", content_hash="new-1", batch_id=batch,
            profile="generic_incidents", occurred_on=dt.date(2023, 5, 5), occurred_month=dt.date(2023, 5, 1),
            hour=3, weekday=4, category_id=theft, original_label="theft", count=7, sensitive=False))
    assert q.total(city, Filters(), "analyst") == before + 7
    new = cube.current_cube(city)
    assert new is not old and new.rows == old.rows + 1


def test_alias_add_is_recorded_so_caches_and_the_cube_see_the_reclassification(city):
    version = q.data_version(city)
    unclassified = Filters(categories=["unclassified"])
    stuck = q.total(city, unclassified, "analyst")
    assert stuck > 0
    with city.begin() as conn:
        theft = conn.execute(select(CrimeCategory.id).where(CrimeCategory.code == "theft")).scalar_one()
        changed = update_unclassified(conn, "unclassified", theft, False)
    assert changed > 0
    assert q.data_version(city) != version
    assert q.total(city, unclassified, "analyst") == 0
    history = q.import_history(city, "analyst")
    assert history.iloc[0]["source_kind"] == "reclassification" and "theft" in history.iloc[0]["file_name"]


def test_background_mode_answers_in_sql_until_the_cube_is_ready(city, monkeypatch):
    monkeypatch.setenv("OBSERVATORY_CUBE", "background")
    filters = Filters(districts=["Norte"])
    first = q.counts_by_area(city, filters, "public")
    deadline = time.monotonic() + 60
    while cube.current_cube(city) is None:
        assert time.monotonic() < deadline, "the background build never finished"
        time.sleep(0.05)
    assert aggregate_statements(city, lambda: q.counts_by_area(city, filters, "public")) == 0
    pd.testing.assert_frame_equal(q.counts_by_area(city, filters, "public"), first)


def test_too_many_rows_leave_the_answers_to_sql(city, monkeypatch):
    monkeypatch.setenv("OBSERVATORY_CUBE_MAX_ROWS", "100")
    assert cube.current_cube(city) is None
    assert aggregate_statements(city, lambda: q.counts_by_month(city, Filters(), "public")) == 1


def test_unknown_mode_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("OBSERVATORY_CUBE", "fast")
    with pytest.raises(ValueError, match="OBSERVATORY_CUBE"):
        cube.mode()
