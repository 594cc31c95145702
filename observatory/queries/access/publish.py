"""The one publishing step: cell-key perturbation and suppression of a released table's cells."""

from __future__ import annotations

import numpy as np
import pandas as pd

from observatory.config import disclosure_policy
from observatory.queries import cellkey
from observatory.queries.access.release import Release


def publish(frame: pd.DataFrame, rel: Release, sensitive_rows: pd.Series | None = None) -> pd.DataFrame:
    """Published cells of a table computed on ``rel.filters``.

    Input: ``count`` (true, int) and ``key_sum`` (sum of the cell's noise keys) per cell.
    Output: a copy without ``key_sum``; ``count`` nullable ``Int64``, perturbed for the
    public (:func:`cellkey.perturb`) and NA where suppressed; ``suppressed`` (bool) and
    ``sensitive_withheld`` (bool, the same on every row). Cells are suppressed below k in
    small-area tables, in tables of sensitive categories only, and in the rows flagged by
    ``sensitive_rows`` (a breakdown by category: its sensitive categories' rows); every cell
    when ``rel.nothing_left``.
    """
    out = frame.copy()
    keys = out.pop("key_sum") if "key_sum" in out.columns else pd.Series(0, index=out.index)
    values = out["count"].fillna(0).to_numpy(dtype=np.int64)
    if not rel.perturbed:
        out["count"] = pd.array(values, dtype="Int64")
        out["suppressed"] = False
        out["sensitive_withheld"] = False
        return out
    policy = disclosure_policy()
    shown = cellkey.perturb(values, keys.fillna(0).to_numpy(dtype=np.int64), policy.max_noise)
    cells = np.full(len(out), rel.small_area or rel.sensitive_cells)
    if sensitive_rows is not None:
        cells |= sensitive_rows.to_numpy(dtype=bool)
    hide = (cells & (shown < policy.k)) | rel.nothing_left
    out["count"] = pd.array(shown, dtype="Int64")
    out.loc[hide, "count"] = pd.NA
    out["suppressed"] = hide
    out["sensitive_withheld"] = bool(rel.sensitive_withheld)
    return out

