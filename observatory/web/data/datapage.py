"""What the Datos page lists: import history, rejected rows, unknown labels, unassigned incidents."""

from __future__ import annotations

import pandas as pd

from observatory.web.data.runtime import (
    engine,
)

# --- data page -----------------------------------------------------------------------------------


def import_history() -> pd.DataFrame:
    """Import batches, newest first."""
    from observatory import queries

    return queries.import_history(engine())


def rejected_rows(limit: int = 500) -> pd.DataFrame:
    """Rejected input rows with file, line, field and reason."""
    from observatory import queries

    return queries.rejected_rows(engine(), limit=limit)


def unknown_labels() -> pd.DataFrame:
    """Source labels that mapped to no category, with counts."""
    from observatory import queries

    return queries.unknown_labels(engine())


def unassigned_summary() -> pd.DataFrame:
    """Incidents without a neighbourhood, by reason/source."""
    from observatory import queries

    return queries.unassigned_summary(engine())
