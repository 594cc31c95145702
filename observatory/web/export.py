"""CSV exports of exactly the data behind a chart or table, safe to open in a spreadsheet."""

from __future__ import annotations

import pandas as pd

# A cell starting with one of these is run as a formula by Excel/LibreOffice (CSV injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """Prefix ``'`` to a text value that a spreadsheet would read as a formula; other values unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells (and column names) cannot run as formulas.

    Numbers stay numbers: a negative count is written ``-3``, not ``'-3``.
    """
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise)
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


def to_csv(frame: pd.DataFrame) -> str:
    """UTF-8 CSV text (comma, header, no index) of ``frame`` with formulas neutralised."""
    return safe_frame(frame).to_csv(index=False)


def download_payload(frame: pd.DataFrame, filename: str) -> dict:
    """The ``dcc.Download`` data dict for ``frame`` as ``filename``."""
    return {"content": to_csv(frame), "filename": filename, "type": "text/csv"}
