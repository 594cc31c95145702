"""Mapa / Map: choropleth of counts, rates or smoothed rates, Gi* hotspots, local Moran clusters,
emerging hotspots, a heat layer and (for analysts) incident points. A click opens the profile."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
from dash import Input, Output, State, callback, html

from observatory.web.components import card, graph
from observatory.web.export import download_payload
from observatory.web.i18n import t
from observatory.web.layout import current_role, page
from observatory.web.maps import click_target, map_figure, map_table
from observatory.web.state import MAP_LAYERS, ViewState, parse_query

dash.register_page(__name__, path="/mapa", name="Mapa", title="Observatorio · Mapa", order=1)



def layer_control(state: ViewState) -> dbc.RadioItems:
    """The map layer choice (part of the URL state)."""
    return dbc.RadioItems(
        id={"type": "opt", "key": "layer"},
        options=[{"label": t(f"map.layer.{name}", state.lang), "value": name} for name in MAP_LAYERS],
        value=state.layer, className="layer-choice",
    )


def layout(**query) -> html.Div:
    state = parse_query(query)
    lang = state.lang
    side = dbc.Col(
        [html.H1(t("map.title", lang), className="h4"),
         dbc.Label(t("map.layer", lang)), layer_control(state),
         dbc.Checklist(id={"type": "opt", "key": "fdr"}, className="mt-2 fdr-choice", switch=True,
                       options=[{"label": t("map.fdr", lang), "value": "fdr"}], value=["fdr"] if state.fdr else []),
         html.P(t("map.hint", lang), className="text-muted small mt-2")],
        xs=12, lg=3, className="chrome",
    )
    main = dbc.Col(card(t(f"map.layer.{state.layer}", lang), graph("map-graph", state.present, "640px", "88vh"),
                        download_id="map-dl", lang=lang, title_id="map-title"), xs=12, lg=12 if state.present else 9)
    return page("map", state, dbc.Row([side, main]))


@callback(Output("map-graph", "figure"), Output("map-title", "children"), Input("view-state", "data"))
def _update_map(state_dict):
    state = ViewState.from_dict(state_dict)
    # The title names the layer drawn: switching layers does not reload the page.
    return map_figure(state, current_role()), t(f"map.layer.{state.layer}", state.lang)


@callback(Output("map-dl", "data"), Input("map-dl-btn", "n_clicks"), State("view-state", "data"),
          prevent_initial_call=True)
def _download_map(_n, state_dict):
    state = ViewState.from_dict(state_dict)
    return download_payload(map_table(state, current_role()), f"map_{state.layer}.csv")


@callback(Output("nav-go", "href", allow_duplicate=True), Input("map-graph", "clickData"),
          State("view-state", "data"), prevent_initial_call=True)
def _open_profile(click, state_dict):
    href = click_target(click, ViewState.from_dict(state_dict))
    return href if href else dash.no_update

