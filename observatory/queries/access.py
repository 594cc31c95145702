"""Who may see what: every access rule of the observatory, in one place.

Roles:

- ``public`` (default, no login): aggregated counts only. In small-area tables (by
  neighbourhood, by neighbourhood x month, by district, or any table restricted to some
  neighbourhoods) a count below ``k = config.suppression_threshold()`` (default 5) --
  including zero -- is replaced by NA and flagged ``suppressed = True``. Sensitive
  categories (sexual and domestic violence) are withheld from an area whose sensitive
  count is below ``k``; they remain in the district totals (``counts_by_district``), which
  are themselves suppressed below ``k``. No incident points, no addresses, no free text, no
  victim attributes, no raw rejected rows, no user names.
- ``analyst`` and ``admin`` (login): everything, unsuppressed.

Suppression only masks cells; it does not do complementary suppression, so a masked cell
can sometimes be recovered by subtracting shown cells from a shown total. The thresholds
follow the portals listed in ``docs/indicators-recorded.md``.

Statistics that need the true counts (Gi*, local Moran, smoothed rates) read them through
the explicitly named ``unsuppressed_*`` functions of ``observatory.queries``; the web layer
may publish only derived, non-count outputs of those (a hot-spot class, a z-score), never
the counts nor a rate from which a suppressed count could be recovered.
"""

from __future__ import annotations

import pandas as pd

from observatory.config import suppression_threshold
from observatory.vocabulary import ACCOUNT_ROLES as RESTRICTED_ROLES
from observatory.vocabulary import ROLES

# Columns never returned to the public, whatever the query.
RESTRICTED_COLUMNS = ("address", "description", "victim_sex", "victim_age", "victim_age_group", "raw",
                      "user_name", "original_label_raw")


def check_role(role: str) -> str:
    """Return ``role`` if it is known; raise ``ValueError`` otherwise (an unknown role gets nothing)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    return role


def is_restricted(role: str) -> bool:
    """True for roles that see microdata (analyst, admin)."""
    return check_role(role) in RESTRICTED_ROLES


def can_see_points(role: str) -> bool:
    """Incident points (coordinates of single incidents) are for analysts and admins only."""
    return is_restricted(role)


def can_see_sensitive_points(role: str) -> bool:
    """Points of sexual and domestic violence: analysts and admins only (never the public)."""
    return is_restricted(role)


def threshold(role: str) -> int:
    """Smallest count shown to ``role``: ``k`` for the public, 0 (no suppression) otherwise."""
    return 0 if is_restricted(role) else suppression_threshold()


def suppress_small(frame: pd.DataFrame, role: str, column: str = "count") -> pd.DataFrame:
    """Mask counts below the role's threshold.

    Input: a table with an integer ``column``. Output: a copy whose ``column`` is nullable
    ``Int64`` with NA where the count is below ``k`` (public only) and a boolean
    ``suppressed`` column (always present, all False for analysts).
    """
    out = frame.copy()
    k = threshold(role)
    values = out[column].astype("Int64")
    mask = (values < k).fillna(False).astype(bool) if k > 0 else pd.Series(False, index=out.index)
    out[column] = values.mask(mask)
    out["suppressed"] = mask.to_numpy(dtype=bool)
    return out


def withhold_sensitive(frame: pd.DataFrame, role: str) -> pd.DataFrame:
    """Withhold small sensitive counts from each cell of a small-area table.

    Input: a table with ``count`` (all incidents of the cell) and ``sensitive_count`` (those
    of sensitive categories). For the public, a cell whose sensitive count is between 1 and
    ``k - 1`` loses it (those incidents stay in the district totals of ``counts_by_district``).
    Output: a copy without ``sensitive_count`` and with ``sensitive_withheld`` (bool), the
    SAME value on every row: True when any cell of the table lost sensitive incidents. A
    per-cell flag would itself tell the public that a cell had 1 to k-1 such incidents.
    """
    k = threshold(role)
    out = frame.copy()
    sens = out.pop("sensitive_count").fillna(0).astype("int64")
    hide = (sens > 0) & (sens < k)
    out["count"] = (out["count"] - sens.where(hide, 0)).astype("int64")
    out["sensitive_withheld"] = bool(hide.any())
    out["sensitive_withheld"] = out["sensitive_withheld"].astype(bool)
    return out


def drop_restricted_columns(frame: pd.DataFrame, role: str) -> pd.DataFrame:
    """Remove address, free text, victim attributes, raw rows and user names for the public."""
    if is_restricted(role):
        return frame
    return frame.drop(columns=[c for c in RESTRICTED_COLUMNS if c in frame.columns])
