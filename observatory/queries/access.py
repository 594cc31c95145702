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


# --- import history and rejected rows (issue 9, finding 6) ------------------------------------------------
#
# A rejection reason quotes the value it could not read ("coordinates out of range: (-11035000.0, 2206000.0)",
# "unreadable date in column fecha: 'Av. Insurgentes 123'"): for the public, rejected rows are counted by
# reason KIND only (a fixed vocabulary, translated on the page), never with values, addresses, coordinates,
# row contents or free text. File names lose their server folder for every role (the audit log keeps paths).

REASON_KINDS = ("malformed_line", "missing_value", "repeated_id", "date", "time", "coordinates", "count", "age",
                "sex", "category", "geometry", "area_not_found", "population", "weight", "other")
_FIELD_KINDS = {"occurred_date": "date", "occurred_end_date": "date", "reported_date": "date",
                "occurred_time": "time", "occurred_end_time": "time", "reported_time": "time",
                "latitude": "coordinates", "longitude": "coordinates", "count": "count", "victim_age": "age",
                "victim_sex": "sex", "category": "category", "geometry": "geometry", "record_id": "repeated_id"}
# (pattern in the reason, kind), tried in order after the field: wording shared by every importer
_REASON_PATTERNS = (
    (r"instead of \d+|unreadable record|beyond the last header column|truncated line", "malformed_line"),
    (r"\bblank\b|\bmissing\b|\bempty\b", "missing_value"),
    (r"duplicate id|already appears|appears again|repeated", "repeated_id"),
    (r"\bpopulation\b", "population"),
    (r"no active area|\barea\b.*not found|matches no area", "area_not_found"),
    (r"\bweight\b", "weight"),
    (r"coordinates?\b", "coordinates"),
    (r"\bdate\b", "date"),
    (r"\btime\b", "time"),
    (r"polygon|geometr", "geometry"),
)
PUBLIC_HISTORY_COLUMNS = ("id", "file_name", "source_kind", "profile", "layer", "started_at", "finished_at",
                          "status", "total", "loaded", "rejected", "duplicates", "revised", "unassigned")
PUBLIC_REJECTED_COLUMNS = ("batch_id", "file_name", "reason_kind", "rows")


def reason_kind(field: str | None, reason: str | None) -> str:
    """The kind of a rejection (one of :data:`REASON_KINDS`) from its field and reason text.

    Structural problems (a malformed line, a blank required value, a repeated id) win over the field,
    then the canonical field decides, then the reason's wording; anything else is ``"other"``.
    """
    import re

    text = str(reason or "").lower()
    for pattern, kind in _REASON_PATTERNS[:3]:
        if re.search(pattern, text):
            return kind
    if field in _FIELD_KINDS:
        return _FIELD_KINDS[str(field)]
    for pattern, kind in _REASON_PATTERNS[3:]:
        if re.search(pattern, text):
            return kind
    return "other"


def file_name_only(name: object) -> object:
    """``/tmp/upload-x/datos.csv`` -> ``datos.csv`` (Windows separators too); other values unchanged."""
    if not isinstance(name, str):
        return name
    return name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def public_import_view(frame: pd.DataFrame, role: str) -> pd.DataFrame:
    """What ``role`` may see of the import history or of the rejected rows (told apart by their columns).

    Import history (has ``status``): file names without folders for every role; for the public only
    :data:`PUBLIC_HISTORY_COLUMNS` (no user names, no stored report). Rejected rows (has ``reason``):
    every role gets ``reason_kind``; analysts and admins keep each row with its field, reason and raw
    values; the public gets :data:`PUBLIC_REJECTED_COLUMNS`: one row per batch and reason kind with the
    number of rows, largest first, and nothing quoted from the file.
    """
    check_role(role)
    out = frame.copy()
    if "file_name" in out:
        out["file_name"] = out["file_name"].map(file_name_only)
    if "profile" in out:  # a profile given as a path (``/srv/profiles/city.toml``): its file name only
        out["profile"] = out["profile"].map(file_name_only)
    if "reason" not in out:
        if is_restricted(role):
            return out
        return out[[c for c in PUBLIC_HISTORY_COLUMNS if c in out.columns]]
    out["reason_kind"] = [reason_kind(f, r) for f, r in zip(out.get("field", [None] * len(out)), out["reason"],
                                                             strict=True)]
    if is_restricted(role):
        return out
    if out.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("batch_id", "rows") else object)
                             for c in PUBLIC_REJECTED_COLUMNS})
    grouped = (out.groupby(["batch_id", "file_name", "reason_kind"], sort=False).size().rename("rows")
               .reset_index())
    grouped["rows"] = grouped["rows"].astype("int64")
    return grouped.sort_values(["batch_id", "rows", "reason_kind"], ascending=[False, False, True],
                               ignore_index=True)[list(PUBLIC_REJECTED_COLUMNS)]
