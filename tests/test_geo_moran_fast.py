"""The vectorised local Moran (observatory.geo.crand) gives esda's Moran_Local numbers bit for bit:
on a 2,000-area grid like the benchmark's, with many tied values (published counts imputed at one
value), with an island, a B transform and an unseeded run; and it leaves NumPy's global random
state where esda leaves it."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from esda.moran import Moran_Local
from libpysal.weights import W, lat2W

from observatory.geo import crand
from observatory.geo.crand import local_moran_fast


def esda_reference(y: np.ndarray, w: W, permutations: int, seed: int | None, transform: str = "R") -> Moran_Local:
    import copy

    own = copy.copy(w)
    own.transform = transform
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return Moran_Local(y, own, transformation=transform.lower(), permutations=permutations, n_jobs=1,
                           seed=seed)


def assert_same(fast, ref) -> None:
    # Exact equality (NaN where esda has NaN): the dashboard's clusters must not move by one ulp.
    np.testing.assert_array_equal(fast.Is, ref.Is)
    np.testing.assert_array_equal(fast.q, ref.q)
    np.testing.assert_array_equal(fast.p_sim, ref.p_sim)
    np.testing.assert_array_equal(fast.z_sim, ref.z_sim)


@pytest.fixture(scope="module")
def grid() -> W:
    w = lat2W(40, 50, rook=False)  # queen contiguity of 2,000 squares: 3, 5 or 8 neighbours
    w.transform = "B"
    return w


def test_equal_to_esda_on_a_large_grid_with_ties(grid):
    rng = np.random.default_rng(5)
    counts = rng.poisson(3.0, grid.n).astype(float)
    counts[rng.random(grid.n) < 0.4] = 2.0  # suppressed cells all at (k - 1) / 2: many exact ties
    rates = counts / rng.integers(2000, 40000, grid.n) * 1e5
    for y in (counts, rates):
        assert_same(local_moran_fast(y, grid, 199, 1), esda_reference(y, grid, 199, 1))
    # A second call reuses the prepared weights and permutations: still the same numbers.
    assert_same(local_moran_fast(rates, grid, 199, 1), esda_reference(rates, grid, 199, 1))
    assert_same(local_moran_fast(counts, grid, 99, 7, "B"), esda_reference(counts, grid, 99, 7, "B"))


def test_equal_to_esda_with_an_island_and_a_constant():
    neighbours = {0: [1], 1: [0, 2], 2: [1, 3], 3: [2], 4: []}  # area 4 has no neighbour
    w = W(neighbours, silence_warnings=True)
    y = np.array([1.0, 5.0, 2.0, 8.0, 3.0])
    assert_same(local_moran_fast(y, w, 49, 3), esda_reference(y, w, 49, 3))
    flat = np.full(5, 4.0)  # a constant: NaN statistics, as esda's
    assert_same(local_moran_fast(flat, w, 49, 3), esda_reference(flat, w, 49, 3))


def test_global_random_state_as_esda_leaves_it(grid):
    y = np.arange(grid.n, dtype=float) % 7
    esda_reference(y, grid, 99, 11)
    after_esda = np.random.random(3)
    local_moran_fast(y, grid, 99, 11)  # memoised permutations: the state is restored, not left alone
    local_moran_fast(y, grid, 99, 11)
    assert np.array_equal(np.random.random(3), after_esda)
    np.random.seed(4)
    ref = esda_reference(y, grid, 99, None)
    np.random.seed(4)
    assert_same(local_moran_fast(y, grid, 99, None), ref)


def test_weights_are_prepared_once_and_not_modified(grid):
    before = grid.transform
    first = crand.prepared(grid, "R")
    assert crand.prepared(grid, "R") is first
    assert grid.transform == before  # the caller's (shared) weights keep their transform
    np.testing.assert_allclose(np.asarray(first.lag.sum(axis=1)).ravel(), 1.0)  # row-standardised


def test_warm_prepares_without_moving_the_random_state(grid):
    crand._PERMUTATIONS.clear()
    np.random.seed(8)
    before = np.random.get_state()[1].copy()
    crand.warm(grid, 59, 2)
    assert np.array_equal(np.random.get_state()[1], before)  # the app's start-up leaves the global RNG alone
    assert (8, grid.n, 59, 2) in crand._PERMUTATIONS  # queen on a grid: at most 8 neighbours
    y = np.arange(grid.n, dtype=float) % 5
    assert_same(local_moran_fast(y, grid, 59, 2), esda_reference(y, grid, 59, 2))  # served from the memo


def test_some_rows_only_gives_those_rows_esdas_numbers(grid):
    """A profile shows one area's cluster: simulating only that area gives esda's p-value and
    permutation z for it (each area's simulations are its own), NaN for the rest."""
    rng = np.random.default_rng(7)
    y = rng.poisson(3, grid.n).astype(float)
    ref = esda_reference(y, grid, 199, 1)
    rows = np.array([0, 49, 1234, 1999])  # corners (3 neighbours), an edge, the interior
    part = local_moran_fast(y, grid, 199, 1, rows=rows)
    np.testing.assert_array_equal(part.Is, ref.Is)
    np.testing.assert_array_equal(part.p_sim[rows], ref.p_sim[rows])
    np.testing.assert_array_equal(part.z_sim[rows], ref.z_sim[rows])
    others = np.setdiff1d(np.arange(grid.n), rows)
    assert np.isnan(part.p_sim[others]).all() and np.isnan(part.z_sim[others]).all()


def test_local_moran_rows_keep_the_clusters_and_refuse_fdr():
    import geopandas as gpd
    from libpysal import examples

    from observatory.geo import local_moran

    columbus = gpd.read_file(examples.get_path("columbus.shp"))
    full = local_moran(columbus, "CRIME", permutations=199, seed=3)
    assert (full["cluster"] != "not significant").sum() >= 5  # a comparison with clusters in it
    for i in range(len(columbus)):
        one = local_moran(columbus, "CRIME", permutations=199, seed=3, rows=[i])
        assert one["cluster"].iloc[i] == full["cluster"].iloc[i]
        assert one["moran_p"].iloc[i] == full["moran_p"].iloc[i]
        assert one["moran_p"].drop(columbus.index[i]).isna().all()
    with pytest.raises(ValueError, match="fdr"):
        local_moran(columbus, "CRIME", permutations=199, seed=3, fdr=True, rows=[0])
