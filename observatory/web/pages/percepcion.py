"""Percepción / Perception: fear-of-crime index (overall, by sex, age, neighbourhood and wave),
survey indicators with 95% intervals (unreliable estimates marked), recorded crime vs survey."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, callback, html

from observatory.vocabulary import SEXES
from observatory.web import charts, data, figures
from observatory.web.components import card, graph, table
from observatory.web.export import register_csv_download
from observatory.web.i18n import fmt_number, fmt_percent, t
from observatory.web.layout import current_role, page
from observatory.web.state import ViewState, parse_query

dash.register_page(__name__, path="/percepcion", name="Percepción", title="Observatorio · Percepción", order=3)

INDICATOR_COLUMNS = [("indicator_label", "col.indicator"), ("wave", "col.wave"), ("estimate_label", "col.value"),
                     ("ci_low_label", "col.low"), ("ci_high_label", "col.high"), ("n", "col.n"),
                     ("reliability", "col.class")]
FIGURE_COLUMNS = [("indicator_label", "col.indicator"), ("crime_label", "col.crime_type"), ("wave", "col.wave"),
                  ("level_label", "col.level"), ("estimate_label", "col.value"), ("ci_label", "col.ci95"),
                  ("n_label", "col.n"), ("method_label", "col.method"), ("reliability", "col.class")]
CHANGE_COLUMNS = [("indicator_label", "col.indicator"), ("crime_label", "col.crime_type"),
                  ("from_wave", "col.from_wave"), ("to_wave", "col.to_wave"), ("change_label", "col.change"),
                  ("ci_label", "col.ci95"),
                  ("p_label", "col.p_value"), ("verdict", "col.class")]
TOTALS = ("crimes", "incidence")
FEAR_COLUMNS = [("by_label", "col.by"), ("group_label", "col.group"), ("estimate_label", "kpi.fear"),
                ("ci_label", "col.ci95"), ("n_label", "col.n"), ("reliability", "col.class")]
GENDER_RECORDED_COLUMNS = [("category_label", "col.category"), ("count_label", "col.count"),
                           ("rate_label", "col.rate")]
GENDER_SURVEY_COLUMNS = [("indicator_label", "col.indicator"), ("sex_label", "col.sex"),
                         ("estimate_label", "col.value"), ("ci_label", "col.ci95"), ("n_label", "col.n"),
                         ("reliability", "col.class")]
SIDE_COLUMNS = [("name", "col.area"), ("rate_label", "col.rate_annual"), ("estimate_label", "kpi.victimisation"),
                ("ci_label", "col.ci95"), ("perception_label", "col.perception"), ("ratio_label", "col.survey_ratio"),
                ("ratio_ci_label", "col.ci95"), ("mismatch_label", "col.period"), ("reliability", "col.class")]


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
        html.Div(id="perception-fear-note"),
        dbc.Row(
            [
                dbc.Col(card(fear_map_title(state),
                             [graph("perception-map", present, "460px", "80vh"), html.Div(id="perception-map-note"),
                              html.Div(id="perception-map-level")],
                             download_id="perception-map-dl", lang=lang, title_id="perception-map-title"),
                        xs=12, lg=half),
                dbc.Col(card(t("perception.indicators", lang),
                             [graph("perception-indicators", present, "460px", "80vh"),
                              html.Div(id="perception-indicators-note")],
                             download_id="perception-indicators-dl", lang=lang), xs=12, lg=half),
            ],
            className="g-3 mt-1",
        ),
        dbc.Row(
            [
                dbc.Col(card(t("survey.figures", lang), html.Div(id="perception-figures"),
                             download_id="perception-figures-dl", lang=lang), xs=12, lg=8 if not present else 12),
                dbc.Col(card(t("survey.changes", lang), html.Div(id="perception-changes"),
                             download_id="perception-changes-dl", lang=lang), xs=12, lg=4 if not present else 12),
            ],
            className="g-3 mt-1",
        ),
        html.P(t("survey.fear_own_scoring", lang), className="small text-muted mt-2 fear-scoring-note"),
        dbc.Row(dbc.Col(card(t("survey.gender", lang), html.Div(id="perception-gender"),
                             download_id="perception-gender-dl", lang=lang), xs=12), className="g-3 mt-1"),
        dbc.Row(dbc.Col(card(t("perception.recorded_vs_survey", lang), html.Div(id="perception-side"),
                             download_id="perception-side-dl", lang=lang), xs=12), className="g-3 mt-1"),
        html.P(t("perception.unreliable", lang), className="small text-muted mt-2 unreliable-note"),
    ]
    return page("perception", state, content)


def _reliability(unreliable: object, n: object, lang: str) -> str:
    """The reliability mark; nothing when there is no data (never "unreliable" next to "no data")."""
    if pd.isna(n) or int(n) == 0:
        return t("survey.no_data", lang)
    return "⚠ " + t("survey.unreliable_short", lang) if bool(unreliable) else ""


def indicator_label(indicator: str, definition: object, lang: str) -> str:
    """The figure's name: the dark figure carries its agency's name ("cifra negra (INEGI)")."""
    if indicator == "dark_figure" and isinstance(definition, str) and definition:
        return t(f"survey.dark.{definition}", lang)
    return t(f"survey.{indicator}", lang)


def _named(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """A copy of survey rows with the indicator's and the crime type's names in ``lang``."""
    names = data.category_names(lang)
    out = frame.copy()
    out["indicator_label"] = [indicator_label(i, d, lang) for i, d in zip(out["indicator"], out["definition"],
                                                                           strict=True)]
    out["crime_label"] = out["crime_type"].map(lambda c: t("survey.all_crimes", lang) if c == "all"
                                               else names.get(c, c))
    return out


def figures_display(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Survey figures with translated names, level, method, locale numbers and the reliability mark."""
    if frame.empty:
        return frame
    out = _named(frame, lang)
    out["level_label"] = out["level"].map(lambda v: t(f"survey.level.{v}", lang))
    out["method_label"] = out["method"].map(lambda v: t(f"survey.method_short.{v}", lang))
    total = out["indicator"].isin(TOTALS)
    fmt = [(lambda v: fmt_number(v, lang, 0)) if is_total else (lambda v: fmt_percent(v, lang)) for is_total in total]
    out["estimate_label"] = [f(v) for f, v in zip(fmt, out["estimate"], strict=True)]
    out["ci_label"] = [f"{f(lo)} – {f(hi)}" for f, lo, hi in zip(fmt, out["ci_low"], out["ci_high"], strict=True)]
    out["n_label"] = out["n"].map(lambda v: fmt_number(v, lang))
    out["reliability"] = [_reliability(u, n, lang) for u, n in zip(out["unreliable"], out["n"], strict=True)]
    return out


def changes_display(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Changes between waves in percentage points, with the interval, p and the verdict."""
    if frame.empty:
        return frame
    out = _named(frame, lang)
    points = lambda v: t("survey.points", lang, value=fmt_number(v, lang, 1))  # noqa: E731
    out["change_label"] = out["points"].map(points)
    out["ci_label"] = out["points_low"].map(points) + " – " + out["points_high"].map(points)
    out["p_label"] = out["p_value"].map(lambda v: fmt_number(v, lang, 3))
    out["verdict"] = out["significant"].map(lambda v: t("survey.significant" if v else "survey.not_significant",
                                                        lang))
    return out


def panel_note(state: ViewState, frame: pd.DataFrame) -> html.P | None:
    """"Level · wave · CI method" of the figures a panel draws: its newest wave, or each survey's
    newest wave when the panel shows several surveys side by side."""
    if frame is None or frame.empty or "wave" not in frame:
        return None
    levels = data.wave_levels(state)
    lang = state.lang
    rows = frame.assign(level=frame["level"] if "level" in frame else frame["wave"].astype(str).map(levels),
                        method=frame["method"] if "method" in frame else "kish_wilson")
    shown = [w for series in data.wave_series() for w in series[-1:] if w in set(rows["wave"].astype(str))]
    shown = shown or [str(rows["wave"].iloc[-1])]
    parts = []
    for wave in shown:
        row = rows[rows["wave"].astype(str) == wave].iloc[-1]
        parts.append(t("survey.panel_note", lang, level=t(f"survey.level.{row['level']}", lang), wave=wave,
                       method=t(f"survey.method.{row['method']}", lang)))
    return html.P(" | ".join(parts), className="small text-muted mb-0 survey-panel-note")


def fear_map(state: ViewState):
    """High-fear share (newest wave), classes of the estimate; unreliable greyed.

    By neighbourhood, or by district when most neighbourhood estimates are unreliable
    (``data.fear_map_levels``): each neighbourhood is then drawn in its district's class and the
    hover names the district; :func:`fear_map_note` says why under the map.
    """
    lang, present = state.lang, state.present
    levels, level = data.fear_map_levels(state)
    geojson = data.areas_geojson_ref()
    if not data.has_neighbourhood_level():
        return figures.empty_figure(t("survey.no_neighbourhood_level", lang), present)
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
    # The newest wave of each survey (ENSU's last quarter beside ENVIPE's year), named in the label.
    present_waves = set(frame["wave"].astype(str))
    newest = [[w for w in series if w in present_waves] for series in data.wave_series()]
    newest = {ws[-1] for ws in newest if ws} or {str(frame["wave"].iloc[-1])}
    shown = frame[frame["wave"].astype(str).isin(newest)].copy()
    shown["label"] = [f"{indicator_label(i, d, lang)} · {w}" for i, d, w in
                      zip(shown["indicator"], shown["definition"], shown["wave"], strict=True)]
    for col in ("estimate", "ci_low", "ci_high"):
        shown[col] = shown[col] * 100
    fig = charts.bars_figure(shown, "label", "estimate", lang, present=present, horizontal=True,
                              error=("ci_low", "ci_high"), colour_by="unreliable", height=None)
    fig.update_xaxes(ticksuffix="%", range=[0, 100])
    return fig


def fear_table(state: ViewState) -> list:
    """The high-fear share of each bar drawn above (by wave, sex, age) with its interval and n, and
    the panel's level / wave note: the stacked bars alone show neither."""
    lang = state.lang
    parts = []
    for by, key in (("wave", "col.wave"), ("sex", "col.sex"), ("age_group", "col.age")):
        levels = data.fear_levels(state, by)
        if levels.empty:
            continue
        high = levels[levels["fear_level"] == "high"]
        parts.append(high.assign(by_label=t(key, lang), group_label=high[by].astype(str).map(
            lambda g, _by=by: t(f"sex.{g}", lang) if _by == "sex" and g in SEXES else g)))
    if not parts:
        return []
    rows = pd.concat(parts, ignore_index=True)
    rows = rows.assign(estimate_label=rows["estimate"].map(lambda v: fmt_percent(v, lang)),
                       ci_label=rows["ci_low"].map(lambda v: fmt_percent(v, lang)) + " – "
                       + rows["ci_high"].map(lambda v: fmt_percent(v, lang)),
                       n_label=rows["n"].map(lambda v: fmt_number(v, lang)),
                       reliability=[_reliability(u, n, lang) for u, n in zip(rows["unreliable"], rows["n"],
                                                                             strict=True)])
    return [table(rows, FEAR_COLUMNS, lang, tid="fear-table"), panel_note(state, data.fear_levels(state, "wave"))]


def _fear_figure(shares: pd.DataFrame, lang: str, present: bool):
    """Stacked fear shares, or a note that the loaded surveys do not ask the fear items."""
    if shares.empty:
        return figures.empty_figure(t("survey.no_fear_items", lang), present)
    return charts.shares_figure(shares, lang, present=present, height=None)


def _side_display(side: pd.DataFrame, lang: str) -> pd.DataFrame:
    if side.empty:
        return side
    pct = lambda v: fmt_percent(v / 100_000, lang)  # noqa: E731 - the survey rate back to its share, for display
    return side.assign(
        rate_label=side["recorded_rate"].map(lambda v: fmt_number(v, lang, 1)),
        estimate_label=side["survey_rate"].map(pct),
        ci_label=side["survey_low"].map(pct) + " – " + side["survey_high"].map(pct),
        perception_label=side["perception"].map(lambda v: fmt_percent(v, lang)),
        ratio_label=side["underreporting_ratio"].map(lambda v: fmt_number(v, lang, 1)),
        ratio_ci_label=side["ratio_low"].map(lambda v: fmt_number(v, lang, 1)) + " – "
        + side["ratio_high"].map(lambda v: fmt_number(v, lang, 1)),
        mismatch_label=side["period_mismatch"].map(lambda m: t("survey.period_mismatch", lang) if m else ""),
        reliability=[_reliability(u, n, lang) for u, n in zip(side["ratio_unreliable"], side["n"], strict=True)],
    )


def gender_panel(state: ViewState, role: str) -> list:
    """Recorded sexual and domestic violence (counts, rates) beside survey figures of women vs men."""
    lang = state.lang
    lens = data.gender_lens(state, role)
    names = data.category_names(lang)
    recorded = lens["recorded"].assign(
        category_label=lens["recorded"]["category"].map(lambda c: names.get(c, c)),
        count_label=lens["recorded"]["count"].map(lambda v: t("kpi.na", lang) if v is None or pd.isna(v)
                                                  else fmt_number(v, lang)),
        rate_label=lens["recorded"]["rate"].map(lambda v: t("kpi.na", lang) if v is None or pd.isna(v)
                                                else fmt_number(v, lang, 1)))
    survey = lens["survey"]
    if not survey.empty:
        survey = survey.assign(
            indicator_label=survey["indicator"].map(lambda k: t(f"survey.{k}" if k != "fear_high" else "kpi.fear",
                                                                lang)),
            sex_label=survey["sex"].map(lambda v: t("survey.women_minus_men", lang) if v == "F-M"
                                        else t(f"sex.{v}", lang)),
            estimate_label=survey["estimate"].map(lambda v: fmt_percent(v, lang)),
            ci_label=survey["ci_low"].map(lambda v: fmt_percent(v, lang)) + " – "
            + survey["ci_high"].map(lambda v: fmt_percent(v, lang)),
            n_label=survey["n"].map(lambda v: "" if pd.isna(v) else fmt_number(v, lang)),
            reliability=[(t("survey.significant" if sig else "survey.not_significant", lang) if sx == "F-M"
                          else _reliability(u, n, lang))
                         for sx, sig, u, n in zip(survey["sex"], survey["significant"], survey["unreliable"],
                                                  survey["n"], strict=True)])
    return [html.P(t("survey.gender_recorded", lang), className="small mb-1"),
            table(recorded, GENDER_RECORDED_COLUMNS, lang, tid="gender-recorded-table"),
            html.P(t("survey.gender_survey", lang), className="small mb-1 mt-2"),
            table(survey, GENDER_SURVEY_COLUMNS, lang, tid="gender-survey-table") if not survey.empty
            else html.Div(t("survey.no_sex", lang), className="text-muted", id="gender-survey-table"),
            panel_note(state, lens["survey"])]


def _top_notes(state: ViewState) -> html.Div | None:
    """What the whole page must say: filters the surveys cannot apply."""
    if all(data.filters_applied(state).values()):
        return None
    return html.Div(t("survey.filters_not_applied", state.lang), className="alert alert-warning survey-filter-note")


def perception_outputs(state: ViewState, role: str = "public") -> tuple:
    """Everything the Perception page draws for a view state, in the callback's output order (the
    fear map's note sixth, its title last)."""
    lang, present = state.lang, state.present
    nosurvey = figures.empty_figure(t("perception.nosurvey", lang), present)
    all_figures = data.survey_figures(state)
    if all_figures.empty and data.survey_persons(state.district).empty:
        note = html.Div(t("perception.nosurvey", lang), className="alert alert-info")
        empty = table(pd.DataFrame(), SIDE_COLUMNS, lang)
        return (note, nosurvey, nosurvey, nosurvey, nosurvey, None, nosurvey, empty, empty, empty, None, None,
                gender_panel(state, role), None, t("perception.fear_map", lang))
    waves = _fear_figure(data.fear_shares(state, "wave"), lang, present)
    sex = data.fear_shares(state, "sex")
    sex["group"] = sex["group"].map(lambda s: t(f"sex.{s}", lang) if s in SEXES else s)
    by_sex = _fear_figure(sex, lang, present)
    by_age = _fear_figure(data.fear_shares(state, "age_group"), lang, present)
    shares = data.survey_indicators(state)
    indicators = indicators_figure(shares, lang, present)
    side = _side_display(data.recorded_vs_survey(state, role), lang)
    figure_rows = figures_display(all_figures, lang)
    changes = changes_display(data.survey_changes(state), lang)
    return (_top_notes(state), waves, by_sex, by_age, fear_map(state), fear_map_note(state), indicators,
            table(side, SIDE_COLUMNS, lang, tid="side-table"),
            table(figure_rows, FIGURE_COLUMNS, lang, tid="survey-figures-table", max_rows=400),
            table(changes, CHANGE_COLUMNS, lang, tid="survey-changes-table") if not changes.empty
            else html.Div(t("survey.one_wave", lang), className="text-muted", id="survey-changes-table"),
            fear_table(state), panel_note(state, shares), gender_panel(state, role),
            panel_note(state, data.fear_levels(state, "area")), fear_map_title(state))


@callback(Output("perception-empty", "children"), Output("perception-waves", "figure"),
          Output("perception-sex", "figure"), Output("perception-age", "figure"), Output("perception-map", "figure"),
          Output("perception-map-note", "children"),
          Output("perception-indicators", "figure"), Output("perception-side", "children"),
          Output("perception-figures", "children"), Output("perception-changes", "children"),
          Output("perception-fear-note", "children"), Output("perception-indicators-note", "children"),
          Output("perception-gender", "children"), Output("perception-map-level", "children"),
          Output("perception-map-title", "children"),
          Input("view-state", "data"))
def _update_perception(state_dict):
    return perception_outputs(ViewState.from_dict(state_dict), current_role())


register_csv_download("perception-waves-dl", "fear_by_wave.csv", lambda s: data.fear_levels(s, "wave"))
register_csv_download("perception-sex-dl", "fear_by_sex.csv", lambda s: data.fear_levels(s, "sex"))
register_csv_download("perception-age-dl", "fear_by_age.csv", lambda s: data.fear_levels(s, "age_group"))
register_csv_download("perception-map-dl", "fear_map.csv", fear_map_table)
register_csv_download("perception-indicators-dl", "survey_indicators.csv", data.survey_indicators)
register_csv_download("perception-figures-dl", "survey_figures.csv", data.survey_figures)
register_csv_download("perception-changes-dl", "survey_changes.csv", data.survey_changes)
register_csv_download("perception-gender-dl", "gender_lens.csv",
                      lambda s: data.gender_lens(s, current_role())["survey"])
register_csv_download("perception-side-dl", "recorded_vs_survey.csv",
                      lambda s: data.recorded_vs_survey(s, current_role()))
