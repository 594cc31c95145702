"""Split stage: the file's records against what is stored for the same source, and area assignment.

A record whose key is stored with the same content hash is a duplicate; with another hash it is
a revision (updated in place, its previous values kept in ``incident_revisions``). A stored record
of the same source (source kind and profile), dated within the period this file covers, whose key
the file does not hold at all is WITHDRAWN: a new release no longer contains it. It is kept (the
observatory never deletes on an import's say-so) and reported, with its record ids, so the analyst
can see it and decide.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, select

from observatory.db.models import Incident
from observatory.ingest.report import ImportReport

WITHDRAWN_LISTED = 1000  # record ids of withdrawn records kept in the report


@dataclass
class Split:
    """The file's records by what they are to the database."""

    new: pd.DataFrame
    revised: pd.DataFrame  # with ``existing_id`` and ``old_revision``
    duplicates: int
    withdrawn: pd.DataFrame  # stored records absent from this release: record_key, source_id, occurred_on


def _existing(conn: Connection, source_kind: str, profile_name: str) -> pd.DataFrame:
    rows = conn.execute(select(Incident.record_key, Incident.id, Incident.content_hash, Incident.revision,
                               Incident.source_id, Incident.occurred_on)
                        .where(Incident.source_kind == source_kind, Incident.profile == profile_name))
    return pd.DataFrame(rows.all(), columns=["record_key", "id", "content_hash", "revision", "source_id",
                                             "occurred_on"])


def _withdrawn(existing: pd.DataFrame, good: pd.DataFrame, keys_seen: set[str]) -> pd.DataFrame:
    if existing.empty or good.empty:
        return existing.iloc[0:0]
    first, last = good["start"].min().date(), good["start"].max().date()
    dates = pd.to_datetime(existing["occurred_on"]).dt.date
    absent = (dates >= first) & (dates <= last) & ~existing["record_key"].isin(keys_seen)
    return existing.loc[absent, ["record_key", "source_id", "occurred_on"]]


def split_against_stored(conn: Connection, good: pd.DataFrame, keys_seen: set[str], source_kind: str,
                         profile_name: str) -> Split:
    """New, revised and duplicate records of ``good``, and the stored records this release withdrew."""
    existing = _existing(conn, source_kind, profile_name)
    merged = good.join(existing.set_index("record_key")[["id", "content_hash", "revision"]].add_suffix("_stored"),
                       on="record_key")
    stored = merged["id_stored"].notna()
    duplicate = stored & (merged["content_hash_stored"] == merged["content_hash"])
    revised_mask = stored & ~duplicate
    revised = good[revised_mask].copy()
    revised["existing_id"] = merged.loc[revised_mask, "id_stored"]
    revised["old_revision"] = merged.loc[revised_mask, "revision_stored"]
    return Split(good[~stored].copy(), revised, int(duplicate.sum()), _withdrawn(existing, good, keys_seen))


def report_withdrawn(report: ImportReport, withdrawn: pd.DataFrame) -> None:
    """Count and list the withdrawn records in the report: details ``withdrawn`` (the count),
    ``withdrawn_records`` (their source ids, sorted; the record key when a record has none) and
    ``withdrawn_occurred_on`` (each listed record's date, in the same order), at most
    :data:`WITHDRAWN_LISTED` of them (``python -m observatory status --batch N`` prints them)."""
    n = len(withdrawn)
    report.details["withdrawn"] = n
    if not n:
        return
    ids = withdrawn["source_id"].where(withdrawn["source_id"].notna(), withdrawn["record_key"])
    listed = sorted(zip(map(str, ids.tolist()), map(str, withdrawn["occurred_on"].tolist()), strict=True))
    listed = listed[:WITHDRAWN_LISTED]
    report.details["withdrawn_records"] = [record for record, _ in listed]
    report.details["withdrawn_occurred_on"] = [occurred for _, occurred in listed]
    first, last = withdrawn["occurred_on"].min(), withdrawn["occurred_on"].max()
    report.warnings.append(f"{n:,} records present in the previous release are absent from this one (stored "
                           f"records of this source dated {first} .. {last}, within this file's period); they "
                           f"are kept; their ids are listed in the report (withdrawn_records)")


def assign_areas(conn: Connection, prepared: pd.DataFrame, report: ImportReport) -> dict[int, pd.Series]:
    """Fill neighbourhood_id / assignment / declared_area_agrees; returns secondary layer assignments."""
    from observatory.ingest.assign import assign, load_layers

    prepared["neighbourhood_id"] = pd.Series(pd.NA, index=prepared.index, dtype="Int64")
    prepared["assignment"] = pd.Series(pd.NA, index=prepared.index, dtype="string")
    prepared["declared_area_agrees"] = pd.Series(pd.NA, index=prepared.index, dtype="boolean")
    layers = load_layers(conn)
    if not layers:
        report.warnings.append("no boundary layer is loaded: incidents are unassigned until boundaries are "
                               "imported (they are then reassigned)")
        return {}
    if prepared.empty:
        return {}
    frame = pd.DataFrame({
        "lon": prepared["lon"].astype("float64"), "lat": prepared["lat"].astype("float64"),
        "declared_area_code": prepared["area_code"].astype(object).where(prepared["area_code"].notna(), None),
        "declared_area_name": prepared["area_name"].astype(object).where(prepared["area_name"].notna(), None),
    }, index=prepared.index)
    result = assign(frame, layers)
    primary = result.primary
    prepared["neighbourhood_id"] = primary["neighbourhood_id"].astype("Int64")
    prepared["assignment"] = primary["assignment"].astype("string")
    prepared["declared_area_agrees"] = primary["declared_area_agrees"].astype("boolean")
    swapped = primary["swapped"].fillna(False).astype(bool)
    if swapped.any():
        lon, lat = prepared["lon"].copy(), prepared["lat"].copy()
        prepared.loc[swapped, "lon"] = lat[swapped]
        prepared.loc[swapped, "lat"] = lon[swapped]
    _report_assignment(report, result, prepared, int(swapped.sum()))
    return dict(result.secondary)


def _report_assignment(report: ImportReport, result, prepared: pd.DataFrame, swapped: int) -> None:
    details = report.details
    details["swapped_coordinates"] = details.get("swapped_coordinates", 0) + swapped
    details["outside_boundaries"] = int(result.primary["outside"].fillna(False).astype(bool).sum())
    details["assigned_by"] = {str(k): int(v) for k, v in prepared["assignment"].value_counts().items()}
    rate = result.disagreement_rate
    details["declared_area_disagreement_rate"] = None if rate is None or pd.isna(rate) else float(rate)
    for key in ("declared_checked", "declared_disagree", "declared_uncompared"):
        details[key] = int(result.stats.get(key, 0))
    unmatched = {kind: values for kind, values in result.unmatched.items() if values}
    details["unmatched_declared_areas"] = unmatched
    for kind, values in unmatched.items():
        listed = "; ".join(f"{v!r} ({n:,} rows)" for v, n in list(values.items())[:20])
        more = f"; and {len(values) - 20:,} more (see unmatched_declared_areas)" if len(values) > 20 else ""
        hint = " (map them to the boundary's names with [area_aliases] in the profile)" if kind == "name" else ""
        report.warnings.append(f"{sum(values.values()):,} rows declare an area {kind} that matches no area of "
                               f"any boundary layer{hint}: {listed}{more}")
