"""CSV exports of exactly the data behind a chart or table, safe to open in a spreadsheet."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
from dash import Input, Output, State, callback

from observatory.privacy import neutralise_csv_value as neutralise
from observatory.privacy import neutralise_frame

__all__ = ["download_payload", "neutralise", "register_csv_download", "to_csv"]


def to_csv(frame: pd.DataFrame) -> str:
    """UTF-8 CSV text (comma, header, no index) of ``frame`` with spreadsheet formulas neutralised.

    Numbers stay numbers: a negative count is written ``-3``, not ``'-3``.
    """
    return neutralise_frame(frame).to_csv(index=False)


def download_payload(frame: pd.DataFrame, filename: str) -> dict:
    """The ``dcc.Download`` data dict for ``frame`` as ``filename``."""
    return {"content": to_csv(frame), "filename": filename, "type": "text/csv"}


def register_csv_download(download_id: str, filename: str, make: Callable[..., pd.DataFrame]) -> Callable:
    """Register the callback of a card's "Download CSV" button (id ``<download_id>-btn``).

    ``make(view_state)`` returns exactly the DataFrame behind the card, read through the same
    role-aware data functions as the figure, so a download never shows more than the page.
    Returns the callback function (``fn(n_clicks, view_state_dict) -> dcc.Download data``).
    """
    from observatory.web.data import shared_scope
    from observatory.web.state import ViewState

    @callback(Output(download_id, "data"), Input(f"{download_id}-btn", "n_clicks"), State("view-state", "data"),
              prevent_initial_call=True)
    def _download(_n, state_dict):
        with shared_scope():  # one data version and one read of each aggregate per download
            return download_payload(make(ViewState.from_dict(state_dict)), filename)

    return _download
