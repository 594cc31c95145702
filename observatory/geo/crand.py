"""Local Moran's I with esda's conditional randomisation, vectorised: the same numbers, faster.

Why: without numba (not a dependency) ``esda.Moran_Local`` runs its conditional randomisation as
a Python loop over the areas, about 50 microseconds each: some 100 ms per map of 2,000
neighbourhoods, the largest part of a neighbourhood-profile callback. Here the loop runs over
the few distinct neighbour counts instead (batches of areas), and what depends only on the
weights and the seed (the weights' arrays, esda's permuted neighbour draws) is prepared once per
weights object.

The numbers are esda's, bit for bit (tests/test_geo_moran_fast.py compares every output with
``Moran_Local`` on real and tied data): the same standardisation, the same spatial lag (the
weights' own sparse matrix), the same permuted ids (esda's own ``vec_permutations`` with the
same seed, and the global NumPy random state left where esda leaves it), and each area's
simulated statistics computed with the same operations in the same order.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from esda.crand import vec_permutations
from libpysal.weights import W
from scipy import sparse

from observatory.memo import ObjectMemo

_CHUNK = 256  # areas per batch: about 3 MB of simulated neighbours at 199 permutations


@dataclass(frozen=True)
class _Prepared:
    """What the statistic needs of row-standardised weights (``lag``: the matrix of the spatial lag;
    the rest as esda's ``crand`` derives it: the diagonal, the other weights, the neighbour counts)."""

    lag: sparse.csr_matrix
    self_weights: np.ndarray
    other_weights: np.ndarray
    cardinalities: np.ndarray
    offsets: np.ndarray


@dataclass(frozen=True)
class LocalMoran:
    """esda ``Moran_Local``'s outputs that :func:`observatory.geo.moran.local_moran` reads."""

    Is: np.ndarray
    q: np.ndarray
    p_sim: np.ndarray
    z_sim: np.ndarray


_LOCK = threading.Lock()
# Prepared arrays per weights object and transform.
_WEIGHTS = ObjectMemo(8)
# (max neighbours, n, permutations, seed) -> (permuted ids, NumPy's global random state after drawing them)
_PERMUTATIONS: OrderedDict[tuple[int, int, int, int], tuple[np.ndarray, tuple]] = OrderedDict()


def _remember(memo: OrderedDict, key: object, value: object, size: int = 8) -> None:
    with _LOCK:
        memo[key] = value
        while len(memo) > size:
            memo.popitem(last=False)


def prepared(w: W, transform: str = "R") -> _Prepared:
    """The arrays of ``w`` under ``transform`` (``w`` itself is not modified), once per ``w`` object.

    For weights shared and never modified in place (the dashboard's memoised queen weights).
    """
    return _WEIGHTS.get(w, lambda: _prepare(w, transform.upper()), transform.upper())


def _prepare(w: W, transform: str) -> _Prepared:
    import copy

    own = copy.copy(w)  # setting the transform rebinds the copy's attributes only
    own.transform = transform
    lag = own.sparse.tocsr(copy=True)
    adj = lag.copy()
    self_weights = adj.diagonal()
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # changing the diagonal's sparsity (as esda does)
            adj.setdiag(0)
            adj.eliminate_zeros()
    cardinalities = np.array((adj != 0).sum(1)).flatten()
    offsets = np.concatenate([[0], np.cumsum(cardinalities)]).astype(np.int64)
    return _Prepared(lag, self_weights, adj.data.astype(np.float64), cardinalities, offsets)


def _permuted_ids(max_card: int, n: int, permutations: int, seed: int) -> np.ndarray:
    """esda's ``vec_permutations(max_card, n, permutations, seed)``, drawn once per arguments; the
    global random state is left where the draw leaves it, as if it had been drawn again."""
    key = (int(max_card), int(n), int(permutations), int(seed))
    with _LOCK:
        hit = _PERMUTATIONS.get(key)
    if hit is not None:
        np.random.set_state(hit[1])
        return hit[0]
    ids = vec_permutations(int(max_card), int(n), int(permutations), int(seed))
    ids.setflags(write=False)
    _remember(_PERMUTATIONS, key, (ids, np.random.get_state()))
    return ids


def warm(w: W, permutations: int, seed: int, transform: str = "R") -> None:
    """Prepare ``w``'s arrays and draw the permuted ids of :func:`local_moran_fast` with these arguments
    now (an app's start-up), leaving NumPy's global random state as it was."""
    prep = prepared(w, transform)
    state = np.random.get_state()
    try:
        _permuted_ids(int(prep.cardinalities.max()), int(prep.cardinalities.size), permutations, seed)
    finally:
        np.random.set_state(state)


def _simulated(z: np.ndarray, prep: _Prepared, ids: np.ndarray, scaling: float,
               rows: np.ndarray | None = None) -> np.ndarray:
    """esda's ``rlocals`` (n x permutations): each area's local I over permuted neighbours, as
    ``compute_chunk`` with ``_moran_local_crand`` computes it (islands: one neighbour of weight 0).

    ``rows``: only these areas' (the others NaN). Each area's simulations use the shared permuted
    ids and its own neighbours only, so they are the same numbers either way."""
    n = z.shape[0]
    out = np.full((n, ids.shape[0]), np.nan)
    cards = prep.cardinalities
    wanted = np.ones(n, dtype=bool) if rows is None else np.isin(np.arange(n), rows)
    for card in np.unique(cards[wanted]).tolist():
        width = max(card, 1)
        draw = ids[:, :width]
        members = np.flatnonzero((cards == card) & wanted)
        for chunk in np.array_split(members, max(1, int(np.ceil(members.size / _CHUNK)))):
            if card == 0:
                weights = np.zeros((chunk.size, 1))  # esda's island weight 0
                self_w = np.zeros(chunk.size)
            else:
                weights = prep.other_weights[prep.offsets[chunk][:, None] + np.arange(card)]
                self_w = prep.self_weights[chunk]
            # z without area i, indexed by the permuted ids: position j is z[j] below i, z[j + 1] from i on.
            zrand = z[draw[None, :, :] + (draw[None, :, :] >= chunk[:, None, None])]
            zi = z[chunk][:, None]
            # esda's _moran_local_crand, zi * (zrand @ weights + self_weight * zi) * scaling, for every
            # area of the chunk at once (a stacked matmul: the same products and sums per area).
            lagged = np.matmul(zrand, weights[:, :, None])[:, :, 0]
            out[chunk] = zi * (lagged + self_w[:, None] * zi) * scaling
    return out


def local_moran_fast(y: np.ndarray, w: W, permutations: int, seed: int | None,
                     transform: str = "R", rows: np.ndarray | None = None) -> LocalMoran:
    """``esda.Moran_Local(y, w, transformation=transform, permutations=permutations, seed=seed,
    n_jobs=1)``'s ``Is``, ``q``, ``p_sim`` and ``z_sim`` (default quadrants, simulations kept).

    ``rows``: simulate only these areas (positions); the others' ``p_sim`` and ``z_sim`` are NaN,
    theirs are the full computation's (:func:`_simulated`)."""
    y = np.asarray(y, dtype=float).flatten()
    n = len(y)
    prep = prepared(w, transform)
    with np.errstate(all="ignore"):
        z = y - y.mean()
        z /= y.std()
        den = (z * z).sum()
        lag = prep.lag @ z
        local_i = (n - 1) * z * lag / den
        zp, lp = z > 0, lag > 0
        q = 1 * (zp * lp) + 2 * ((1 - zp) * lp) + 3 * ((1 - zp) * (1 - lp)) + 4 * (zp * (1 - lp))
        if seed is None:
            seed = np.random.randint(12345, 12345000)  # as esda's crand
        ids = _permuted_ids(int(prep.cardinalities.max()), n, permutations, int(seed))
        scaling = (n - 1) / (z * z).sum()
        sim = np.transpose(_simulated(z, prep, ids, scaling, rows))
        larger = (sim >= local_i).sum(0)
        low_extreme = (permutations - larger) < larger
        larger[low_extreme] = permutations - larger[low_extreme]
        p_sim = (larger + 1.0) / (permutations + 1.0)
        z_sim = (local_i - sim.mean(axis=0)) / sim.std(axis=0)
        if rows is not None:
            skipped = ~np.isin(np.arange(n), rows)
            p_sim[skipped], z_sim[skipped] = np.nan, np.nan
    return LocalMoran(Is=local_i, q=q, p_sim=p_sim, z_sim=z_sim)
