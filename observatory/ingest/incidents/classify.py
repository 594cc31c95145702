"""Categories: source labels to canonical categories through the aliases, and reclassification.

A label goes through the profile's aliases, then the global ones (profile ``*``), then the
canonical codes and names; an unknown label is stored as ``unclassified`` with its original
text and listed in the report, to be mapped later with ``alias add`` (:func:`update_unclassified`).
"""

from __future__ import annotations

import hashlib
from collections import Counter

import pandas as pd
from sqlalchemy import Connection, insert, select, update

from observatory.db.models import CategoryAlias, CrimeCategory, ImportBatch, Incident
from observatory.ingest.batches import now
from observatory.ingest.profiles import Profile
from observatory.taxonomy import UNCLASSIFIED
from observatory.text import label_key


def store_profile_aliases(conn: Connection, profile: Profile, categories: dict[str, int]) -> None:
    """Insert the profile's aliases that are not stored yet (an alias edited with the CLI wins)."""
    if not profile.aliases:
        return
    known = set(conn.scalars(select(CategoryAlias.label_key).where(CategoryAlias.profile == profile.name)))
    rows = []
    for label, code in profile.aliases.items():
        key = label_key(label)
        if key and key not in known:
            rows.append({"profile": profile.name, "label_key": key, "category_id": categories[code]})
            known.add(key)
    if rows:
        conn.execute(insert(CategoryAlias), rows)


def categorise(conn: Connection, labels: pd.Series, profile_name: str) -> tuple[pd.Series, pd.Series, Counter]:
    """Category id and sensitive flag for each label: profile aliases, then global, else unclassified.

    Returns ``(category_id, sensitive, unknown_labels)``; ``unknown_labels`` counts rows per label.
    """
    rows_ = conn.execute(select(CrimeCategory)).all()
    cats = {row.code: (row.id, row.sensitive) for row in rows_}
    by_id = {cid: sensitive for cid, sensitive in cats.values()}
    # a label may be a canonical code or name (the generic formats): lowest priority
    aliases: dict[str, int] = {}
    for row in rows_:
        for name in (row.name_en, row.name_es, row.code):
            aliases.setdefault(label_key(name), row.id)
    rows = conn.execute(select(CategoryAlias.profile, CategoryAlias.label_key, CategoryAlias.category_id)
                        .where(CategoryAlias.profile.in_(["*", profile_name])))
    for _profile, key, category_id in sorted(rows, key=lambda r: r[0] != "*"):  # profile aliases override "*"
        aliases[key] = category_id
    unclassified = cats[UNCLASSIFIED][0]
    lookup = {label: aliases.get(label_key(label), unclassified) for label in labels.dropna().unique()}
    category_id = labels.map(lookup).fillna(unclassified).astype("int64")
    unknown = labels.fillna("").where(category_id == unclassified).dropna()
    counts = Counter({(label or "(blank)"): int(n) for label, n in unknown.value_counts().items()})
    return category_id, category_id.map(by_id).astype(bool), counts



def update_unclassified(conn: Connection, label: str, category_id: int, sensitive: bool,
                        profile: str | None = None) -> int:
    """Reclassify stored ``unclassified`` incidents whose label matches ``label`` (after `alias add`).

    Returns the number of incidents changed.
    """
    unclassified = conn.execute(select(CrimeCategory.id).where(CrimeCategory.code == UNCLASSIFIED)).scalar_one()
    query = select(Incident.original_label).where(Incident.category_id == unclassified).distinct()
    if profile and profile != "*":
        query = query.where(Incident.profile == profile)
    key = label_key(label)
    matching = [lbl for lbl in conn.scalars(query) if label_key(lbl) == key]
    if not matching:
        return 0
    stmt = (update(Incident).where(Incident.category_id == unclassified, Incident.original_label.in_(matching))
            .values(category_id=category_id, sensitive=sensitive))
    if profile and profile != "*":
        stmt = stmt.where(Incident.profile == profile)
    changed = conn.execute(stmt).rowcount or 0
    if changed:
        _record_reclassification(conn, label, category_id, profile, changed)
    return changed


def _record_reclassification(conn: Connection, label: str, category_id: int, profile: str | None,
                             changed: int) -> None:
    """A finished batch for a reclassification: the import history shows it, and the data
    version (response cache, incident cube) changes with it, as after an import."""
    code = conn.execute(select(CrimeCategory.code).where(CrimeCategory.id == category_id)).scalar_one()
    stamp = now()
    text_id = f"alias add {label!r} -> {code} (profile {profile or '*'})"
    conn.execute(ImportBatch.__table__.insert().values(
        file_name=text_id[:500], sha256=hashlib.sha256(text_id.encode()).hexdigest(), source_kind="reclassification",
        profile=profile or "*", started_at=stamp, finished_at=stamp, status="done", total=changed, loaded=0,
        revised=changed))
