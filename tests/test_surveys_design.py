"""Design-based variance (Taylor linearisation, strata + PSU) against a hand computation, the Kish-Wilson
fallback, ENSU 2015 Mexico City per quarter from the database (territory = city 01), and the test of
change between waves with its false-positive rate checked by simulation."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from observatory.indicators import survey, survey_figures
from observatory.indicators.survey_totals import weighted_total
from observatory.ingest.surveys import ingest_survey
from tests.conftest import realdata


def hand_taylor_se(frame: pd.DataFrame, y: str) -> float:
    """The textbook linearised variance of a ratio mean, written with plain loops (Wolter 2007, ch. 6):
    z_k = w_k (y_k - p) / sum(w); v = sum_h n_h/(n_h-1) sum_i (z_hi - mean_h z)^2 with z_hi the PSU sums."""
    rows = frame[frame[y].notna()]
    p = sum(r.weight * r[y] for _, r in rows.iterrows()) / rows["weight"].sum()
    total_w = rows["weight"].sum()
    var = 0.0
    for _h, stratum in frame.groupby("stratum"):
        psus = {}
        for _, r in stratum.iterrows():
            z = 0.0 if pd.isna(r[y]) else r.weight * (r[y] - p) / total_w
            psus[r.psu] = psus.get(r.psu, 0.0) + z
        n_h = len(psus)
        if n_h < 2:
            continue
        mean = sum(psus.values()) / n_h
        var += n_h / (n_h - 1) * sum((z - mean) ** 2 for z in psus.values())
    return math.sqrt(var)


def sample(seed: int = 3, strata: int = 4, psus: int = 5, per_psu: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for h in range(strata):
        for i in range(psus):
            effect = rng.normal(0, 0.8)  # clustering: PSUs differ
            for _ in range(per_psu):
                prob = 1 / (1 + math.exp(-(effect + 0.3 * h - 0.5)))
                rows.append({"stratum": f"h{h}", "psu": f"h{h}-{i}", "weight": float(rng.uniform(50, 300)),
                             "y": float(rng.random() < prob)})
    frame = pd.DataFrame(rows)
    frame.loc[frame.sample(frac=0.05, random_state=seed).index, "y"] = np.nan  # unknown answers
    return frame


def test_taylor_matches_hand_computation():
    frame = sample()
    result = survey.weighted_proportion(frame, "y", psu="psu", strata="stratum").iloc[0]
    assert result["se"] == pytest.approx(hand_taylor_se(frame, "y"), rel=1e-12)
    assert result["method"] == "taylor"
    # The interval is Wilson on the design's effective n, p(1-p)/se^2.
    n_design = result["estimate"] * (1 - result["estimate"]) / result["se"] ** 2
    low, high = survey.wilson_interval(result["estimate"], min(n_design, result["n"]))
    assert (result["ci_low"], result["ci_high"]) == pytest.approx((float(low), float(high)))
    assert result["cv"] == pytest.approx(result["se"] / result["estimate"])


def test_taylor_domains_keep_every_psu_of_the_stratum():
    frame = sample(seed=5)
    frame["group"] = np.where(np.arange(len(frame)) % 3 == 0, "a", "b")
    by = survey.weighted_proportion(frame, "y", by="group", psu="psu", strata="stratum").set_index("group")
    for group in ("a", "b"):
        # Domain estimation: rows outside the domain count with z = 0 (y and w set so they add nothing).
        masked = frame.assign(y=frame["y"].where(frame["group"] == group))
        assert by.loc[group, "se"] == pytest.approx(hand_taylor_se(masked, "y"), rel=1e-12)


def test_design_total_matches_hand_computation():
    frame = sample(seed=7)
    total = weighted_total(frame, psu="psu", strata="stratum").iloc[0]
    var = 0.0
    for _h, stratum in frame.groupby("stratum"):
        t = stratum.groupby("psu")["weight"].sum().to_numpy()
        var += len(t) / (len(t) - 1) * ((t - t.mean()) ** 2).sum()
    assert total["estimate"] == pytest.approx(frame["weight"].sum())
    assert total["se"] == pytest.approx(math.sqrt(var))
    assert total["ci_low"] == pytest.approx(total["estimate"] - 1.959964 * total["se"], rel=1e-6)


def test_kish_wilson_fallback_when_the_design_is_unknown():
    frame = sample(seed=11)
    assert survey.design_columns(frame.drop(columns=["psu", "stratum"])) == {}
    assert survey.design_columns(frame.assign(psu=frame["psu"].where(frame.index > 0))) == {}  # one row lacks it
    assert survey.design_columns(frame) == {"psu": "psu", "strata": "stratum"}
    result = survey.weighted_proportion(frame, "y").iloc[0]
    known = frame[frame["y"].notna()]
    w, y = known["weight"], known["y"]
    p = (w * y).sum() / w.sum()
    n_eff = w.sum() ** 2 / (w**2).sum()
    low, high = survey.wilson_interval(p, n_eff)
    assert result["method"] == "kish_wilson"
    assert (result["estimate"], result["ci_low"], result["ci_high"]) == pytest.approx((p, float(low), float(high)))


def ensu_file(quarter: int):
    folder = f"conjunto_de_datos_ensu_0{quarter}_2015"
    name = f"conjunto_de_datos_cb_ensu_0{quarter}_2015"
    return realdata("mexico_surveys", "ensu_2015", folder, name, "conjunto_de_datos", f"{name}.csv")


@pytest.mark.realdata
def test_ensu_2015_mexico_city_unsafe_per_quarter_design_based(db_url):
    from observatory import queries
    from observatory.db.session import get_engine

    engine = get_engine(db_url)
    for quarter in (1, 2, 3, 4):
        report = ingest_survey(ensu_file(quarter), profile="ensu", engine=engine, territory="01")
        assert report.details["territory"] == {"code": "01", "level": "city", "column": "CD", "how": "given",
                                               "rows": report.details["territory"]["rows"]}
        assert report.loaded == report.total  # every row is stored; the territory only marks them
    persons = queries.survey_responses(engine, unit="person")
    assert set(persons["area_code"].str.lstrip("0")) == {"1"}  # only Mexico City comes back
    everyone = queries.survey_responses(engine, unit="person", territory_only=False)
    assert everyone["area_code"].nunique() == 32
    figures = survey_figures.wave_figures(persons, pd.DataFrame(), pd.DataFrame())
    unsafe = figures[figures["indicator"] == "unsafe_city"].set_index("wave")
    assert list(unsafe.index) == [f"ENSU 2015 Q{q}" for q in (1, 2, 3, 4)]
    raw_all = []
    for quarter in (1, 2, 3, 4):
        raw = pd.read_csv(ensu_file(quarter), dtype=str, encoding="utf-8-sig")
        raw = raw.apply(lambda c: c.str.replace("\r", "").str.strip())
        raw_all.append(raw)
        city = raw[(raw["CD"] == "01") & raw["P1"].isin(["1", "2"])]
        w = city["FACTOR"].astype(float)
        expected = w[city["P1"] == "2"].sum() / w.sum()
        row = unsafe.loc[f"ENSU 2015 Q{quarter}"]
        assert row["estimate"] == pytest.approx(expected)
        assert 0.73 < row["estimate"] < 0.77  # Mexico City, not the all-cities 68%
        hand = city.assign(weight=w, y=(city["P1"] == "2").astype(float), stratum=city["CD"] + "-" + city["EDIS"],
                           psu=city["CD"] + "-" + city["UPM_DIS"])
        assert row["se"] == pytest.approx(hand_taylor_se(hand, "y"), rel=1e-9)
        assert row["method"] == "taylor" and not row["unreliable"]
        kish = survey.weighted_proportion(hand, "y").iloc[0]
        assert row["ci_high"] - row["ci_low"] > kish["ci_high"] - kish["ci_low"]  # the design effect
    all_cities = pd.concat(raw_all)
    q1 = all_cities[(all_cities["PER"] == "0315") & all_cities["P1"].isin(["1", "2"])]
    w = q1["FACTOR"].astype(float)
    assert 0.66 < w[q1["P1"] == "2"].sum() / w.sum() < 0.70  # what a whole-survey figure would have shown


def test_change_between_waves_by_hand():
    a, b = {"estimate": 0.70, "se": 0.02}, {"estimate": 0.76, "se": 0.025}
    result = survey_figures.change_between(a, b)
    se = math.sqrt(0.02**2 + 0.025**2)
    z = 0.06 / se
    assert result["difference"] == pytest.approx(0.06)
    assert result["z"] == pytest.approx(z)
    assert result["p_value"] == pytest.approx(math.erfc(abs(z) / math.sqrt(2)))
    assert result["significant"] == (result["p_value"] < 0.05)
    assert result["ci_low"] == pytest.approx(0.06 - 1.959964 * se, rel=1e-6)


def test_change_false_positive_rate_by_simulation():
    """Placebo: two waves drawn from the same clustered population; about 5% of changes significant."""
    rng = np.random.default_rng(2024)
    hits, runs = 0, 400
    for _ in range(runs):
        waves = []
        for _w in range(2):
            psu_effect = rng.normal(0, 0.7, size=40)
            rows = [{"stratum": f"h{i % 4}", "psu": f"p{i}", "weight": 1.0 + (i % 3),
                     "y": float(rng.random() < 1 / (1 + math.exp(-(e - 0.2))))}
                    for i, e in enumerate(psu_effect) for _k in range(10)]
            waves.append(survey.weighted_proportion(pd.DataFrame(rows), "y", psu="psu", strata="stratum").iloc[0])
        hits += survey_figures.change_between(waves[0], waves[1])["significant"]
    assert 0.02 < hits / runs < 0.09


def test_changes_compare_waves_of_the_same_survey_only():
    rows = [{"wave": w, "unit": "person", "indicator": "unsafe_city", "crime_type": "all", "definition": "",
             "estimate": p, "se": 0.02} for w, p in (("ENSU 2015 Q3", 0.70), ("ENSU 2015 Q4", 0.76),
                                                     ("ENVIPE 2021", 0.30))]
    out = survey_figures.changes(pd.DataFrame(rows), [["ENSU 2015 Q3", "ENSU 2015 Q4"], ["ENVIPE 2021"]])
    assert len(out) == 1 and (out["from_wave"].iloc[0], out["to_wave"].iloc[0]) == ("ENSU 2015 Q3", "ENSU 2015 Q4")
    se = math.sqrt(2) * 0.02
    assert out["points"].iloc[0] == pytest.approx(6.0)
    assert out["points_low"].iloc[0] == pytest.approx((0.06 - 1.959964 * se) * 100, rel=1e-6)
    assert bool(out["significant"].iloc[0]) == (0.06 / se > 1.959964)
