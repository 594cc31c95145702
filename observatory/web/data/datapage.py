"""What the Datos page lists: import history, rejected rows, unknown labels, unassigned incidents."""

from __future__ import annotations

import pandas as pd

from observatory.web.data.runtime import (
    engine,
)

# --- data page -----------------------------------------------------------------------------------


def import_history(role: str = "public") -> pd.DataFrame:
    """Import batches, newest first, as ``role`` may see them (file names only; see queries.access)."""
    from observatory import queries

    return queries.import_history(engine(), role=role)


def rejected_rows(role: str = "public", limit: int = 500) -> pd.DataFrame:
    """Rejected input rows as ``role`` may see them: counts by reason kind for the public; each row with
    its line, field, reason and raw values for analysts (at most ``limit``)."""
    from observatory import queries

    return queries.rejected_rows(engine(), limit=limit, role=role)


def unknown_labels(role: str = "public") -> pd.DataFrame:
    """Source labels that mapped to no category, with counts, as ``role`` may see them (the public:
    only labels at least k records share; see queries.access.public_labels)."""
    from observatory import queries

    return queries.unknown_labels(engine(), role=role)


def unassigned_summary() -> pd.DataFrame:
    """Incidents without a neighbourhood, by reason/source."""
    from observatory import queries

    return queries.unassigned_summary(engine())
