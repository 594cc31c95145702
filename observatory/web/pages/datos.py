"""Datos / Data: import history, rejected rows, unknown labels, unassigned incidents, sources and
the definition of every indicator."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, callback, html

from observatory.web import data
from observatory.web.components import card, table
from observatory.web.export import register_csv_download
from observatory.web.i18n import DEFINITIONS, fmt_date, t
from observatory.web.layout import page
from observatory.web.state import ViewState, parse_query

dash.register_page(__name__, path="/datos", name="Datos", title="Observatorio · Datos", order=5)

HISTORY_COLUMNS = [("file_name", "col.file"), ("source_kind", "col.kind"), ("started", "col.started"),
                   ("total", "col.total"), ("loaded", "col.loaded"), ("rejected", "col.rejected"),
                   ("duplicates", "col.duplicates"), ("unassigned", "col.unassigned")]
REJECTED_COLUMNS = [("file_name", "col.file"), ("row_number", "col.row"), ("field", "col.field"),
                    ("reason", "col.reason")]
DEFINITION_COLUMNS = [("name", "col.indicator"), ("what", "col.definition"), ("source", "col.source"),
                      ("formula", "col.formula")]
# Rejected rows keep the raw input for the importing analyst; the public page shows only why.
PUBLIC_REJECTED = ["batch_id", "file_name", "row_number", "field", "reason"]


def layout(**query) -> html.Div:
    state = parse_query(query)
    lang = state.lang
    content = [
        html.H1(t("data.title", lang), className="h4 chrome"),
        dbc.Row(dbc.Col(card(t("data.imports", lang), html.Div(id="data-history"), download_id="data-history-dl",
                             lang=lang), xs=12), className="g-3"),
        dbc.Row(
            [
                dbc.Col(card(t("data.rejected", lang), html.Div(id="data-rejected"), download_id="data-rejected-dl",
                             lang=lang), xs=12, lg=6),
                dbc.Col(card(t("data.unknown", lang), html.Div(id="data-unknown"), download_id="data-unknown-dl",
                             lang=lang), xs=12, lg=3),
                dbc.Col(card(t("data.unassigned", lang), html.Div(id="data-unassigned"),
                             download_id="data-unassigned-dl", lang=lang), xs=12, lg=3),
            ],
            className="g-3 mt-1",
        ),
        dbc.Row(dbc.Col(card(t("data.definitions", lang), table(definitions(lang), DEFINITION_COLUMNS, lang,
                                                                 tid="definitions-table"),
                             download_id="data-definitions-dl", lang=lang), xs=12), className="g-3 mt-1"),
    ]
    return page("data", state, content)


def definitions(lang: str) -> pd.DataFrame:
    """Every indicator's name, what it counts, its source and formula, in ``lang``."""
    return pd.DataFrame([
        {"name": t(f"def.{k}", lang), "what": t(f"def.{k}.what", lang), "source": t(f"def.{k}.source", lang),
         "formula": t(f"def.{k}.formula", lang)} for k in DEFINITIONS
    ])


def history(lang: str) -> pd.DataFrame:
    """Import history with locale dates."""
    frame = data.import_history()
    if frame.empty:
        return frame
    frame = frame.copy()
    started = "started_at" if "started_at" in frame else None
    frame["started"] = frame[started].map(lambda v: fmt_date(str(v), lang)) if started else ""
    for col in ("total", "loaded", "rejected", "duplicates", "unassigned"):
        if col not in frame:
            frame[col] = None
    return frame


def public_rejected() -> pd.DataFrame:
    """Rejected rows without the raw input values."""
    frame = data.rejected_rows()
    return frame[[c for c in PUBLIC_REJECTED if c in frame.columns]]


def _columns_of(frame: pd.DataFrame) -> list[tuple[str, str]]:
    keys = {"label": "col.label", "original_label": "col.label", "count": "col.count", "source_kind": "col.kind",
            "profile": "col.source", "reason": "col.reason", "assignment": "col.class", "n": "col.count"}
    return [(c, keys[c]) for c in frame.columns if c in keys]


@callback(Output("data-history", "children"), Output("data-rejected", "children"), Output("data-unknown", "children"),
          Output("data-unassigned", "children"), Input("view-state", "data"))
def _update_data(state_dict):
    lang = ViewState.from_dict(state_dict).lang
    unknown, unassigned = data.unknown_labels(), data.unassigned_summary()
    return (
        table(history(lang), HISTORY_COLUMNS, lang, tid="history-table"),
        table(public_rejected(), REJECTED_COLUMNS, lang, tid="rejected-table"),
        table(unknown, _columns_of(unknown), lang, tid="unknown-table"),
        table(unassigned, _columns_of(unassigned), lang, tid="unassigned-table"),
    )



register_csv_download("data-history-dl", "import_history.csv", lambda s: data.import_history())
register_csv_download("data-rejected-dl", "rejected_rows.csv", lambda s: public_rejected())
register_csv_download("data-unknown-dl", "unknown_labels.csv", lambda s: data.unknown_labels())
register_csv_download("data-unassigned-dl", "unassigned.csv", lambda s: data.unassigned_summary())
register_csv_download("data-definitions-dl", "definitions.csv", lambda s: definitions(s.lang))
