"""Deduplicate stage: content hashes, record keys, and repeats within one file.

``record_key`` is ``<profile>:<source id>`` when the profile maps a record id column, else
``<profile>:h:<content hash>:<n>``, where the content hash covers every stored value of the row
and ``n`` numbers identical rows within the file (1, 2, ...). So rows without an id that are
identical to another row of the same file (one row per victim, points snapped to the same block,
or a repeated record) get distinct keys and are all kept, while importing the same file again,
or a later release containing it, adds nothing. A profile may instead drop them
(``identical_rows = "drop"``): only the first of each set is loaded, the others count as
duplicates. The report says how many there were either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from observatory.ingest.incidents.prepare import Rejections
from observatory.ingest.profiles import Profile

HASHED_FIELDS = ("source_id", "start", "end", "reported", "label", "count", "lon", "lat", "area_code", "area_name",
                 "victim_sex", "victim_age_group", "location_type", "address", "description")
HASH_KEY = "observatory-v1-a"  # 16 bytes: the SipHash key of content hashes; never change it


def content_hashes(prepared: pd.DataFrame) -> pd.Series:
    """A stable 16-hex-digit (64-bit) hash of each row's normalised values.

    pandas' ``hash_pandas_object`` (SipHash with a fixed key) over the normalised fields:
    vectorised, identical across runs and machines. 64 bits make an accidental collision
    between two different records of one source negligible (about 1e-7 for 2 million rows).
    """
    frame = prepared[list(HASHED_FIELDS)].copy()
    for name in ("lon", "lat", "count"):
        frame[name] = frame[name].round(7)
    for name in ("start", "end", "reported"):
        frame[name] = frame[name].astype("datetime64[s]").astype("int64").where(frame[name].notna(), -1)
    hashed = pd.util.hash_pandas_object(frame, index=False, hash_key=HASH_KEY).to_numpy()
    return pd.Series([f"{h:016x}" for h in hashed.tolist()], index=prepared.index, dtype=object)


def record_keys(prepared: pd.DataFrame, hashes: pd.Series, profile_name: str) -> pd.Series:
    """``<profile>:<source id>``, or ``<profile>:h:<hash>:<n>`` numbering identical rows without an id."""
    occurrence = (hashes.groupby(hashes, sort=False).cumcount() + 1).tolist()
    keys = [f"{profile_name}:{sid}" if sid is not None else f"{profile_name}:h:{h[:32]}:{n}"
            for sid, h, n in zip(prepared["source_id"].tolist(), hashes.tolist(), occurrence, strict=True)]
    return pd.Series([k[:200] for k in keys], index=prepared.index, dtype=object)


@dataclass
class Deduplicated:
    """The rows to compare with what is stored, and what was set aside within the file."""

    good: pd.DataFrame  # prepared rows with content_hash and record_key, one per record
    repeated_ids: int  # rows repeating another row's record id with the same values (duplicates)
    identical: int  # rows without an id identical to another row of the file
    dropped: int  # of ``identical``, those not loaded (identical_rows = "drop"): duplicates
    keys_seen: set[str]  # every record key the file holds, rejected and dropped rows included


def _flag_conflicts(good: pd.DataFrame, first: pd.Series, prepared: pd.DataFrame, rej: Rejections) -> None:
    first_hash = good.loc[first].set_index("record_key")["content_hash"]
    conflict = ~first & ~good["content_hash"].eq(good["record_key"].map(first_hash))
    if not conflict.any():
        return
    first_row = good.loc[first].set_index("record_key")["row"]
    clash = good[conflict]
    reasons = ("record id " + clash["source_id"] + " already appears on line "
               + clash["record_key"].map(first_row).astype("string") + " with different values")
    rej.flag(pd.Series(prepared.index.isin(clash.index), index=prepared.index), "record_id", "{value}",
             reasons.reindex(prepared.index))


def deduplicate(prepared: pd.DataFrame, rej: Rejections, profile: Profile) -> Deduplicated:
    """Key the rows not rejected; a conflicting repeat of a record id is rejected (in ``rej``)."""
    good = prepared[~rej.mask].copy()
    good["content_hash"] = content_hashes(good)
    good["record_key"] = record_keys(good, good["content_hash"], profile.name)
    keys_seen = set(good["record_key"].tolist())
    rejected_ids = prepared.loc[rej.mask, "source_id"].dropna()
    keys_seen.update(f"{profile.name}:{sid}"[:200] for sid in rejected_ids.tolist())
    first = ~good["record_key"].duplicated(keep="first")
    _flag_conflicts(good, first, prepared, rej)
    repeated = ~first & good["content_hash"].eq(good["record_key"].map(
        good.loc[first].set_index("record_key")["content_hash"]))
    good = good[first]
    identical = good["source_id"].isna() & good["content_hash"].duplicated(keep="first")
    dropped = 0
    if profile.identical_rows == "drop":
        dropped = int(identical.sum())
        good = good[~identical]
    return Deduplicated(good, int(repeated.sum()), int(identical.sum()), dropped, keys_seen)
