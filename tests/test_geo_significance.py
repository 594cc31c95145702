"""Gi* with row-standardised weights (textbook z), one significance convention with local Moran, FDR."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from esda.moran import Moran_Local
from libpysal import examples
from libpysal.weights import Queen, lat2W
from scipy import stats
from shapely.geometry import Point, box

from observatory.geo.grid import grid_counts, grid_hotspots
from observatory.geo.hotspots import gi_star
from observatory.geo.moran import local_moran
from observatory.geo.weights import build_weights


@pytest.fixture(scope="module")
def columbus() -> gpd.GeoDataFrame:
    return gpd.read_file(examples.get_path("columbus.shp"))


def textbook_gi_star(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Ord & Getis (1995) Gi* z for GENERAL weights (self-weight on the diagonal), written out."""
    n = len(x)
    xbar = x.mean()
    s = np.sqrt((x**2).sum() / n - xbar**2)
    wsum = w.sum(axis=1)
    num = w @ x - xbar * wsum
    den = s * np.sqrt((n * (w**2).sum(axis=1) - wsum**2) / (n - 1))
    return num / den


def test_row_standardised_gi_star_is_the_textbook_z_on_columbus(columbus):
    x = columbus["CRIME"].to_numpy(float)
    dense, _ = build_weights(columbus, "queen", transform="B").w.full()
    binary = dense + np.eye(len(x))
    rowstd = binary / binary.sum(axis=1, keepdims=True)  # each row, self included, sums to 1
    expected_b, expected_r = textbook_gi_star(x, binary), textbook_gi_star(x, rowstd)
    np.testing.assert_allclose(expected_b, expected_r, atol=1e-12)  # textbook z ignores a row's scale
    b = gi_star(columbus, "CRIME", transform="B")
    r = gi_star(columbus, "CRIME", transform="R")
    np.testing.assert_allclose(b["gi_z"], expected_b, atol=1e-9)
    np.testing.assert_allclose(r["gi_z"], expected_r, atol=1e-9)
    np.testing.assert_allclose(r["gi_p"], 2 * stats.norm.sf(np.abs(expected_r)), atol=1e-12)
    n_sig = int((np.abs(expected_r) > stats.norm.ppf(0.975)).sum())
    assert n_sig >= 10
    assert int(r["gi_significant"].sum()) == n_sig  # esda's Zs under "R" found none
    # the factor: esda's z is the textbook z times sqrt((n/(k+1) - 1)/(n - 1)); ours is not
    k = dense.sum(axis=1)
    shrunk = expected_r * np.sqrt((len(x) / (k + 1) - 1) / (len(x) - 1))
    assert not np.allclose(r["gi_z"], shrunk)


def test_gi_star_rescaled_rows_of_custom_weights(columbus):
    x = columbus["CRIME"].to_numpy(float)
    w = Queen.from_dataframe(columbus, use_index=False, silence_warnings=True)
    rng = np.random.default_rng(0)
    scale = rng.uniform(0.5, 3, len(x))
    dense, _ = w.full()
    scaled = (dense + np.eye(len(x))) * scale[:, None]
    from libpysal.weights import full2W

    custom = full2W(scaled)
    result = gi_star(columbus, "CRIME", weights=custom, transform="B")
    # "B" makes every weight 1 again; the textbook z on the rescaled matrix is the same anyway.
    np.testing.assert_allclose(result["gi_z"], textbook_gi_star(x, scaled), atol=1e-9)


def test_six_point_golden_numbers_for_both_weightings():
    pts = [(10, 10), (20, 10), (40, 10), (15, 20), (30, 20), (30, 30)]
    gdf = gpd.GeoDataFrame({"y": [2, 3, 3.2, 5, 8, 7]}, geometry=[Point(p) for p in pts])
    golden = [-1.39727626, -0.28917762, 0.65064964, -0.28917762, 1.23452088, 2.02424331]
    for transform in ("B", "R"):
        star = gi_star(gdf, "y", weights="distance", distance=15, transform=transform)
        np.testing.assert_allclose(star["gi_z"], golden, atol=1e-7)
        plain = gi_star(gdf, "y", weights="distance", distance=15, star=False, transform=transform)
        assert plain["gi_z"].iloc[0] == pytest.approx(-1.0136729, abs=1e-7)


def test_grid_hotspots_row_standardised_match_the_textbook():
    rng = np.random.default_rng(5)
    xy = np.vstack([rng.uniform(0, 3000, (400, 2)), rng.normal(1500, 150, (200, 2))])
    pts = gpd.GeoSeries([Point(p) for p in xy], crs="EPSG:32614")
    area = gpd.GeoSeries([box(0, 0, 3000, 3000)], crs="EPSG:32614")
    out_r = grid_hotspots(pts, cell_size=500, area=area, to_crs=None, transform="R")
    out_b = grid_hotspots(pts, cell_size=500, area=area, to_crs=None, transform="B")
    counts = grid_counts(pts, 500, area=area)
    cx, cy = counts.geometry.centroid.x.to_numpy(), counts.geometry.centroid.y.to_numpy()
    d = np.hypot(cx[:, None] - cx[None, :], cy[:, None] - cy[None, :])
    binary = (d <= 500 * np.sqrt(2) * 1.01).astype(float)  # queen neighbours and the cell itself
    rowstd = binary / binary.sum(axis=1, keepdims=True)
    x = counts["count"].to_numpy(float)
    np.testing.assert_allclose(out_r["gi_z"], textbook_gi_star(x, rowstd), atol=1e-9)
    np.testing.assert_allclose(out_b["gi_z"], out_r["gi_z"], atol=1e-9)
    assert (out_r["hotspot_class"].astype(str).str.startswith("hot")).any()


def test_moran_and_gi_star_use_the_same_two_sided_level(columbus):
    mo = local_moran(columbus, "CRIME", permutations=999, seed=4)
    gi = gi_star(columbus, "CRIME", permutations=999, seed=4)
    w = Queen.from_dataframe(columbus, use_index=False, silence_warnings=True)
    w.transform = "r"
    ref = Moran_Local(columbus["CRIME"].to_numpy(float), w, permutations=999, seed=4, n_jobs=1)
    # Moran: folded p_sim < 0.025 is 5% two-sided; Gi*: doubled p_sim < 0.05.
    np.testing.assert_array_equal(mo["moran_significant"].to_numpy(), ref.p_sim < 0.025)
    assert ((mo["cluster"] != "not significant") == mo["moran_significant"]).all()
    np.testing.assert_array_equal(gi["gi_significant"].to_numpy(), gi["gi_p"].to_numpy() < 0.05)
    assert mo.attrs["alpha"] == gi.attrs["alpha"] == 0.05
    # the map shows no class weaker than 5%
    assert not gi["hotspot_class"].astype(str).str.contains("90%").any()
    for frame in (mo, gi):
        assert not frame["fdr"].any()


def bh_by_hand(p: np.ndarray, alpha: float) -> np.ndarray:
    """Benjamini-Hochberg: reject the k smallest p-values, k the largest with p_(k) <= k alpha / n."""
    order = np.argsort(p)
    n = len(p)
    passed = np.nonzero(p[order] <= alpha * np.arange(1, n + 1) / n)[0]
    reject = np.zeros(n, dtype=bool)
    if len(passed):
        reject[order[: passed[-1] + 1]] = True
    return reject


def lattice(n_side: int) -> gpd.GeoDataFrame:
    cells = [box(i, j, i + 1, j + 1) for j in range(n_side) for i in range(n_side)]
    return gpd.GeoDataFrame(geometry=cells)


def test_fdr_matches_benjamini_hochberg_and_controls_false_positives_on_noise():
    grid = lattice(12)  # 144 areas
    w = lat2W(12, 12, rook=False)  # queen lattice, ids in the grid's row order
    rng = np.random.default_rng(2026)
    runs, per_area, any_plain, any_fdr, any_moran_plain, any_moran_fdr = 150, [], 0, 0, 0, 0
    for i in range(runs):
        data = grid.assign(y=rng.poisson(20, len(grid)))
        plain = gi_star(data, "y", weights=w)
        fdr = gi_star(data, "y", weights=w, fdr=True)
        np.testing.assert_array_equal(fdr["gi_significant"], bh_by_hand(plain["gi_p"].to_numpy(), 0.05))
        per_area.append(plain["gi_significant"].mean())
        any_plain += plain["gi_significant"].any()
        any_fdr += fdr["gi_significant"].any()
        if i < 40:  # permutations are slower: fewer runs
            mo = local_moran(data, "y", weights=w, permutations=199, seed=i)
            mf = local_moran(data, "y", weights=w, permutations=199, seed=i, fdr=True)
            np.testing.assert_array_equal(mf["moran_significant"], bh_by_hand(mo["moran_p"].to_numpy(), 0.05))
            any_moran_plain += mo["moran_significant"].any()
            any_moran_fdr += mf["moran_significant"].any()
    # Without correction about 5% of the areas of every noise map come out significant...
    assert 0.03 < np.mean(per_area) < 0.07
    assert any_plain / runs > 0.9
    # ...with FDR a noise map shows any hot spot at all only about alpha of the time.
    assert any_fdr / runs < 0.10
    assert any_moran_plain / 40 > 0.8
    assert any_moran_fdr / 40 < 0.15
