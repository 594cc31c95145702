"""What the public sees of row-level tables: no restricted columns, shared labels only, file names
without folders, rejected rows counted by reason kind."""

from __future__ import annotations

import pandas as pd

from observatory.config import disclosure_policy
from observatory.queries.access.roles import check_role, is_restricted

# Columns never returned to the public, whatever the query.
RESTRICTED_COLUMNS = ("address", "description", "victim_sex", "victim_age", "victim_age_group", "raw",
                      "user_name", "original_label_raw", "reason")


def drop_restricted_columns(frame: pd.DataFrame, role: str) -> pd.DataFrame:
    """Remove address, free text (rejection reasons quote values), victim attributes, raw rows
    and user names for the public."""
    if is_restricted(role):
        return frame
    return frame.drop(columns=[c for c in RESTRICTED_COLUMNS if c in frame.columns])


def public_labels(frame: pd.DataFrame, role: str) -> pd.DataFrame:
    """Unclassified source labels as ``role`` may see them: for the public only a label that at
    least k records share (over every profile and source kind), all of them otherwise.

    Why: a label is free text from the source file; a column-shifted export puts an address or a
    name in the label column, and such a value is carried by one or a few records, never by k.
    """
    if is_restricted(role) or frame.empty:
        return frame
    shared = frame.groupby("label")["records"].transform("sum") >= disclosure_policy().k
    return frame[shared].reset_index(drop=True)


def public_file_names(frame: pd.DataFrame, role: str) -> pd.DataFrame:
    """For the public, ``file_name`` without folders (the server's paths are not published)."""
    if is_restricted(role) or "file_name" not in frame.columns:
        return frame
    out = frame.copy()
    out["file_name"] = out["file_name"].map(
        lambda v: v if not isinstance(v, str) else v.replace("\\", "/").rsplit("/", 1)[-1])
    return out
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

