"""The cube's fast paths give the answers of its plain path: the area index, the cells shared
within a ``cube.pinned()`` block (a coarser table summed from a finer one), the version read once
per block, the memoised releases; and the profile's area lookup by id."""

from __future__ import annotations

import datetime as dt

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import box

from observatory.queries import Filters, _aggregate, cube
from tests.test_queries_cube import CALLS, aggregate_statements, assert_same, random_filters


def test_pinned_block_gives_the_same_frames_and_sums_coarser_tables_from_finer(city, monkeypatch):
    filters = random_filters(24)
    expected = {(i, role, name): call(city, f, role) for i, f in enumerate(filters)
                for role in ("public", "analyst") for name, call in CALLS.items()}
    selections = []
    plain = cube.selection
    monkeypatch.setattr(cube, "selection", lambda c, f: selections.append(f) or plain(c, f))
    asked = []
    plain_cells = cube._cells
    monkeypatch.setattr(cube, "_cells", lambda *a: asked.append(a) or plain_cells(*a))
    with cube.pinned():  # one block: every later table may be summed from an earlier one's cells
        for (i, role, name), want in expected.items():
            assert_same(CALLS[name](city, filters[i], role), want, f"{name} {role} {filters[i]}")
    # The positive control: some tables were summed from kept cells, not read again from the rows.
    assert len(selections) < len(asked)
    assert not cube._CELLS.get()  # the kept cells live only as long as the block


def test_a_derived_table_equals_the_direct_one_cell_for_cell(city):
    built = cube.current_cube(city)
    inc = cube.INCIDENTS.c
    f = Filters(start=dt.date(2022, 2, 3), end=dt.date(2023, 9, 30), sections=("02", "03"))
    fine = {"month": inc.occurred_month, "category_id": inc.category_id, "neighbourhood_id": inc.neighbourhood_id}
    coarse = [{"category_id": inc.category_id}, {"neighbourhood_id": inc.neighbourhood_id},
              {"neighbourhood_id": inc.neighbourhood_id, "month": inc.occurred_month}, {}]
    direct = [cube.aggregate(built, f, keys, True) for keys in coarse]
    with cube.pinned():
        cube.aggregate(built, f, fine, True)
        derived = [cube.aggregate(built, f, keys, True) for keys in coarse]
        kept = cube._CELLS.get()[(id(built), cube.without_categories(f), True)]
        assert len(kept) == 1  # all summed from the one kept table
    for a, b in zip(derived, direct, strict=True):
        pd.testing.assert_frame_equal(a, b)
    # Sums the test computes itself: the derived total is every incident's count of the window.
    rows, mask = cube.selection(built, f)
    counts = built.count[rows] if mask is None else built.count[rows][mask]
    assert int(derived[-1]["count"].iloc[0]) == int(counts.sum()) > 0


def test_narrower_category_tables_come_from_a_widened_read_and_equal_the_direct_ones(city, monkeypatch):
    """The public's selections name most categories: the cube reads every category grouped by
    category, and the selected categories' tables (and the other selections' of the same rows) are
    narrowed from those cells. Each equals the table read directly with the category mask."""
    built = cube.current_cube(city)
    inc = cube.INCIDENTS.c
    cats = built.categories.sort_values("id")
    most = tuple(cats["code"].iloc[1:])  # every category but the first: most of the rows
    few = tuple(cats["code"].iloc[:2])
    window = {"start": dt.date(2022, 1, 1), "end": dt.date(2023, 12, 31)}
    asks = [(Filters(**window, categories=most), {"month": inc.occurred_month, "category_id": inc.category_id}),
            (Filters(**window, categories=most), {"neighbourhood_id": inc.neighbourhood_id}),
            (Filters(**window), {"category_id": inc.category_id}),
            (Filters(**window, categories=most), {}),
            (Filters(**window, categories=few), {"month": inc.occurred_month}),
            (Filters(**window, sections=("02",)), {"category_id": inc.category_id})]
    # Direct: with widening switched off every table masks its own categories.
    monkeypatch.setattr(cube, "widens", lambda *a: False)
    direct = [cube.aggregate(built, f, keys, True) for f, keys in asks]
    monkeypatch.undo()
    scans = []
    plain = cube._scan
    monkeypatch.setattr(cube, "_scan", lambda c, f, cols, k: scans.append((f, cols)) or plain(c, f, cols, k))
    with cube.pinned():
        derived = [cube.aggregate(built, f, keys, True) for f, keys in asks]
    for a, b, (f, keys) in zip(derived, direct, asks, strict=True):
        pd.testing.assert_frame_equal(a, b, obj=f"{f} {list(keys)}")
    # The positive control: the first ask read every category, grouped by month and category, and
    # the area table read every category grouped by area and category; nothing else read rows.
    assert scans == [(Filters(**window), ("occurred_month", "category_id")),
                     (Filters(**window), ("neighbourhood_id", "category_id"))]
    # Sums the test computes itself: the narrowed total is the selected categories' rows' counts.
    rows, _ = cube.selection(built, Filters(**window))
    keep = np.isin(built.category[rows], cats["id"].iloc[1:].to_numpy())
    assert int(derived[3]["count"].iloc[0]) == int(built.count[rows][keep].sum()) > 0


def test_version_is_read_once_per_pinned_block(city):
    cube.current_cube(city)

    def pinned_asks() -> None:
        with cube.pinned():
            for _ in range(5):
                assert cube.current_cube(city) is not None

    def plain_asks() -> None:
        cube.current_cube(city)
        cube.current_cube(city)

    # The version is read from import_batches: once for the block, every time outside one.
    assert aggregate_statements(city, pinned_asks, "import_batches") == 1
    assert aggregate_statements(city, plain_asks, "import_batches") == 2


def test_area_index_selects_the_rows_of_the_mask(city):
    built = cube.current_cube(city)
    ids = [int(i) for i in built.primary_areas["id"]]
    for wanted in ([ids[0]], [ids[1], ids[4]], [ids[2], 999_999]):
        for window in (slice(0, built.rows), slice(built.rows // 3, built.rows // 2), slice(5, 5)):
            mask = np.isin(built.area[window], wanted)
            expected = np.flatnonzero(mask) + window.start
            got = cube._area_rows(built, wanted, window)
            if got is None:  # the areas hold more than a quarter of the window: the mask path answers
                assert int(np.isin(built.area, wanted).sum()) * 4 > window.stop - window.start
                continue
            np.testing.assert_array_equal(np.sort(got), expected)
    assert cube._area_rows(built, ids, slice(0, built.rows)) is None  # every area: a mask is cheaper


def test_releases_are_memoised_per_policy(city, monkeypatch):
    f = Filters(start="2022-03-05", end="2022-03-20")
    first = _aggregate._release(city, f, "public", "area", "window")
    assert _aggregate._release(city, f, "public", "area", "window") is first
    assert first.unit == "month" and first.filters.start == dt.date(2022, 3, 1)
    monkeypatch.setenv("OBSERVATORY_PUBLIC_UNIT", "quarter")  # another policy: another release
    other = _aggregate._release(city, f, "public", "area", "window")
    assert other.unit == "quarter" and other.filters.end == dt.date(2022, 3, 31)


def test_area_row_by_id_or_code(monkeypatch):
    from observatory.web.data import profile
    from observatory.web.state import ViewState

    gdf = gpd.GeoDataFrame({"id": [7, 12, 480], "code": ["0480", "N12", "X"], "name": ["a", "b", "c"]},
                           geometry=[box(i, 0, i + 1, 1) for i in range(3)], crs="EPSG:4326")
    monkeypatch.setattr(profile, "areas", lambda: gdf)

    def row(area: str):
        found = profile.area_row(ViewState(area=area))
        return None if found is None else found["name"]

    assert row("480") == "c"  # an id
    assert row("0480") == "a"  # not an id written with a zero: the code "0480"
    assert row("N12") == "b" and row("12") == "b"
    assert row("13") is None and row("+7") is None
