"""Intervention evaluation: quasi-Poisson inference, neighbour buffer, placebo study on real CDMX data."""

from __future__ import annotations

import datetime as dt
import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from libpysal.weights import Queen
from scipy import stats

from observatory.indicators.intervention import comparison_group, evaluate_intervention, quasi_poisson_dispersion
from tests.conftest import realdata

D = dt.date


def area_month_panel(rates: dict[str, tuple[float, float]], start: str, n_before: int, n_after: int,
                     rng: np.random.Generator | None = None) -> pd.DataFrame:
    """Monthly counts per area: ``rates[code] = (before, after)``; the start month gets a wild value."""
    rows = []
    all_months = pd.date_range(pd.Timestamp(start) - pd.DateOffset(months=n_before), periods=n_before + 1 + n_after,
                               freq="MS")
    for code, (before, after) in rates.items():
        for i, month in enumerate(all_months):
            mean = before if i < n_before else after
            value = 10_000 if i == n_before else (rng.poisson(mean) if rng is not None else mean)
            rows.append((code, month, value))
    return pd.DataFrame(rows, columns=["code", "month", "count"])


def test_ratio_of_ratios_and_quasi_poisson_interval_by_hand():
    # Comparison areas rise 20%; treated would too, but the programme cut them by 30%: 100 -> 84.
    rates = {"T1": (100, 84), "T2": (100, 84), "C1": (200, 240), "C2": (200, 240), "C3": (150, 150)}
    panel = area_month_panel(rates, "2023-01-01", 12, 12)
    row = evaluate_intervention(panel, ["T1", "T2"], D(2023, 1, 16)).iloc[0]
    assert (row["months_before"], row["months_after"]) == (12, 12)
    assert (row["treated_before"], row["treated_after"]) == (2400, 2016)
    c0, c1 = 12 * 550, 12 * 630
    assert (row["comparison_before"], row["comparison_after"]) == (c0, c1)
    rr = (2016 / 2400) / (c1 / c0)
    assert row["rr"] == pytest.approx(rr)
    # Dispersion by hand: each comparison area's after-share against the pooled one (treated fit exactly).
    share = c1 / (c0 + c1)
    x2 = sum(((12 * a - 12 * (b + a) * share) ** 2 / (12 * (b + a) * share)
              + (12 * b - 12 * (b + a) * (1 - share)) ** 2 / (12 * (b + a) * (1 - share)))
             for b, a in (rates["C1"], rates["C2"], rates["C3"]))
    phi = max(1.0, x2 / (5 - 2))
    assert phi > 1
    assert row["dispersion"] == pytest.approx(phi)
    assert row["dispersion_dof"] == 3
    se = math.sqrt(phi * (1 / 2400 + 1 / 2016 + 1 / c0 + 1 / c1))
    q = stats.t.ppf(0.975, 3)
    assert row["rr_low"] == pytest.approx(rr * math.exp(-q * se), rel=1e-9)
    assert row["rr_high"] == pytest.approx(rr * math.exp(q * se), rel=1e-9)
    assert row["p_value"] == pytest.approx(2 * stats.t.sf(abs(math.log(rr)) / se, 3), rel=1e-9)
    assert row["expected_after"] == pytest.approx(2400 * c1 / c0)
    # DiD of monthly counts: treated 200 -> 168, comparison 550 -> 630; Poisson s.e. times sqrt(phi).
    assert row["did"] == pytest.approx((168 - 200) - (630 - 550))
    did_se = math.sqrt(phi * (2016 + 2400 + c1 + c0) / 144)
    assert row["did_high"] - row["did"] == pytest.approx(q * did_se)
    pop = pd.Series({"T1": 10_000, "T2": 10_000, "C1": 20_000, "C2": 20_000, "C3": 10_000})
    with_pop = evaluate_intervention(panel, ["T1", "T2"], D(2023, 1, 16), population=pop).iloc[0]
    assert with_pop["did"] == pytest.approx((168 - 200) / 20_000 * 1e5 - (630 - 550) / 50_000 * 1e5)
    assert with_pop["did_unit"] == "per 100k per month"


def test_two_areas_give_no_verdict_and_overlap_is_refused():
    panel = area_month_panel({"T": (50, 20), "C": (50, 50)}, "2022-06-01", 12, 12)
    row = evaluate_intervention(panel, ["T"], D(2022, 6, 1)).iloc[0]
    assert row["rr"] == pytest.approx(0.4)
    assert math.isnan(row["p_value"]) and not row["significant"]
    assert "at least 3" in row["inference"]
    with pytest.raises(ValueError, match="overlap"):
        evaluate_intervention(panel, ["T"], D(2022, 6, 1), comparison=["T", "C"])


def test_neighbours_are_left_out_of_the_default_comparison_and_reported():
    panel = area_month_panel({"T": (50, 30), "N1": (50, 80), "N2": (40, 60), "C1": (60, 60), "C2": (30, 30),
                              "C3": (45, 45)}, "2022-06-01", 12, 12)
    neighbours = {"T": ["N1", "N2"], "N1": ["T", "C1"], "N2": ["T"], "C1": ["N1"], "C2": [], "C3": []}
    row = evaluate_intervention(panel, ["T"], D(2022, 6, 1), neighbours=neighbours).iloc[0]
    assert row["comparison_areas"] == ("C1", "C2", "C3")
    assert row["excluded_neighbours"] == ("N1", "N2")
    assert row["n_comparison"] == 3
    # Displacement into N1/N2 does not inflate the comparison: C's are flat, so RR = 30/50 exactly.
    assert row["rr"] == pytest.approx(0.6)
    # The same with a libpysal W.
    from libpysal.weights import W

    w = W(neighbours, silence_warnings=True)
    assert comparison_group(["T", "N1", "N2", "C1", "C2", "C3"], ["T"], w) == (["C1", "C2", "C3"], ["N1", "N2"])
    assert comparison_group(["T", "N1", "C1"], ["T"], None) == (["C1", "N1"], [])


def test_dispersion_is_near_one_for_poisson_counts():
    rng = np.random.default_rng(3)
    n = pd.Series(rng.integers(200, 2000, 400), index=[f"a{i}" for i in range(400)])
    after = pd.Series(rng.binomial(n, 0.45), index=n.index)
    phi, dof = quasi_poisson_dispersion(n - after, after, ["a0"])
    assert dof == 398
    # Pearson X2 / dof of binomial splits: mean 1, sd sqrt(2 / 398) = 0.07; floored at 1.
    assert 1.0 <= phi < 1.2


def _sector_month_counts() -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Monthly incidents per SSP police sector (2013-01..2016-08) and queen neighbours of the sectors."""
    points = pd.read_csv(realdata("cdmx", "ssp_cdmx_crime_lat_long_2013_2016.csv"), usecols=["cuadrante", "date"])
    mapping = pd.read_csv(realdata("cdmx", "cuadrante_sector_alcaldia.csv"))
    points = points.merge(mapping[["cuadrante", "sector"]], on="cuadrante", how="inner")
    points["month"] = pd.to_datetime(points["date"]).dt.to_period("M").dt.to_timestamp()
    # The data end on 25 September 2016: that month is partial and is left out.
    points = points[points["month"] < pd.Timestamp("2016-09-01")]
    counts = points.groupby(["sector", "month"]).size()
    full = pd.MultiIndex.from_product([sorted(points["sector"].unique()), sorted(points["month"].unique())],
                                      names=["code", "month"])
    area_month = counts.reindex(full, fill_value=0).rename("count").reset_index()
    # Sector polygons from the 2016 quadrants (the vintage of the points), named as in the mapping file.
    quadrants = gpd.read_file(realdata("cdmx", "cuadrantes_ssp_2016.geojson"))
    quadrants = quadrants.drop(columns="sector").merge(mapping[["cuadrante", "sector"]], on="cuadrante")
    sectors = quadrants[["sector", "geometry"]].dissolve("sector")
    w = Queen.from_dataframe(sectors, use_index=True, silence_warnings=True)
    return area_month, {k: list(v) for k, v in w.neighbors.items()}


def test_placebo_interventions_on_cdmx_sectors_are_rarely_significant():
    area_month, neighbours = _sector_month_counts()
    sectors = sorted(area_month["code"].unique())
    assert len(sectors) == 72
    assert set(neighbours) == set(sectors)
    dates = [D(2014, 1, 15), D(2014, 7, 15), D(2015, 1, 15), D(2015, 7, 15)]  # nothing happened then
    p_values, poisson_p, excluded = [], [], []
    for started_on in dates:
        for sector in sectors:
            row = evaluate_intervention(area_month, [sector], started_on, neighbours=neighbours).iloc[0]
            assert set(row["excluded_neighbours"]) == set(neighbours[sector])
            assert sector not in row["comparison_areas"]
            assert row["months_before"] == row["months_after"] == 12
            p_values.append(row["p_value"])
            excluded.append(len(row["excluded_neighbours"]))
            # The old pure-Poisson test on the same four totals, computed here by hand.
            t0, t1 = row["treated_before"], row["treated_after"]
            c0, c1 = row["comparison_before"], row["comparison_after"]
            z = abs(math.log((t1 / t0) / (c1 / c0))) / math.sqrt(1 / t0 + 1 / t1 + 1 / c0 + 1 / c1)
            poisson_p.append(2 * stats.norm.sf(z))
    p_values = np.array(p_values)
    assert len(p_values) == 288 and not np.isnan(p_values).any()
    false_positive_rate = float((p_values < 0.05).mean())
    assert false_positive_rate < 0.08, false_positive_rate
    # ...whereas pure Poisson variance rejects far too often on the same placebos.
    assert float((np.array(poisson_p) < 0.05).mean()) > 0.2
    assert np.mean(excluded) > 3  # sectors have about five neighbours each
