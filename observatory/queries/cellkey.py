"""The cell-key perturbation of published counts (the ONS method), as pure functions.

Why: suppression alone is undone by differencing (a suppressed month is the difference of
two published windows). Here every published count gets a small noise that depends only on
WHICH incidents make up the cell: the same incidents always give the same noise, so asking
again, or asking the same thing another way, cannot average it away, and the difference of
two overlapping cells carries the noise of both. The method is the one the UK's Office for
National Statistics uses for its census tables (cell-key perturbation, "ptable").

- **Noise key** (ONS: "record key"): each incident gets a stable pseudo-random number in
  0..255 from its database id, ``((id * 2654435761 + salt) % 4294967291) % 256`` (a
  multiplicative hash modulo the largest 32-bit prime; ids below 2^31 keep the product within
  64-bit integers on SQLite and PostgreSQL). The salt is the deployment's
  (``config.DisclosurePolicy.key_salt``): without it the keys cannot be computed.
- **Cell key**: the sum of the noise keys of the cell's stored rows, modulo 256. A row that
  stands for several incidents (``count`` > 1, aggregated sources) weighs once: it is one record.
- **Perturbation table** (:func:`ptable`): row ``d`` lists, for each cell key, the noise added to
  a cell whose true value ``v`` has ``min(v, D) = d``. The noise is symmetric around zero with
  triangular probabilities ``(d + 1 - |j|) / (d + 1)^2`` for ``j`` in ``-d..d`` (rounded to
  multiples of 1/256, the same count of keys for ``j`` and ``-j``), so it is unbiased, a zero
  stays zero and a published value is never negative. Keys are assigned to noise values in a
  fixed shuffled order, so two cell keys that differ by a little do not get related noise.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from sqlalchemy import literal_column
from sqlalchemy.sql.elements import ColumnElement

KEY_SPACE = 256
MULTIPLIER = 2654435761
PRIME = 4294967291
_SHUFFLE_SEED = 20260901  # fixed: the table is part of the published method, not a secret


def noise_keys(ids: np.ndarray, salt: int) -> np.ndarray:
    """Noise keys (uint8, 0..255) of incident ``ids`` (the SQL expression's values, exactly)."""
    values = np.asarray(ids, dtype=np.int64)
    return (((values * MULTIPLIER + int(salt) % PRIME) % PRIME) % KEY_SPACE).astype(np.uint8)


def noise_key_sql(id_column: ColumnElement, salt: int) -> ColumnElement:
    """The same noise key as a SQL expression (portable: ``*``, ``+`` and ``%`` on integers)."""
    # Inlined integers: bind parameters would be typed int4 on PostgreSQL and overflow.
    mult, prime = literal_column(str(MULTIPLIER)), literal_column(str(PRIME))
    return ((id_column * mult + literal_column(str(int(salt) % PRIME))) % prime) % literal_column(str(KEY_SPACE))


def noise_distribution(d: int) -> dict[int, int]:
    """How many of the 256 cell keys get each noise ``j`` in ``-d..d`` (symmetric, sums to 256)."""
    if d == 0:
        return {0: KEY_SPACE}
    weights = {j: d + 1 - abs(j) for j in range(1, d + 1)}
    total = (d + 1) ** 2
    sides = {j: int(KEY_SPACE * w // total) for j, w in weights.items()}
    out = {0: KEY_SPACE - 2 * sum(sides.values())}
    for j, n in sides.items():
        out[j] = out[-j] = n
    return dict(sorted(out.items()))


@cache
def ptable(max_noise: int) -> np.ndarray:
    """The perturbation table: int8 array of shape ``(max_noise + 1, 256)``, noise of row
    ``min(v, D)`` at column ``cell key`` (read-only)."""
    rng = np.random.default_rng(_SHUFFLE_SEED)
    rows = []
    for d in range(max_noise + 1):
        values = np.concatenate([np.full(n, j, dtype=np.int8) for j, n in noise_distribution(d).items()])
        rows.append(values[rng.permutation(KEY_SPACE)])
    table = np.vstack(rows)
    table.setflags(write=False)
    return table


def perturb(values: np.ndarray, cell_keys: np.ndarray, max_noise: int) -> np.ndarray:
    """Published values (int64) of true counts ``values`` with cell keys ``cell_keys`` (0..255)."""
    v = np.asarray(values, dtype=np.int64)
    keys = np.asarray(cell_keys, dtype=np.int64) % KEY_SPACE
    if max_noise <= 0 or v.size == 0:
        return v.copy()
    rows = np.clip(v, 0, max_noise)
    return v + ptable(int(max_noise))[rows, keys].astype(np.int64)
