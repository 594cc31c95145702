"""The import report: every input row counted as loaded, rejected or duplicate."""

from __future__ import annotations

import csv
import hashlib
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


class ImportFailed(ValueError):
    """An import that cannot go ahead; the message names the file, row and field."""


@dataclass
class Rejection:
    row_number: int  # line in the file, header = 1
    field: str | None
    reason: str
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportReport:
    """What one import did. ``total == loaded + rejected + duplicates`` always holds."""

    file_name: str
    source_kind: str
    profile: str
    sha256: str = ""
    batch_id: int | None = None
    total: int = 0
    loaded: int = 0
    rejected: int = 0
    duplicates: int = 0
    revised: int = 0  # included in ``loaded``: rows that changed a stored record
    unassigned: int = 0  # loaded rows that no area could be given to
    rejections: list[Rejection] = field(default_factory=list)
    unknown_labels: Counter = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)

    def reject(self, row_number: int, field_name: str | None, reason: str, raw: dict[str, Any] | None = None) -> None:
        self.rejections.append(Rejection(row_number, field_name, reason, dict(raw or {})))
        self.rejected = len(self.rejections)

    @property
    def balanced(self) -> bool:
        return self.total == self.loaded + self.rejected + self.duplicates

    def to_dict(self, max_rejections: int | None = 1000) -> dict[str, Any]:
        """A JSON-ready dict; rejections are capped at ``max_rejections`` (None: all)."""
        data = asdict(self)
        data["rejections"] = data["rejections"][:max_rejections] if max_rejections else data["rejections"]
        data["unknown_labels"] = dict(self.unknown_labels.most_common())
        return data

    def summary(self) -> str:
        """A short human-readable report."""
        lines = [
            f"{self.file_name} ({self.profile}, {self.source_kind}) -> batch {self.batch_id}",
            f"  rows read: {self.total:,}   loaded: {self.loaded:,}   rejected: {self.rejected:,}   "
            f"duplicates: {self.duplicates:,}   revised: {self.revised:,}   unassigned: {self.unassigned:,}",
        ]
        for rej in self.rejections[:20]:
            lines.append(f"  row {rej.row_number}: {rej.field or '-'}: {rej.reason}")
        if self.rejected > 20:
            lines.append(f"  ... {self.rejected - 20:,} more rejected rows (use --rejects FILE.csv)")
        if self.unknown_labels:
            lines.append("  unknown labels (stored as 'unclassified'; map each with `alias add LABEL CODE`; "
                         "codes: `python -m observatory categories`):")
            for label, n in self.unknown_labels.most_common(15):
                lines.append(f"    {label!r}: {n:,}")
        lines.extend(self._figure_lines())
        lines.extend(f"  note: {w}" for w in self.warnings)
        return "\n".join(lines)

    def _figure_lines(self) -> list[str]:
        """The figures of ``details`` a careful analyst needs, as ``--json`` has them."""
        d = self.details
        lines = []
        if "no_coordinates" in d:
            lines.append(f"  without coordinates: {d['no_coordinates']:,} (of which (0,0) placeholders: "
                         f"{d.get('zero_coordinates', 0):,}); swapped lat/lon fixed: "
                         f"{d.get('swapped_coordinates', 0):,}")
        if "outside_boundaries" in d:
            by = ", ".join(f"{k} {v:,}" for k, v in d.get("assigned_by", {}).items()) or "none"
            lines.append(f"  outside every area: {d['outside_boundaries']:,}; assigned by: {by}")
        if "declared_checked" in d:
            rate = d.get("declared_area_disagreement_rate")
            lines.append(f"  declared area vs point: {d['declared_disagree']:,} of {d['declared_checked']:,} compared "
                         f"rows disagree ({'-' if rate is None else f'{rate:.1%}'}); "
                         f"{d.get('declared_uncompared', 0):,} rows declaring an area could not be compared")
        if d.get("identical_rows"):
            lines.append(f"  rows identical to another row: {d['identical_rows']:,} "
                         f"({'dropped' if d.get('identical_rows_dropped') else 'kept as separate incidents'})")
        if d.get("withdrawn"):
            lines.append(f"  withdrawn (in the previous release, absent from this one): {d['withdrawn']:,}")
        return lines


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_rejects_csv(report: ImportReport, path: str | Path) -> None:
    """Write rejected rows (file, row, field, reason, then the raw values) for correction."""
    raw_columns: list[str] = []
    for rej in report.rejections:
        for key in rej.raw:
            if key not in raw_columns:
                raw_columns.append(key)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["file", "row", "field", "reason", *raw_columns])
        for rej in report.rejections:
            writer.writerow([report.file_name, rej.row_number, rej.field or "", rej.reason,
                             *[rej.raw.get(c, "") for c in raw_columns]])
