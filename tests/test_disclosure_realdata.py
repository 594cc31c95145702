"""Issue 9's attacks replayed at the query layer on the real Mexico City police points.

132,692 SSP incidents (2013-2016) imported with the real importer (profile ``cdmx_ssp``) on the
847 police quadrants of ``cuadrantes.geojson`` (district = alcaldía), once per module, on
SQLite. Each test asks the public queries what an attacker would and compares the answers
with the true counts (analyst role). The figures asserted here are the ones docs/disclosure.md
quotes.
"""

from __future__ import annotations

import datetime as dt
import uuid

import numpy as np
import pandas as pd
import pytest

from observatory import queries as q
from observatory.db.session import get_engine
from observatory.ingest.boundaries import import_boundaries
from observatory.ingest.incidents import ingest_incidents
from observatory.queries import Filters, access, cellkey
from tests.conftest import module_sqlite, realdata

pytestmark = pytest.mark.realdata

K = 5


@pytest.fixture(scope="module")
def cdmx(tmp_path_factory):
    """(engine, non-sensitive category codes) of the real data, k and the policy at their defaults."""
    with module_sqlite(tmp_path_factory.mktemp(f"dc-{uuid.uuid4().hex[:6]}")) as url:
        engine = get_engine(url)
        import_boundaries(realdata("cdmx", "cuadrantes.geojson"), layer="cuadrantes", id_field="cuadrante",
                          name_field="cuadrante", district_field="alcaldia", engine=engine)
        report = ingest_incidents(realdata("cdmx", "ssp_cdmx_crime_lat_long_2013_2016.csv"), source_kind="police",
                                  profile="cdmx_ssp", engine=engine)
        assert report.loaded == 132692
        cats = q.categories(engine)
        yield engine, [c for c, s in zip(cats["code"], cats["sensitive"], strict=True) if not s]


def month_end(year: int, month: int) -> dt.date:
    return (dt.date(year, month, 1) + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


def by_code(frame: pd.DataFrame) -> pd.Series:
    return frame.set_index("code")["count"].astype("float64")


def difference_noise_law(d: int = 2) -> dict[int, float]:
    """Law of n1 - n2 for two independent ptable noises (cells of at least D incidents)."""
    p = {j: n / cellkey.KEY_SPACE for j, n in cellkey.noise_distribution(d).items()}
    out: dict[int, float] = {}
    for a, pa in p.items():
        for b, pb in p.items():
            out[a - b] = out.get(a - b, 0.0) + pa * pb
    return out


def _month_differences(engine, plain) -> pd.Series:
    """Month m per quadrant = window(..end m) - window(..end m-1) (13 public requests), minus the
    true count, over the suppressed quadrant-months of 2015 with incidents."""
    year = Filters(start="2015-01-01", end="2015-12-31")
    truth = q.counts_by_area_month(engine, year.replace(categories=plain), "analyst")
    direct = q.counts_by_area_month(engine, year, "public")
    prev = by_code(q.counts_by_area(engine, Filters(end="2014-12-31"), "public"))
    rows = []
    for m in range(1, 13):
        cur = by_code(q.counts_by_area(engine, Filters(end=month_end(2015, m)), "public"))
        rows.append(pd.DataFrame({"code": cur.index, "month": pd.Timestamp(2015, m, 1), "est": (cur - prev).values}))
        prev = cur
    cells = (truth[["code", "month", "count"]]
             .merge(direct[["code", "month", "suppressed"]], on=["code", "month"])
             .merge(pd.concat(rows), on=["code", "month"]))
    target = cells[cells["suppressed"] & cells["est"].notna() & (cells["count"] >= 1)]
    return (target["est"] - target["count"].astype(float)).astype(int)


def test_month_differencing_is_wrong_by_the_ptable_margin(cdmx, monkeypatch):
    """Finding 3: month m per quadrant = window(..end m) - window(..end m-1). Before: 23,106 of
    23,110 suppressed area-months recovered exactly. Now each window carries its own noise
    (free windows) or the windows are whole calendar years and the differences are no months."""
    engine, plain = cdmx
    calendar = _month_differences(engine, plain)
    print(f"\nmonth differencing (calendar): {int((calendar == 0).sum())} of {len(calendar)} recovered exactly")
    assert len(calendar) > 5000 and int((calendar == 0).sum()) == 0
    monkeypatch.setenv("OBSERVATORY_PUBLIC_WINDOWS", "free")
    err = _month_differences(engine, plain)
    target = err
    assert len(target) > 5000
    exact = float((err == 0).mean())
    law = difference_noise_law()
    # Stated margin: exact in sum(p^2) = 23.8% of the cells, off by 1 to 4 in the rest.
    assert law[0] == pytest.approx(15584 / 65536)
    assert abs(exact - law[0]) < 0.03, exact
    assert err.abs().max() <= 4
    observed = err.value_counts(normalize=True)
    for j, pj in law.items():
        assert abs(observed.get(j, 0.0) - pj) < 0.03, (j, observed.get(j, 0.0), pj)
    print(f"\nmonth differencing: {int((err == 0).sum())} of {len(target)} suppressed area-months "
          f"with incidents recovered exactly ({exact:.1%})")


def _window_averaging(engine, plain) -> tuple[dict[int, float], int]:
    """Exact-recovery rate of June 2015 per quadrant from the mean of 1 and 12 window-pair differences."""
    june = Filters(start="2015-06-01", end="2015-06-30")
    truth = by_code(q.counts_by_area(engine, june.replace(categories=plain), "analyst"))
    direct = q.counts_by_area(engine, june, "public").set_index("code")
    estimates = []
    for k in range(12):  # 24 public requests
        start = dt.date(2013 + k // 12, k % 12 + 1, 1) if k < 12 else None
        w1 = by_code(q.counts_by_area(engine, Filters(start=start, end="2015-06-30"), "public"))
        w0 = by_code(q.counts_by_area(engine, Filters(start=start, end="2015-05-31"), "public"))
        estimates.append(w1 - w0)
    est = pd.concat(estimates, axis=1)
    target = direct["suppressed"] & (truth >= 1) & est.notna().all(axis=1)
    rates = {n: float((est.iloc[:, :n].mean(axis=1).round() == truth)[target].mean()) for n in (1, 12)}
    return rates, int(target.sum())


def test_averaging_many_windows_is_the_documented_residual_risk(cdmx, monkeypatch):
    """Averaging the differences of many windows that all end on month m shrinks the noise:
    the residual risk docs/disclosure.md states for free windows (non-sensitive counts only);
    with calendar windows (the default) every window is whole years or a calendar period and
    the differences are no month: nothing recovered."""
    engine, plain = cdmx
    calendar, cells = _window_averaging(engine, plain)
    print(f"\naveraging windows (calendar): exact {calendar[1]:.0%} with 1 pair, {calendar[12]:.0%} with 12 "
          f"({cells} suppressed quadrants of June 2015)")
    assert cells > 300 and calendar == {1: 0.0, 12: 0.0}
    monkeypatch.setenv("OBSERVATORY_PUBLIC_WINDOWS", "free")
    rates, cells = _window_averaging(engine, plain)
    print(f"averaging windows (free): exact {rates[1]:.0%} with 1 window pair, {rates[12]:.0%} with 12 "
          f"({cells} suppressed quadrants of June 2015)")
    assert cells > 300
    assert rates[1] < 0.32
    assert rates[12] < 0.8  # docs/disclosure.md: about two thirds


def test_day_windows_snap_to_whole_months(cdmx):
    """Finding 3 (days): a day window answers for its whole month, so day differencing recovers nothing."""
    engine, _ = cdmx
    march = Filters(start="2015-03-01", end="2015-03-31")
    expected = {name: call(march) for name, call in {
        "area": lambda f: q.counts_by_area(engine, f, "public"),
        "hour": lambda f: q.counts_by_hour_weekday(engine, f, "public"),
        "district": lambda f: q.counts_by_district(engine, f, "public"),
    }.items()}
    for day in (1, 2, 14, 15, 31):
        one = Filters(start=dt.date(2015, 3, day), end=dt.date(2015, 3, day))
        pd.testing.assert_frame_equal(q.counts_by_area(engine, one, "public"), expected["area"])
        pd.testing.assert_frame_equal(q.counts_by_hour_weekday(engine, one, "public"), expected["hour"])
        pd.testing.assert_frame_equal(q.counts_by_district(engine, one, "public"), expected["district"])
    days = q.counts_by_day(engine, Filters(start="2015-03-04", end="2015-03-20"), "public")
    assert set(days["occurred_on"].dt.strftime("%Y-%m-%d")) == {"2015-03-01"}
    analyst_days = q.counts_by_day(engine, march, "analyst", by_category=False)
    assert len(analyst_days) == 31  # the analyst still has every day


def test_rape_day_bisection_returns_nothing_finer_than_district_by_quarter(cdmx):
    """Finding 3 (bisection): with cat=rape, windows down to one day gave the exact dates of 51 rapes."""
    engine, _ = cdmx
    rape = Filters(categories=["rape"])
    quarter = rape.replace(start="2015-04-01", end="2015-06-30")
    by_quarter = {"district": q.counts_by_district(engine, quarter, "public"),
                  "total": q.total(engine, quarter, "public")}
    true_days = q.counts_by_day(engine, quarter, "analyst", by_category=False)
    assert len(true_days) > 40  # rapes on most days of the quarter
    for start, end in (("2015-04-01", "2015-05-15"), ("2015-05-16", "2015-06-30"), ("2015-05-20", "2015-05-20")):
        window = rape.replace(start=start, end=end)
        pd.testing.assert_frame_equal(q.counts_by_district(engine, window, "public"), by_quarter["district"])
        assert q.total(engine, window, "public") == by_quarter["total"]
        quadrants = q.counts_by_area(engine, window, "public")
        assert quadrants["count"].isna().all() and quadrants["sensitive_withheld"].all()
        hours = q.counts_by_hour_weekday(engine, window, "public")
        assert hours["count"].isna().all()  # never a row of zeros that would read "no rape then"
        assert q.counts_by_area_month(engine, window, "public")["count"].isna().all()
    series = q.counts_by_month(engine, rape.replace(start="2015-01-01", end="2015-12-31"), "public")
    assert series["month"].dt.strftime("%m").tolist() == ["01", "04", "07", "10"]  # quarters only
    days = q.counts_by_day(engine, quarter, "public", by_category=False)
    assert days["occurred_on"].dt.strftime("%Y-%m-%d").tolist() == ["2015-04-01"]
    truth = int(true_days["count"].sum())
    assert abs(int(days["count"].iloc[0]) - truth) <= 2 and int(days["count"].iloc[0]) == by_quarter["total"]


def test_victim_filters_have_no_effect_for_the_public(cdmx):
    """Finding 4: victim sex and age are not applied for the public (these data have none:
    the analyst's filter matches nothing, the public's changes nothing)."""
    engine, _ = cdmx
    base = Filters(start="2015-01-01", end="2015-03-31", categories=["rape", "robbery_person"])
    victims = base.replace(sex=["F"], age_groups=["0-17"])
    for call in (q.counts_by_area, q.counts_by_district, q.counts_by_month, q.counts_by_hour_weekday):
        pd.testing.assert_frame_equal(call(engine, victims, "public"), call(engine, base, "public"))
    assert q.total(engine, victims, "public") == q.total(engine, base, "public") > 0
    assert q.total(engine, victims, "analyst") == 0
    assert "victim_filters_public" in q.public_notices(victims, "public")


def test_district_tables_are_suppressed_and_perturbed(cdmx):
    """Finding 5: 121 district-months of 2015 with 1-4 rapes were published, with weekday and hour."""
    engine, plain = cdmx
    published_small, cells, within = 0, 0, 0
    for m in range(1, 13):
        window = Filters(start=dt.date(2015, m, 1), end=month_end(2015, m), categories=["rape"])
        shown = q.counts_by_district(engine, window, "public").set_index("district")
        published_small += int(((shown["count"] > 0) & (shown["count"] < K)).sum())
        # A month of rape answers for its quarter (district x quarter is the coarse grid).
        start = dt.date(2015, (m - 1) // 3 * 3 + 1, 1)
        true = q.counts_by_district(engine, window.replace(start=start, end=month_end(2015, start.month + 2)),
                                    "analyst").set_index("district")["count"]
        gap = (shown["count"].astype("float64") - true.astype("float64")).dropna()
        cells += len(gap)
        within += int((gap.abs() <= 2).sum())
        # Below k - D no noise lifts a cell to k; 3 and 4 may read 5 or 6 (nobody can tell which).
        assert shown.loc[true < K - 2, "suppressed"].all()
        hours = q.counts_by_hour_weekday(engine, window.replace(districts=["IZTAPALAPA"]), "public")
        assert hours["count"].isna().all()
    assert published_small == 0
    assert cells > 0 and within == cells
    # All crimes by district for one month: rape left out (finer than a quarter), the rest perturbed.
    month = q.counts_by_district(engine, Filters(start="2015-02-01", end="2015-02-28"), "public")
    true = q.counts_by_district(engine, Filters(start="2015-02-01", end="2015-02-28", categories=plain), "analyst")
    assert month["sensitive_withheld"].all()
    gap = (month["count"].astype("float64") - true["count"].astype("float64")).abs()
    assert gap.max() <= 2 and (gap > 0).any()


def test_public_figures_are_perturbed_but_close(cdmx):
    """Utility: the city's monthly series moves by at most D from the truth (sensitive left out)."""
    engine, plain = cdmx
    f = Filters(start="2013-01-01", end="2016-06-30")
    shown = q.counts_by_month(engine, f, "public")["count"].astype(int).to_numpy()
    # Calendar windows: 3.5 years widen to whole years (2013-2016), every category to all.
    rel = access.release(f, "public", "city", "period", q.categories(engine))
    assert (rel.filters.start, rel.filters.end) == (dt.date(2013, 1, 1), dt.date(2016, 12, 31))
    truth = q.counts_by_month(engine, rel.filters.replace(categories=plain), "analyst")["count"].astype(int).to_numpy()
    assert len(shown) == len(pd.period_range(rel.filters.start, rel.filters.end, freq="M")) == 48
    assert np.abs(shown - truth).max() <= 2 and (shown != truth).any()


def noise_sum_law(n: int, d: int = 2) -> dict[int, float]:
    """Law of the sum of ``n`` independent ptable noises (symmetric, so signs do not matter)."""
    p = {j: c / cellkey.KEY_SPACE for j, c in cellkey.noise_distribution(d).items()}
    out = {0: 1.0}
    for _ in range(n):
        nxt: dict[int, float] = {}
        for a, pa in out.items():
            for b, pb in p.items():
                nxt[a + b] = nxt.get(a + b, 0.0) + pa * pb
        out = nxt
    return out


def test_calendar_windows_stop_window_differencing_and_averaging(cdmx, monkeypatch):
    """OBSERVATORY_PUBLIC_WINDOWS=calendar: a window is one calendar month, quarter or year (or
    whole years), so the cumulative windows of the two attacks above collapse onto the same few
    windows. What is left is subtracting published sibling periods, with three noises."""
    engine, plain = cdmx
    monkeypatch.setenv("OBSERVATORY_PUBLIC_WINDOWS", "calendar")
    rel = q.counts_by_area(engine, Filters(start="2015-02-01", end="2015-06-30"), "public")
    pd.testing.assert_frame_equal(rel, q.counts_by_area(engine, Filters(start="2015-01-01", end="2015-12-31"),
                                                         "public"))
    june = Filters(start="2015-06-01", end="2015-06-30")
    truth = by_code(q.counts_by_area(engine, june.replace(categories=plain), "analyst"))
    direct = q.counts_by_area(engine, june, "public").set_index("code")
    ests = [by_code(q.counts_by_area(engine, Filters(start=dt.date(2013 + k // 12, k % 12 + 1, 1), end="2015-06-30"),
                                     "public"))
            - by_code(q.counts_by_area(engine, Filters(start=dt.date(2013 + k // 12, k % 12 + 1, 1), end="2015-05-31"),
                                       "public")) for k in range(0, 24, 4)]
    target = direct["suppressed"] & (truth >= 1)
    assert int(target.sum()) > 300
    assert int((pd.concat(ests, axis=1).mean(axis=1).round() == truth)[target].sum()) == 0
    # Quarter minus its two other months, where both are published: each estimate has three noises.
    hit = total = 0
    for first in (1, 4, 7, 10):
        months = [first, first + 1, first + 2]
        quarter = by_code(q.counts_by_area(engine, Filters(start=dt.date(2015, first, 1),
                                                           end=month_end(2015, first + 2)), "public"))
        shown = {m: q.counts_by_area(engine, Filters(start=dt.date(2015, m, 1), end=month_end(2015, m)),
                                     "public").set_index("code") for m in months}
        for m in months:
            true = by_code(q.counts_by_area(engine, Filters(start=dt.date(2015, m, 1), end=month_end(2015, m),
                                                            categories=plain), "analyst"))
            est = quarter - sum(shown[o]["count"].astype("float64") for o in months if o != m)
            ok = shown[m]["suppressed"] & (true >= 1) & est.notna()
            hit += int((est == true)[ok].sum())
            total += int(ok.sum())
    law = noise_sum_law(3)
    print(f"\ncalendar windows: quarter minus two months exact for {hit} of {total} ({hit / total:.0%}; "
          f"stated {law[0]:.0%})")
    assert total > 300 and abs(hit / total - law[0]) < 0.05


def test_averaging_category_groupings_gains_nothing_on_the_category_grid(cdmx):
    """(X + S) - S for many groups S of other categories, each published with its own noise, would
    average the noise of X's cell away. On the public category grid a selection is X, X's ICCS
    section or every category: the reader can form only those groupings, so the mean of many
    differences is no better than one (the single-difference level, about sum p^2 = 23.8%)."""
    engine, plain = cdmx
    june = Filters(start="2015-06-01", end="2015-06-30")
    cats = q.categories(engine).set_index("code")
    counts = q.counts_by_category(engine, june, "analyst").set_index("code")["count"]
    x = str(counts.loc[plain].astype(int).idxmax())  # the commonest non-sensitive category
    # Groups of the commonest other categories, so that S alone is mostly published (not below k).
    others = [c for c in counts.loc[plain].astype(int).sort_values(ascending=False).index if c != x][:6]
    truth = by_code(q.counts_by_area(engine, june.replace(categories=[x]), "analyst"))
    direct = q.counts_by_area(engine, june.replace(categories=[x]), "public").set_index("code")
    rng = np.random.default_rng(9)
    estimates, seen = [], set()
    for _ in range(12):  # 24 public requests
        group = sorted(rng.choice(others, size=int(rng.integers(1, 4)), replace=False).tolist())
        both = q.counts_by_area(engine, june.replace(categories=[x, *group]), "public")
        alone = q.counts_by_area(engine, june.replace(categories=group), "public")
        seen.add(access.category_grid(june.replace(categories=[x, *group]), cats.reset_index())[0])
        estimates.append(by_code(both) - by_code(alone))
    est = pd.concat(estimates, axis=1)
    # Every target has its first difference; the mean takes every difference the reader has.
    target = direct["suppressed"] & (truth >= 1) & est.iloc[:, 0].notna()
    rates = {n: float((est.iloc[:, :n].mean(axis=1, skipna=True).round() == truth)[target].mean()) for n in (1, 12)}
    # The groupings the reader could form: X's section or everything (never X + S itself).
    section = june.replace(categories=(), sections=(str(cats.loc[x, "iccs_section"]),))
    assert seen <= {section, june.replace(categories=(), sections=())}
    print(f"\naveraging category groupings of {x}: exact {rates[1]:.0%} with 1 grouping, {rates[12]:.0%} with 12 "
          f"({int(target.sum())} target quadrants of June 2015)")
    assert int(target.sum()) > 100, int(target.sum())
    law = difference_noise_law()[0]
    assert rates[12] <= max(rates[1], law) + 0.05 and rates[12] < 0.32, rates
