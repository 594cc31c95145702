"""CSV exports of exactly the data behind a chart or table, safe to open in a spreadsheet."""

from __future__ import annotations

import pandas as pd

from observatory.privacy import neutralise_csv_value as neutralise
from observatory.privacy import neutralise_frame

__all__ = ["download_payload", "neutralise", "to_csv"]


def to_csv(frame: pd.DataFrame) -> str:
    """UTF-8 CSV text (comma, header, no index) of ``frame`` with spreadsheet formulas neutralised.

    Numbers stay numbers: a negative count is written ``-3``, not ``'-3``.
    """
    return neutralise_frame(frame).to_csv(index=False)


def download_payload(frame: pd.DataFrame, filename: str) -> dict:
    """The ``dcc.Download`` data dict for ``frame`` as ``filename``."""
    return {"content": to_csv(frame), "filename": filename, "type": "text/csv"}
