"""The public grid and the sensitive-category rules of ``access.release``, its notices, the policy
settings, and what the queries return under a coarser configured grid (both backends)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from observatory import queries as q
from observatory.config import DisclosurePolicy, disclosure_policy
from observatory.queries import Filters, access
from observatory.taxonomy import CATEGORIES

CATS = pd.DataFrame([(c.code, c.iccs_section, c.sensitive) for c in CATEGORIES],
                    columns=["code", "iccs_section", "sensitive"])
SENSITIVE = {"rape", "sexual_assault", "other_sexual", "domestic_violence"}


def test_the_taxonomy_flags_sexual_and_domestic_violence():
    assert set(CATS.loc[CATS["sensitive"], "code"]) == SENSITIVE


@pytest.mark.parametrize(("day", "unit", "start", "end"), [
    ("2024-02-29", "month", "2024-02-01", "2024-02-29"),
    ("2024-05-17", "quarter", "2024-04-01", "2024-06-30"),
    ("2024-12-31", "quarter", "2024-10-01", "2024-12-31"),
    ("2023-07-04", "year", "2023-01-01", "2023-12-31"),
])
def test_periods_snap_outward(day, unit, start, end):
    d = dt.date.fromisoformat(day)
    assert access.period_start(d, unit) == dt.date.fromisoformat(start)
    assert access.period_end(d, unit) == dt.date.fromisoformat(end)


def test_public_windows_snap_to_months_and_analysts_keep_theirs(monkeypatch):
    f = Filters(start="2024-01-10", end="2024-03-05", categories=["theft"])
    # Calendar windows (the default): the one calendar period holding the window, the quarter.
    rel = access.release(f, "public", "city", "window", CATS)
    assert (rel.filters.start, rel.filters.end) == (dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    assert "snapped_to_quarter" in rel.notices and rel.unit == "month"
    two_quarters = access.release(f.replace(end="2024-04-05"), "public", "city", "window", CATS)
    assert (two_quarters.filters.start, two_quarters.filters.end) == (dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    assert "snapped_to_year" in two_quarters.notices
    monkeypatch.setenv("OBSERVATORY_PUBLIC_WINDOWS", "free")  # any run of whole months
    rel = access.release(f, "public", "city", "window", CATS)
    assert (rel.filters.start, rel.filters.end) == (dt.date(2024, 1, 1), dt.date(2024, 3, 31))
    assert "snapped_to_month" in rel.notices and "perturbed" in rel.notices
    assert not rel.small_area and rel.unit == "month"
    assert access.release(f, "analyst", "city", "window", CATS) == access.Release(f)
    aligned = access.release(f.replace(start="2024-01-01", end="2024-03-31"), "public", "city", "window", CATS)
    assert "snapped_to_month" not in aligned.notices


def test_sensitive_categories_are_left_out_of_every_finer_table(monkeypatch):
    everything = Filters(start="2024-01-01", end="2024-03-31")
    for level, grain in (("area", "window"), ("area", "period"), ("city", "period"), ("city", "hour"),
                         ("district", "hour"), ("district", "period")):
        rel = access.release(everything, "public", level, grain, CATS)
        assert rel.sensitive_withheld and "sensitive_coarse_only" in rel.notices, (level, grain)
        assert not set(rel.filters.categories) & SENSITIVE
        assert set(rel.filters.categories) == set(CATS["code"]) - SENSITIVE and rel.filters.sections == ()
    # District and city tables over whole quarters keep them (the coarse grid).
    for level in ("district", "city"):
        rel = access.release(everything, "public", level, "window", CATS)
        assert not rel.sensitive_withheld and rel.filters.categories == ()
    # ...but not over a single month, nor with a neighbourhood selected.
    assert access.release(everything.replace(end="2024-01-31"), "public", "city", "window", CATS).sensitive_withheld
    # Two months widen to their quarter with calendar windows (the default), which keeps them;
    # with free windows they stay two months, finer than the quarter: left out.
    assert not access.release(everything.replace(end="2024-02-29"), "public", "city", "window",
                              CATS).sensitive_withheld
    monkeypatch.setenv("OBSERVATORY_PUBLIC_WINDOWS", "free")
    assert access.release(everything.replace(end="2024-02-29"), "public", "city", "window", CATS).sensitive_withheld
    assert access.release(everything.replace(neighbourhoods=["A1"]), "public", "city", "window",
                          CATS).sensitive_withheld


def test_a_sensitive_only_selection_gets_whole_quarters_or_nothing():
    rape = Filters(start="2024-05-20", end="2024-05-20", categories=["rape"])
    coarse = access.release(rape, "public", "district", "window", CATS)
    assert (coarse.filters.start, coarse.filters.end) == (dt.date(2024, 4, 1), dt.date(2024, 6, 30))
    assert coarse.unit == "quarter" and coarse.sensitive_cells and "snapped_to_quarter" in coarse.notices
    series = access.release(rape, "public", "city", "period", CATS)
    assert series.unit == "quarter" and series.sensitive_cells
    for level, grain in (("area", "window"), ("city", "hour")):
        fine = access.release(rape, "public", level, grain, CATS)
        assert fine.nothing_left and fine.filters.categories == (access.NO_CATEGORY,)
    section = access.release(Filters(sections=["03"]), "public", "area", "window", CATS)
    assert section.nothing_left  # a section of sensitive categories only, expanded


def test_victim_filters_are_dropped_and_district_selections_are_small_area():
    f = Filters(districts=["Norte"], sex=["F"], age_groups=["0-17"])
    rel = access.release(f, "public", "city", "window", CATS)
    assert rel.filters.sex == () and rel.filters.age_groups == ()
    assert "victim_filters_public" in rel.notices
    assert rel.small_area and "small_counts_suppressed" in rel.notices
    assert f.is_area_restricted and Filters(neighbourhoods=["A1"]).is_area_restricted
    assert not Filters().is_area_restricted


def test_public_notices(monkeypatch):
    assert q.public_notices(Filters(), "analyst") == []
    assert q.public_notices(Filters(), "public") == ["perturbed", "small_counts_suppressed", "sensitive_coarse_only"]
    # Calendar windows (the default): an open-ended window is whole years; two sections are all.
    assert q.public_notices(Filters(start="2024-01-03", categories=["theft"]), "public") == [
        "perturbed", "small_counts_suppressed", "snapped_to_year"]
    assert "categories_widened" in q.public_notices(Filters(categories=["theft", "homicide"]), "public")
    assert "categories_widened" not in q.public_notices(Filters(sections=["03"]), "public")
    monkeypatch.setenv("OBSERVATORY_PUBLIC_WINDOWS", "free")
    notices = q.public_notices(Filters(start="2024-01-03", categories=["rape"], sex=["F"]), "public")
    # Area tables leave rape out (their window still snaps to months); coarse tables use quarters.
    assert notices == ["perturbed", "small_counts_suppressed", "snapped_to_month", "snapped_to_quarter",
                       "sensitive_coarse_only", "victim_filters_public"]
    assert set(notices) <= set(access.NOTICES)
    theft = q.public_notices(Filters(start="2024-01-03", categories=["theft"]), "public")
    assert theft == ["perturbed", "small_counts_suppressed", "snapped_to_month"]


def test_policy_settings_and_their_errors(monkeypatch):
    assert disclosure_policy() == DisclosurePolicy()
    assert DisclosurePolicy().public_windows == "calendar"  # the default: no averaging of windows
    monkeypatch.setenv("OBSERVATORY_NOISE_D", "3")
    monkeypatch.setenv("OBSERVATORY_PUBLIC_UNIT", "Quarter")
    monkeypatch.setenv("OBSERVATORY_SENSITIVE_UNIT", "year")
    monkeypatch.setenv("OBSERVATORY_SENSITIVE_LEVELS", "city")
    policy = disclosure_policy()
    assert (policy.max_noise, policy.public_unit, policy.sensitive_unit, policy.sensitive_levels) == (
        3, "quarter", "year", ("city",))
    with pytest.raises(ValueError, match="public_unit"):
        DisclosurePolicy(public_unit="week")
    with pytest.raises(ValueError, match="finer than the public unit"):
        DisclosurePolicy(public_unit="year", sensitive_unit="quarter")
    with pytest.raises(ValueError, match="sensitive levels"):
        DisclosurePolicy(sensitive_levels=("area",))


def test_a_quarterly_public_grid_answers_in_quarters_in_sql_and_cube(city, monkeypatch):
    monkeypatch.setenv("OBSERVATORY_PUBLIC_UNIT", "quarter")
    f = Filters(start="2022-02-10", end="2022-08-03", categories=["theft", "homicide"])
    frames = {}
    for mode in ("off", "sync"):
        monkeypatch.setenv("OBSERVATORY_CUBE", mode)
        frames[mode] = (q.counts_by_area_month(city, f, "public"), q.counts_by_month(city, f, "public"),
                        q.counts_by_day(city, f, "public"))
    for sql, mem in zip(*frames.values(), strict=True):
        pd.testing.assert_frame_equal(sql, mem)
    area_month, month, day = frames["sync"]
    # The window (three quarters) widens to its calendar year; the two sections to every category.
    rel = access.release(f, "public", "area", "period", q.categories(city))
    assert (rel.filters.start, rel.filters.end) == (dt.date(2022, 1, 1), dt.date(2022, 12, 31))
    quarters = pd.period_range(rel.filters.start, rel.filters.end, freq="Q").start_time.strftime("%Y-%m").tolist()
    assert len(quarters) == 4
    assert sorted(area_month["month"].dt.strftime("%Y-%m").unique()) == quarters
    assert month["month"].dt.strftime("%Y-%m").tolist() == quarters
    assert set(day["occurred_on"].dt.strftime("%Y-%m")) <= set(quarters)
    # Each quarter's published value is the perturbation of the quarter's true count.
    city_rel = access.release(f, "public", "city", "period", q.categories(city))
    truth = q.counts_by_month(city, city_rel.filters, "analyst")
    quarters = truth.groupby(truth["month"].dt.quarter)["count"].sum().astype(int).tolist()
    assert all(abs(int(p) - t) <= 2 for p, t in zip(month["count"], quarters, strict=True))


def test_every_notice_is_translated_with_the_policy_values(monkeypatch):
    from observatory.web.i18n import LANGUAGES, t

    monkeypatch.setenv("OBSERVATORY_NOISE_D", "3")
    monkeypatch.setenv("OBSERVATORY_SUPPRESSION_K", "10")
    assert access.notice_values() == {"k": 10, "d": 3}
    for lang in LANGUAGES:
        texts = {key: t(f"notice.{key}", lang, **access.notice_values()) for key in access.NOTICES}
        assert all("{" not in text and text for text in texts.values())
        assert "3" in texts["perturbed"] and "10" in texts["small_counts_suppressed"]


def test_open_ends_take_the_stored_span_and_count_as_whole_quarters(monkeypatch):
    bounds = (dt.date(2024, 1, 5), dt.date(2024, 5, 20))
    # Calendar windows (the default): open ends take the stored span's whole years.
    rel = access.release(Filters(), "public", "city", "window", CATS, bounds=bounds)
    assert (rel.filters.start, rel.filters.end) == (dt.date(2024, 1, 1), dt.date(2024, 12, 31))
    assert not rel.sensitive_withheld
    monkeypatch.setenv("OBSERVATORY_PUBLIC_WINDOWS", "free")  # the stored span's own months
    rel = access.release(Filters(), "public", "city", "window", CATS, bounds=bounds)
    assert (rel.filters.start, rel.filters.end) == (dt.date(2024, 1, 1), dt.date(2024, 5, 31))
    assert not rel.sensitive_withheld  # "all the data" is not a partial quarter of it
    closed = access.release(Filters(start="2024-01-01", end="2024-05-31"), "public", "city", "window", CATS)
    assert closed.sensitive_withheld
    rape = access.release(Filters(categories=["rape"], end="2024-02-10"), "public", "district", "window", CATS,
                          bounds=bounds)
    assert (rape.filters.start, rape.filters.end) == (dt.date(2024, 1, 1), dt.date(2024, 3, 31))


@pytest.mark.parametrize(("start", "end", "expected", "unit"), [
    ("2024-02-03", "2024-02-20", ("2024-02-01", "2024-02-29"), "month"),
    ("2024-02-03", "2024-03-20", ("2024-01-01", "2024-03-31"), "quarter"),
    ("2024-02-03", "2024-05-20", ("2024-01-01", "2024-12-31"), "year"),
    ("2023-11-03", "2024-05-20", ("2023-01-01", "2024-12-31"), "year"),
])
def test_calendar_windows_are_one_calendar_period_or_whole_years(monkeypatch, start, end, expected, unit):
    widened, period = access.calendar_window(Filters(start=start, end=end), "month")
    assert (widened.start.isoformat(), widened.end.isoformat()) == expected and period == unit
    monkeypatch.setenv("OBSERVATORY_PUBLIC_WINDOWS", "calendar")
    rel = access.release(Filters(start=start, end=end, categories=["theft"]), "public", "area", "window", CATS)
    assert (rel.filters.start.isoformat(), rel.filters.end.isoformat()) == expected
    assert (f"snapped_to_{unit}" in rel.notices) == ((start, end) != expected)
    opened = access.release(Filters(end=end), "public", "area", "window", CATS,
                            bounds=(dt.date(2022, 3, 4), dt.date(2024, 8, 9)))
    assert (opened.filters.start, opened.filters.end) == (dt.date(2022, 1, 1), dt.date(2024, 12, 31))
    with pytest.raises(ValueError, match="public_windows"):
        DisclosurePolicy(public_windows="any")


def test_public_labels_need_k_records_sharing_them():
    """An unclassified label reaches the public only when at least k records carry it (summed over
    profiles and source kinds): a one-off label may be an address from a column-shifted export."""
    k = disclosure_policy().k
    frame = pd.DataFrame({
        "label": ["ROBO RARO", "ROBO RARO", "Av. Insurgentes Sur 1234", "DAÑO EXTRAÑO"],
        "profile": ["cdmx_ssp", "cdmx_fgj", "cdmx_ssp", "cdmx_ssp"],
        "source_kind": ["police", "complaints", "police", "police"],
        "records": [k - 2, 2, 1, k - 1],
        "count": [k - 2, 2, 1, k - 1]})
    public = access.public_labels(frame, "public")
    shared = {lab for lab, n in frame.groupby("label")["records"].sum().items() if n >= k}
    assert set(public["label"]) == shared == {"ROBO RARO"} and len(public) == 2
    assert list(public.columns) == list(frame.columns)
    for role in ("analyst", "admin"):
        pd.testing.assert_frame_equal(access.public_labels(frame, role), frame)
