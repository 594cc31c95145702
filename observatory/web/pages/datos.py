"""Datos / Data: import history, rejected rows, unknown labels, unassigned incidents, sources and
the definition of every indicator."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, callback, html

from observatory.vocabulary import SOURCE_KINDS
from observatory.web import data
from observatory.web.components import card, table
from observatory.web.export import register_csv_download
from observatory.web.i18n import DEFINITIONS, fmt_date, fmt_number, t
from observatory.web.layout import current_role, page
from observatory.web.state import ViewState, parse_query

dash.register_page(__name__, path="/datos", name="Datos", title="Observatorio · Datos", order=5)

HISTORY_COLUMNS = [("file_name", "col.file"), ("kind", "col.kind"), ("started", "col.started"),
                   ("status", "col.status"), ("total", "col.total"), ("loaded", "col.loaded"),
                   ("rejected", "col.rejected"), ("duplicates", "col.duplicates"), ("unassigned", "col.unassigned")]
# What each role gets is decided in observatory.queries.access.public_import_view: the public sees counts by
# reason kind, analysts each row with its field and the importer's own words.
PUBLIC_REJECTED_COLUMNS = [("file_name", "col.file"), ("reason", "col.reason"), ("rows", "col.rows")]
ANALYST_REJECTED_COLUMNS = [("file_name", "col.file"), ("row_number", "col.row"), ("field", "col.field"),
                            ("reason", "col.reason"), ("detail", "col.detail")]
UNKNOWN_COLUMNS = [("label", "col.label"), ("profile", "col.profile"), ("kind", "col.kind"),
                   ("records", "col.records"), ("count", "col.count")]
UNASSIGNED_COLUMNS = [("kind", "col.kind"), ("where", "col.reason"), ("records", "col.records"),
                      ("count", "col.count")]
DEFINITION_COLUMNS = [("name", "col.indicator"), ("what", "col.definition"), ("source", "col.source"),
                      ("formula", "col.formula")]
COUNT_COLUMNS = ("total", "loaded", "rejected", "duplicates", "unassigned", "records", "count", "rows")


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


def _label(prefix: str, code: object, lang: str) -> str:
    """The translated name of a code (``police``, ``outside_areas``...); an unforeseen code as it is."""
    if code is None or code is pd.NA or (isinstance(code, float) and code != code):
        return ""
    try:
        return t(f"{prefix}.{code}", lang)
    except KeyError:
        return str(code)


def _kind(code: object, lang: str) -> str:
    """An import's kind: police reports and complaints by their one name (``filter.source.*``)."""
    return t(f"filter.source.{code}", lang) if code in SOURCE_KINDS else _label("data.kind", code, lang)


def _formatted(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Counts in the locale's format (Babel separators, as every other number of the dashboard)."""
    out = frame.copy()
    for column in COUNT_COLUMNS:
        if column in out:
            out[column] = out[column].map(lambda v: fmt_number(v, lang) if pd.notna(v) else "")
    return out


def history(lang: str, role: str = "public") -> pd.DataFrame:
    """Import history for display: file names, translated kinds and statuses, locale dates and numbers."""
    frame = data.import_history(role)
    if frame.empty:
        return frame
    frame = frame.copy()
    population = frame["profile"].eq("population") if "profile" in frame else False
    frame["kind"] = frame["source_kind"].where(~population, "population").map(lambda v: _kind(v, lang))
    frame["status"] = frame["status"].map(lambda v: _label("data.status", v, lang))
    frame["started"] = frame["started_at"].map(lambda v: fmt_date(str(v), lang) if pd.notna(v) else "")
    for col in ("total", "loaded", "rejected", "duplicates", "unassigned"):
        if col not in frame:
            frame[col] = None
    return _formatted(frame, lang)


def rejected(lang: str, role: str = "public") -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    """Rejected rows for display and their columns: reasons named in ``lang`` (the importer's own
    sentence, which quotes the value, as "detail" for analysts only)."""
    frame = data.rejected_rows(role)
    restricted = "row_number" in frame.columns  # the query decided: per-row detail or counts
    if frame.empty:
        return frame, PUBLIC_REJECTED_COLUMNS
    frame = frame.copy()
    if restricted:
        frame["detail"] = frame["reason"]
    frame["reason"] = frame["reason_kind"].map(lambda v: _label("data.reject", v, lang))
    return _formatted(frame, lang), ANALYST_REJECTED_COLUMNS if restricted else PUBLIC_REJECTED_COLUMNS


def unknown(lang: str, role: str = "public") -> pd.DataFrame:
    """Unknown labels (as ``role`` may see them) with translated source kinds and locale numbers."""
    frame = data.unknown_labels(role)
    if frame.empty:
        return frame
    return _formatted(frame.assign(kind=frame["source_kind"].map(lambda v: _kind(v, lang))), lang)


def unassigned(lang: str) -> pd.DataFrame:
    """Incidents without a neighbourhood by kind and reason, translated, locale numbers."""
    frame = data.unassigned_summary()
    if frame.empty:
        return frame
    frame = frame.assign(kind=frame["source_kind"].map(lambda v: _kind(v, lang)),
                         where=frame["reason"].map(lambda v: _label("data.where", v, lang)))
    return _formatted(frame, lang)


@callback(Output("data-history", "children"), Output("data-rejected", "children"), Output("data-unknown", "children"),
          Output("data-unassigned", "children"), Input("view-state", "data"))
def _update_data(state_dict):
    lang = ViewState.from_dict(state_dict).lang
    role = current_role()
    rows, columns = rejected(lang, role)
    note = [] if "row_number" in rows.columns else [html.P(t("data.rejected.public_note", lang),
                                                           className="small text-muted")]
    return (
        table(history(lang, role), HISTORY_COLUMNS, lang, tid="history-table"),
        html.Div([*note, table(rows, columns, lang, tid="rejected-table")]),
        table(unknown(lang, role), UNKNOWN_COLUMNS, lang, tid="unknown-table"),
        table(unassigned(lang), UNASSIGNED_COLUMNS, lang, tid="unassigned-table"),
    )


# The downloads carry the same role-filtered frames (codes and plain numbers, for spreadsheets).
register_csv_download("data-history-dl", "import_history.csv", lambda s: data.import_history(current_role()))
register_csv_download("data-rejected-dl", "rejected_rows.csv", lambda s: data.rejected_rows(current_role()))
register_csv_download("data-unknown-dl", "unknown_labels.csv", lambda s: data.unknown_labels(current_role()))
register_csv_download("data-unassigned-dl", "unassigned.csv", lambda s: data.unassigned_summary())
register_csv_download("data-definitions-dl", "definitions.csv", lambda s: definitions(s.lang))
