"""Percepción / Perception: fear-of-crime index (overall, by sex, age, neighbourhood and wave),
survey indicators with 95% intervals (unreliable estimates marked), recorded crime vs survey."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, callback, html

from observatory.vocabulary import SEXES
from observatory.web import data, figures
from observatory.web.components import card, graph, table
from observatory.web.export import register_csv_download
from observatory.web.i18n import fmt_number, fmt_percent, t
from observatory.web.layout import current_role, page
from observatory.web.state import ViewState, parse_query

dash.register_page(__name__, path="/percepcion", name="Percepción", title="Observatorio · Percepción", order=3)

INDICATOR_COLUMNS = [("indicator_label", "col.indicator"), ("wave", "col.wave"), ("estimate_label", "col.value"),
                     ("ci_low_label", "col.low"), ("ci_high_label", "col.high"), ("n", "col.n"),
                     ("reliability", "col.class")]
SIDE_COLUMNS = [("name", "col.area"), ("rate_label", "col.rate"), ("estimate_label", "kpi.victimisation"),
                ("ci_label", "col.low"), ("reliability", "col.class")]


def layout(**query) -> html.Div:
    state = parse_query(query)
    lang, present = state.lang, state.present
    half = 12 if present else 6
    third = 12 if present else 4
    content = [
        html.H1(t("perception.title", lang), className="h4 chrome"),
        html.Div(id="perception-empty"),
        dbc.Row(
            [
                dbc.Col(card(t("perception.waves", lang), graph("perception-waves", present, "300px", "70vh"),
                             download_id="perception-waves-dl", lang=lang), xs=12, lg=third),
                dbc.Col(card(t("perception.by_sex", lang), graph("perception-sex", present, "300px", "70vh"),
                             download_id="perception-sex-dl", lang=lang), xs=12, lg=third),
                dbc.Col(card(t("perception.by_age", lang), graph("perception-age", present, "300px", "70vh"),
                             download_id="perception-age-dl", lang=lang), xs=12, lg=third),
            ],
            className="g-3",
        ),
        dbc.Row(
            [
                dbc.Col(card(fear_map_title(state),
                             [graph("perception-map", present, "460px", "80vh"), html.Div(id="perception-map-note")],
                             download_id="perception-map-dl", lang=lang, title_id="perception-map-title"),
                        xs=12, lg=half),
                dbc.Col(card(t("perception.indicators", lang),
                             [graph("perception-indicators", present, "460px", "80vh")],
                             download_id="perception-indicators-dl", lang=lang), xs=12, lg=half),
            ],
            className="g-3 mt-1",
        ),
        dbc.Row(dbc.Col(card(t("perception.recorded_vs_survey", lang), html.Div(id="perception-side"),
                             download_id="perception-side-dl", lang=lang), xs=12), className="g-3 mt-1"),
        html.P(t("perception.unreliable", lang), className="small text-muted mt-2 unreliable-note"),
    ]
    return page("perception", state, content)


def indicator_display(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Survey indicators with translated names, locale percentages and the reliability mark."""
    if frame.empty:
        return frame
    out = frame.copy()
    out["indicator_label"] = out["indicator"].map(lambda k: t(f"survey.{k}", lang))
    for col in ("estimate", "ci_low", "ci_high"):
        out[f"{col}_label"] = out[col].map(lambda v: fmt_percent(v, lang))
    out["reliability"] = out["unreliable"].map(lambda u: "⚠ " + t("survey.unreliable_short", lang) if u else "")
    out["n"] = out["n"].map(lambda v: fmt_number(v, lang))
    return out


def fear_map(state: ViewState):
    """High-fear share (newest wave), classes of the estimate; unreliable greyed.

    By neighbourhood, or by district when most neighbourhood estimates are unreliable
    (``data.fear_map_levels``): each neighbourhood is then drawn in its district's class and the
    hover names the district; :func:`fear_map_note` says why under the map.
    """
    lang, present = state.lang, state.present
    levels, level = data.fear_map_levels(state)
    geojson = data.areas_geojson_ref()
    if levels.empty or data.areas().empty:
        return figures.empty_figure(t("perception.nosurvey", lang), present)
    areas = data.areas()[["id", "code", "name", "district"]]
    key = "code" if level == "area" else "district"
    frame = areas.assign(key=areas[key].astype(str)).merge(levels, left_on="key", right_on="group", how="left")
    bins = [0.1, 0.2, 0.3, 0.4, 1.0]
    keys = ["c0", "c1", "c2", "c3", "c4"]
    labels = dict(zip(keys, figures.class_bounds_labels([b * 100 for b in bins], lang), strict=True))
    labels["na"] = t("perception.unreliable", lang)
    cls = pd.cut(frame["estimate"], [-0.001, *bins], labels=keys).astype(object)
    cls = cls.where(~frame["unreliable"].fillna(True).astype(bool), "na").fillna("na")
    shown = frame["name"].astype(str) if level == "area" else frame["district"].astype(str)
    frame = pd.DataFrame({"id": frame["id"], "cls": cls,
                          "text": "<b>" + shown + "</b><br>" + frame["estimate"].map(lambda v: fmt_percent(v, lang))})
    colours = [figures.palette("sequential", present)[i] for i in (0, 2, 3, 5, 6)]
    view = figures.map_view(data.areas_bounds(), small=not present)
    return figures.class_map(geojson, frame, [*keys, "na"], labels, [*colours, "#d9d9d9"], view, present=present,
                             height=None, legend_below=not present)


def fear_map_title(state: ViewState) -> str:
    """The fear map card's title, naming the level the map is drawn at (neighbourhood or district).

    The level depends on the filters (``data.fear_map_levels``), so the layout sets it for the
    URL's view and the page callback rewrites it when a filter changes.
    """
    _levels, level = data.fear_map_levels(state)
    return t("perception.fear_map_by_district" if level == "district" else "perception.fear_map", state.lang)


def fear_map_note(state: ViewState):
    """The note under the fear map when it fell back to districts (None otherwise)."""
    _levels, level = data.fear_map_levels(state)
    if level != "district":
        return None
    return html.P(t("perception.fear_map_district", state.lang), className="small text-muted mb-0 fear-map-note")


def fear_map_table(state: ViewState) -> pd.DataFrame:
    """The map's estimates with a ``level`` column ("area" or "district"), for the CSV download."""
    frame, level = data.fear_map_levels(state)
    return frame.assign(level=level)


def indicators_figure(frame: pd.DataFrame, lang: str, present: bool):
    """Bars with 95% intervals for the newest wave's indicators; unreliable ones hatched grey."""
    if frame.empty:
        return figures.empty_figure(t("perception.nosurvey", lang), present)
    newest = [w for w in data.wave_order() if w in set(frame["wave"].astype(str))]
    shown = frame[frame["wave"].astype(str) == (newest[-1] if newest else frame["wave"].iloc[-1])].copy()
    shown["label"] = shown["indicator"].map(lambda k: t(f"survey.{k}", lang))
    for col in ("estimate", "ci_low", "ci_high"):
        shown[col] = shown[col] * 100
    fig = figures.bars_figure(shown, "label", "estimate", lang, present=present, horizontal=True,
                              error=("ci_low", "ci_high"), colour_by="unreliable", height=None)
    fig.update_xaxes(ticksuffix="%", range=[0, 100])
    return fig


def perception_outputs(state: ViewState, role: str = "public") -> tuple:
    """Everything the Perception page draws for a view state (the fear map's title last)."""
    lang, present = state.lang, state.present
    nosurvey = figures.empty_figure(t("perception.nosurvey", lang), present)
    if data.survey_persons(state.district).empty:
        note = html.Div(t("perception.nosurvey", lang), className="alert alert-info")
        return (note, nosurvey, nosurvey, nosurvey, nosurvey, None, nosurvey,
                table(pd.DataFrame(), SIDE_COLUMNS, lang), t("perception.fear_map", lang))
    waves = figures.shares_figure(data.fear_shares(state, "wave"), lang, present=present, height=None)
    sex = data.fear_shares(state, "sex")
    sex["group"] = sex["group"].map(lambda s: t(f"sex.{s}", lang) if s in SEXES else s)
    by_sex = figures.shares_figure(sex, lang, present=present, height=None)
    by_age = figures.shares_figure(data.fear_shares(state, "age_group"), lang, present=present, height=None)
    indicators = indicators_figure(data.survey_indicators(state), lang, present)
    side = data.recorded_vs_survey(state, role)
    if not side.empty:
        side = side.assign(
            rate_label=side["rate"].map(lambda v: fmt_number(v, lang, 1)),
            estimate_label=side["estimate"].map(lambda v: fmt_percent(v, lang)),
            ci_label=side["ci_low"].map(lambda v: fmt_percent(v, lang)) + " – "
            + side["ci_high"].map(lambda v: fmt_percent(v, lang)),
            reliability=side["unreliable"].map(lambda u: "⚠ " + t("survey.unreliable_short", lang) if u else ""),
        )
    return (None, waves, by_sex, by_age, fear_map(state), fear_map_note(state), indicators,
            table(side, SIDE_COLUMNS, lang, tid="side-table"), fear_map_title(state))


@callback(Output("perception-empty", "children"), Output("perception-waves", "figure"),
          Output("perception-sex", "figure"), Output("perception-age", "figure"), Output("perception-map", "figure"),
          Output("perception-map-note", "children"),
          Output("perception-indicators", "figure"), Output("perception-side", "children"),
          Output("perception-map-title", "children"),
          Input("view-state", "data"))
def _update_perception(state_dict):
    return perception_outputs(ViewState.from_dict(state_dict), current_role())



register_csv_download("perception-waves-dl", "fear_by_wave.csv", lambda s: data.fear_levels(s, "wave"))
register_csv_download("perception-sex-dl", "fear_by_sex.csv", lambda s: data.fear_levels(s, "sex"))
register_csv_download("perception-age-dl", "fear_by_age.csv", lambda s: data.fear_levels(s, "age_group"))
register_csv_download("perception-map-dl", "fear_map.csv", fear_map_table)
register_csv_download("perception-indicators-dl", "survey_indicators.csv", data.survey_indicators)
register_csv_download("perception-side-dl", "recorded_vs_survey.csv",
                      lambda s: data.recorded_vs_survey(s, current_role()))
