"""Tendencias / Trends: monthly series with moving averages, last year and the seasonal band,
hour x weekday heat map, categories over time."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, callback, html

from observatory.web import charts, data
from observatory.web.components import card, graph
from observatory.web.export import register_csv_download
from observatory.web.i18n import t
from observatory.web.layout import current_role, page
from observatory.web.state import ViewState, parse_query

dash.register_page(__name__, path="/tendencias", name="Tendencias", title="Observatorio · Tendencias", order=2)


def layout(**query) -> html.Div:
    state = parse_query(query)
    lang, present = state.lang, state.present
    half = 12 if present else 6
    content = [
        html.H1(t("trends.title", lang), className="h4 chrome"),
        dbc.Row(dbc.Col(card(t("trends.monthly", lang), graph("trends-monthly", present, "420px", "80vh"),
                             download_id="trends-monthly-dl", lang=lang), xs=12), className="g-3"),
        dbc.Row(
            [
                dbc.Col(card(t("trends.hourweek", lang), graph("trends-hourweek", present, "380px", "80vh"),
                             download_id="trends-hourweek-dl", lang=lang), xs=12, lg=half),
                dbc.Col(card(t("trends.breakdown", lang), graph("trends-breakdown", present, "380px", "80vh"),
                             download_id="trends-breakdown-dl", lang=lang), xs=12, lg=half),
            ],
            className="g-3 mt-1",
        ),
    ]
    return page("trends", state, content)


@data.sharing  # its panels read each shared aggregate once
def trends_figures(state: ViewState, role: str = "public") -> tuple:
    """(monthly, hour x weekday, category breakdown) figures for a view state."""
    lang, present = state.lang, state.present
    return (
        charts.monthly_figure(data.monthly(state, role), lang, present=present),
        charts.hour_weekday_figure(data.hour_weekday(state, role), lang, present=present),
        charts.stacked_area_figure(data.category_month(state, role), lang, data.category_names(lang),
                                    present=present),
    )


@callback(Output("trends-monthly", "figure"), Output("trends-hourweek", "figure"),
          Output("trends-breakdown", "figure"), Input("view-state", "data"))
def _update_trends(state_dict):
    return trends_figures(ViewState.from_dict(state_dict), current_role())


_download_monthly = register_csv_download("trends-monthly-dl", "monthly.csv", lambda s: data.monthly(s, current_role()))


register_csv_download("trends-hourweek-dl", "hour_weekday.csv", lambda s: data.hour_weekday(s, current_role()))


register_csv_download("trends-breakdown-dl", "category_month.csv", lambda s: data.category_month(s, current_role()))
