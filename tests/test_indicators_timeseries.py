"""Monthly series: partial months, a trend-following expected band, its coverage on simulated series."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from scipy import optimize

from observatory.indicators.timeseries import design_matrix, monthly_series, poisson_glm, seasonal_band

D = dt.date


def months(n: int, start: str = "2013-01-01") -> pd.DatetimeIndex:
    return pd.date_range(start, periods=n, freq="MS")


def test_partial_last_and_first_months_are_marked_and_never_flagged():
    counts = np.full(45, 900.0)
    counts[-1] = 900 * 25 / 30  # data end on 25 September 2016: 25 days of 30
    counts[0] = 900 * 10 / 31  # and start on 22 January 2013
    frame = pd.DataFrame({"month": months(45), "count": counts})
    out = monthly_series(frame, data_start=D(2013, 1, 22), data_end=D(2016, 9, 25))
    assert out["month"].iloc[-1] == pd.Timestamp("2016-09-01")
    assert out["partial"].tolist() == [True] + [False] * 43 + [True]
    assert out["flag"].iloc[-1] == "" and np.isnan(out["expected"].iloc[-1])
    assert out["count"].iloc[-1] == pytest.approx(750.0)  # the count itself is shown as it is
    # without the data's dates the short month looks like a collapse
    assert monthly_series(frame)["flag"].iloc[-1] == "below"
    # a month whose last day is the data's last day is complete
    assert not monthly_series(frame, data_end=D(2016, 9, 30))["partial"].iloc[-1]


def test_glm_solves_the_poisson_score_equations_and_matches_a_direct_maximisation():
    rng = np.random.default_rng(1)
    x = design_matrix(36)
    truth = np.log(80) - 0.2 * x[:, 1] + x[:, 2:] @ rng.normal(0, 0.1, 11)
    y = rng.poisson(np.exp(truth)).astype(float)
    beta, cov = poisson_glm(y, x)
    mu = np.exp(x @ beta)
    np.testing.assert_allclose(x.T @ (y - mu), 0.0, atol=1e-6)  # score equations
    ref = optimize.minimize(lambda b: np.sum(np.exp(x @ b) - y * (x @ b)), np.zeros(13), method="BFGS",
                            jac=lambda b: x.T @ (np.exp(x @ b) - y), options={"gtol": 1e-10})
    np.testing.assert_allclose(beta, ref.x, atol=1e-4)
    np.testing.assert_allclose(cov, np.linalg.inv(x.T @ (x * mu[:, None])), rtol=1e-8)


def test_an_exact_trend_and_season_is_predicted_exactly():
    x = design_matrix(61)
    season = np.concatenate([[0.0], 0.2 * np.sin(np.arange(1, 12))])
    mean = np.exp(np.log(300) - 0.15 * x[:, 1] + x[:, 2:] @ season[1:])
    expected, _, _ = seasonal_band(mean, 60)
    assert expected == pytest.approx(mean[60], rel=1e-6)


def simulate(rng: np.random.Generator, n: int, start: float, yearly: float, overdispersion: float) -> np.ndarray:
    t = np.arange(n)
    mu = start * np.exp(np.log(1 + yearly) * t / 12) * (1 + 0.15 * np.sin(2 * np.pi * t / 12))
    if overdispersion > 0:  # gamma-Poisson: variance mu + overdispersion * mu^2
        mu = rng.gamma(1 / overdispersion, mu * overdispersion)
    return rng.poisson(mu).astype(float)


@pytest.mark.parametrize(("yearly", "overdispersion"), [(-0.25, 0.0), (0.2, 0.0), (-0.15, 0.01), (0.0, 0.003)])
def test_band_covers_95_percent_of_simulated_trending_series(yearly, overdispersion):
    rng = np.random.default_rng(abs(hash((yearly, overdispersion))) % 2**32)
    inside = []
    for _ in range(60):  # 1,440 months per setting: the coverage's standard error is about 0.6%
        counts = simulate(rng, 60, rng.uniform(40, 400), yearly, overdispersion)
        for t in range(36, 60):
            _, lower, upper = seasonal_band(counts, t)
            inside.append(lower <= counts[t] <= upper)
    coverage = float(np.mean(inside))
    assert len(inside) == 60 * 24
    assert 0.90 <= coverage <= 0.98, coverage


def test_a_steadily_falling_series_is_not_flagged_below_every_month():
    rng = np.random.default_rng(9)
    counts = simulate(rng, 60, 900, -0.30, 0.0)  # 30% fewer incidents every year
    out = monthly_series(pd.DataFrame({"month": months(60), "count": counts}))
    last_year = out.iloc[-12:]
    assert (last_year["flag"] == "below").sum() <= 2
    # the band follows the fall: expected this year is well below the same month last year
    assert (last_year["expected"].to_numpy() < 0.85 * out["count"].iloc[-24:-12].to_numpy()).all()
