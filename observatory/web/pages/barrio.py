"""Barrio / Neighbourhood profile: one neighbourhood against the city."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go
from dash import Input, Output, callback, dcc, html

from observatory.config import suppression_threshold
from observatory.web import data, figures
from observatory.web.components import card, graph, kpi
from observatory.web.export import register_csv_download
from observatory.web.i18n import fmt_number, fmt_percent, t
from observatory.web.layout import current_role, page
from observatory.web.maps import GI_KEYS, MORAN_KEYS
from observatory.web.state import ViewState, parse_query

dash.register_page(__name__, path="/barrio", name="Barrio", title="Observatorio · Barrio", order=4)


def layout(**query) -> html.Div:
    state = parse_query(query)
    lang, present = state.lang, state.present
    half = 12 if present else 6
    row = data.area_row(state)
    picker = dbc.Row(dbc.Col([dbc.Label(t("neighbourhood.pick", lang), html_for="area-pick"),
                              dcc.Dropdown(id={"type": "opt", "key": "area"}, options=data.area_options(),
                                           value=str(row["id"]) if row is not None else None,
                                           placeholder=t("neighbourhood.none", lang))], xs=12, md=6),
                     className="chrome mb-2")
    content = [
        html.H1(t("neighbourhood.title", lang), className="h4 chrome"),
        picker,
        html.Div(id="profile-kpis"),
        dbc.Row(
            [
                dbc.Col(card(t("trends.monthly", lang), graph("profile-monthly", present, "380px", "75vh"),
                             download_id="profile-monthly-dl", lang=lang), xs=12, lg=half),
                dbc.Col(card(t("neighbourhood.mix", lang), graph("profile-categories", present, "380px", "75vh"),
                             download_id="profile-categories-dl", lang=lang), xs=12, lg=half),
            ],
            className="g-3",
        ),
    ]
    return page("neighbourhood", state, content)


@data.sharing  # its panels read each shared aggregate once
def profile_outputs(state: ViewState, role: str = "public") -> tuple:
    """(KPI row, monthly figure, category figure) of the chosen neighbourhood against the city."""
    lang, present = state.lang, state.present
    row = data.area_row(state)
    if row is None:
        empty = figures.empty_figure(t("neighbourhood.none", lang), present)
        return html.Div(t("neighbourhood.none", lang), className="alert alert-info"), empty, empty
    # The finest tables first: within the callback's scope the coarser ones of the same selection
    # (the city's category table and total) are then summed from their cells (``queries.cube``).
    monthly = data.area_monthly(state, role)
    cats = data.area_categories(state, role)
    stats = data.area_stats(state, role, moran_area=int(row["id"]))  # Moran's permutations for this area only
    mine = stats[stats["id"] == row["id"]].iloc[0]
    city = data.city_headline(state, role)  # the overview's figures without a district: one rule
    count_text = f"< {suppression_threshold()}" if pd.isna(mine["count"]) else fmt_number(mine["count"], lang)
    fear = data.area_fear(state)
    fear_note = (t("neighbourhood.city", lang) + ": " + fmt_percent(fear.get("city"), lang)) if fear else ""
    if fear and not data.has_neighbourhood_level():  # ENSU: city only; say so instead of "no survey"
        fear_note = t("survey.no_neighbourhood_level", lang) + " " + fear_note
    elif fear.get("area") is None and fear:
        fear_note += " · " + t("survey.no_data", lang)  # never "unreliable" next to "no data"
    elif fear.get("unreliable"):
        fear_note += " · ⚠ " + t("survey.unreliable_short", lang)
    cards = [
        kpi(str(row["name"]), count_text, t("kpi.total", lang), kid="profile-count"),
        kpi(t("kpi.rate", lang), fmt_number(mine["rate"], lang, 1),
            t("neighbourhood.city", lang) + ": " + fmt_number(city["rate"], lang, 1)
            if data.has_population() else t("kpi.no_population", lang), kid="profile-rate"),
        kpi(t("map.layer.gi", lang), t(f"gi.{GI_KEYS.get(mine['gi_class'], 'ns')}", lang), kid="profile-gi"),
        kpi(t("map.layer.moran", lang), t(f"moran.{MORAN_KEYS.get(mine['moran'], 'ns')}", lang), kid="profile-moran"),
        kpi(t("kpi.fear", lang), fmt_percent(fear.get("area"), lang), fear_note, kid="profile-fear"),
    ]
    width = {"xs": 12, "sm": 6} if present else {"xs": 6, "md": 4, "xl": 2}
    kpis = dbc.Row([dbc.Col(c, **width) for c in cards], className="g-2 mb-3")

    colours = figures.palette("lines", present)
    width = 4 if present else 2
    if monthly.empty:
        fig_m = figures.empty_figure(t("nodata", lang), present)
    else:
        months = pd.to_datetime(monthly["month"])
        # One layout dict, validated once (figures.layout), instead of an update call per setting.
        fig_m = go.Figure([
            go.Scatter(x=months, y=monthly["area_rate"], name=str(row["name"]), mode="lines+markers",
                       line={"color": colours[0], "width": width}),
            go.Scatter(x=months, y=monthly["city_rate"], name=t("neighbourhood.city", lang), mode="lines",
                       line={"color": colours[1], "width": width, "dash": "dash"}),
        ], layout=figures.layout(present, lang, yaxis={"title": {"text": t("kpi.rate", lang)}},
                                 legend={"orientation": "h", "y": -0.15}, xaxis=figures.month_ticks(months, lang)))
    if cats.empty:
        fig_c = figures.empty_figure(t("nodata", lang), present)
    else:
        cats = cats.sort_values("city_share", ascending=False).head(10)
        label = cats["name_en" if lang == "en" else "name_es"]
        fig_c = go.Figure([
            go.Bar(y=label, x=cats["area_share"] * 100, orientation="h", name=str(row["name"]),
                   marker={"color": colours[0]}),
            go.Bar(y=label, x=cats["city_share"] * 100, orientation="h", name=t("neighbourhood.city", lang),
                   marker={"color": colours[1]}),
        ], layout=figures.layout(present, lang, xaxis={"ticksuffix": "%"}, yaxis={"autorange": "reversed"},
                                 barmode="group", legend={"orientation": "h", "y": -0.15}))
    return kpis, fig_m, fig_c


@callback(Output("profile-kpis", "children"), Output("profile-monthly", "figure"),
          Output("profile-categories", "figure"), Input("view-state", "data"))
def _update_profile(state_dict):
    return profile_outputs(ViewState.from_dict(state_dict), current_role())


register_csv_download("profile-monthly-dl", "neighbourhood_monthly.csv", lambda s: data.area_monthly(s, current_role()))


register_csv_download("profile-categories-dl", "neighbourhood_categories.csv",
                      lambda s: data.area_categories(s, current_role()))
