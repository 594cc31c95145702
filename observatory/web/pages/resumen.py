"""Resumen / Overview: key figures, the CompStat table, a small hotspot map, the risers, the
plan's targets and the evaluation of interventions."""

from __future__ import annotations

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, callback, html

from observatory.web import data
from observatory.web.components import card, graph, kpi, table
from observatory.web.export import download_payload, register_csv_download
from observatory.web.i18n import category_name, fmt_date, fmt_number, fmt_percent, t
from observatory.web.layout import current_role, page
from observatory.web.maps import map_figure, map_table
from observatory.web.state import ViewState, parse_query, replace_state

dash.register_page(__name__, path="/", name="Resumen", title="Observatorio · Resumen", order=0)

COMPSTAT_COLUMNS = [("period_label", "col.period"), ("current", "col.current"), ("previous", "col.previous"),
                    ("change_label", "col.change_pct"), ("significance", "col.pvalue")]
TARGET_TABLE_COLUMNS = [("indicator_label", "col.indicator"), ("scope_label", "col.scope"),
                        ("baseline_label", "col.baseline"), ("target_label", "col.target"),
                        ("target_on_label", "col.target_on"), ("current_label", "col.current"),
                        ("progress_label", "col.progress"), ("status_label", "col.status")]
INTERVENTION_TABLE_COLUMNS = [("name", "col.intervention"), ("area_codes", "col.areas"),
                              ("started_label", "col.started"), ("rr_label", "col.ratio"), ("ci_label", "col.ci95"),
                              ("effect_label", "col.effect"), ("comparison_label", "col.comparison"),
                              ("verdict_label", "col.verdict")]
RISER_COLUMNS = [("name", "col.area"), ("current", "col.current"), ("previous", "col.previous"),
                 ("change_label", "col.change_pct"), ("significance", "col.pvalue")]


def layout(**query) -> html.Div:
    state = parse_query(query)
    lang, present = state.lang, state.present
    wide = 12 if present else 6
    content = [
        html.H1(t("overview.title", lang), className="h4 chrome"),
        html.Div(id="overview-kpis"),
        dbc.Row(
            [
                dbc.Col(card(t("overview.hotspots", lang), graph("overview-map", present, "420px", "80vh"),
                             download_id="overview-map-dl", lang=lang), xs=12, lg=wide),
                dbc.Col(card(t("overview.compstat", lang), html.Div(id="overview-compstat"),
                             download_id="overview-compstat-dl", lang=lang), xs=12, lg=wide),
            ],
            className="g-3",
        ),
        dbc.Row(dbc.Col(card(t("overview.risers", lang),
                             [dbc.RadioItems(id="overview-risers-direction", inline=True, value="up",
                                             options=[{"label": t(f"overview.risers_{d}", lang), "value": d}
                                                      for d in ("up", "down")], className="chrome mb-1"),
                              html.Div(id="overview-risers"),
                              html.P(id="overview-risers-period", className="small text-muted mt-2 mb-0")],
                             download_id="overview-risers-dl", lang=lang), xs=12), className="g-3 mt-1"),
        dbc.Row(
            [
                dbc.Col(card(t("overview.targets", lang),
                             [html.Div(id="overview-targets"),
                              html.P(t("overview.targets_note", lang), className="small text-muted mt-2 mb-0")],
                             download_id="overview-targets-dl", lang=lang, cid="overview-targets-card"),
                        xs=12, lg=wide),
                dbc.Col(card(t("overview.interventions", lang),
                             [html.Div(id="overview-interventions-notice"), html.Div(id="overview-interventions"),
                              html.P(t("overview.interventions_note", lang), className="small text-muted mt-2 mb-0")],
                             download_id="overview-interventions-dl", lang=lang, cid="overview-interventions-card"),
                        xs=12, lg=wide),
            ],
            className="g-3 mt-1",
        ),
    ]
    return page("overview", state, content)


def significance_label(p: float | None, lang: str) -> str:
    """``p = 0,03 · significativo`` style label for a change's p-value."""
    if p is None or pd.isna(p):
        return t("kpi.na", lang)
    word = t("kpi.change_sig", lang) if p < 0.05 else t("kpi.change_nosig", lang)
    shown = f"p < {fmt_number(0.001, lang, 3)}" if p < 0.001 else f"p = {fmt_number(p, lang, 3)}"
    return f"{shown} · {word}"


def survey_kpi_note(k: dict, prefix: str, lang: str) -> str:
    """A survey card's note: 95% interval, n (or the unreliable mark), wave and level; "no data" alone
    when the survey did not ask (never "unreliable" next to "no data")."""
    wave = k.get("survey_wave") or ""
    level = t(f"survey.level.{k['survey_level']}", lang) if k.get("survey_level") else ""
    where = " · ".join(p for p in (wave, level) if p)
    if k.get(prefix) is None:
        return " · ".join(p for p in (t("survey.no_data", lang), where) if p) if wave else ""
    interval = f"{fmt_percent(k[prefix + '_ci_low'], lang)} – {fmt_percent(k[prefix + '_ci_high'], lang)}"
    parts = [t("survey.ci95", lang, interval=interval), f"n = {fmt_number(k[prefix + '_n'], lang)}"]
    if k.get(prefix + "_unreliable"):
        parts.append("⚠ " + t("survey.unreliable_short", lang))
    return " · ".join([*parts, where])


def kpi_cards(state: ViewState, role: str = "public", cs: pd.DataFrame | None = None) -> dbc.Row:
    """The KPI cards (total, rate, change with significance, high fear, victimisation)."""
    lang = state.lang
    k = data.kpis(state, role, cs)
    change = k.get("change_pct")
    change_text = t("kpi.na", lang) if change is None or pd.isna(change) else (
        ("+" if change > 0 else "") + fmt_number(change, lang, 1) + " %")
    cards = [
        kpi(t("kpi.total", lang), fmt_number(k.get("total"), lang), kid="kpi-total"),
        kpi(t("kpi.rate", lang), fmt_number(k.get("rate"), lang, 1),
            t("kpi.no_population", lang) if k.get("rate") is None and not data.has_population() else "",
            kid="kpi-rate"),
        kpi(t("kpi.change", lang), change_text, significance_label(k.get("change_p"), lang), kid="kpi-change"),
        kpi(t("kpi.fear", lang), fmt_percent(k.get("fear_high"), lang), survey_kpi_note(k, "fear_high", lang),
            kid="kpi-fear"),
        kpi(t("kpi.victimisation", lang), fmt_percent(k.get("victimisation"), lang),
            survey_kpi_note(k, "victimisation", lang), kid="kpi-victimisation"),
    ]
    width = {"xs": 12, "sm": 6, "lg": 4} if state.present else {"xs": 6, "md": 4, "xl": 2}
    return dbc.Row([dbc.Col(c, **width) for c in cards], className="g-2 mb-3 kpi-row")


def compstat_display(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """CompStat rows with translated period labels and locale-formatted changes."""
    if frame.empty:
        return frame
    out = frame.copy()
    out["period_label"] = out["period"].map(lambda p: t(f"period.{p}", lang))
    out["change_label"] = out["pct_change"].map(lambda v: fmt_number(v, lang, 1))
    out["significance"] = out["p_value"].map(lambda p: significance_label(p, lang))
    out["current"] = out["current"].map(lambda v: fmt_number(v, lang))
    out["previous"] = out["previous"].map(lambda v: fmt_number(v, lang))
    return out


def targets_display(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Plan targets (``data.plan_targets``) with translated names and statuses, locale numbers."""
    if frame.empty:
        return frame
    names = {code: (es, en) for code, es, en in
             data.categories()[["code", "name_es", "name_en"]].itertuples(index=False)}
    out = frame.copy()
    digits = out["kind"].map(lambda k: 1 if k == "rate_per_100k" else 0)
    out["indicator_label"] = [
        t(f"target.{kind}", lang, category=category_name(cat, lang, names)) if kind in data.TARGET_KINDS else ind
        for kind, cat, ind in zip(out["kind"], out["category"], out["indicator"], strict=True)]
    out["scope_label"] = out["scope"].map(lambda s: t("target.scope_city", lang) if s in ("", "city") else s)
    for col in ("baseline_value", "target_value", "current_value"):
        out[col.replace("_value", "_label")] = [fmt_number(v, lang, d) for v, d in zip(out[col], digits, strict=True)]
    out["target_on_label"] = out["target_on"].map(lambda d: fmt_date(d, lang))
    out["progress_label"] = out["progress"].map(lambda v: fmt_percent(v, lang, 0))
    out["status_label"] = out["status"].map(lambda s: t(f"target.status.{s}", lang))
    return out


def interventions_display(frame: pd.DataFrame, lang: str) -> pd.DataFrame:
    """Intervention results (``data.intervention_results``): ratio, 95% CI, effect and verdict."""
    if frame.empty:
        return frame
    out = frame.copy()
    out["started_label"] = out["started_on"].map(lambda d: fmt_date(d, lang))
    out["rr_label"] = out["rr"].map(lambda v: fmt_number(v, lang, 2))
    out["ci_label"] = [t("kpi.na", lang) if pd.isna(lo) else f"{fmt_number(lo, lang, 2)} – {fmt_number(hi, lang, 2)}"
                       for lo, hi in zip(out["rr_low"], out["rr_high"], strict=True)]
    out["effect_label"] = out["effect_pct"].map(
        lambda v: t("kpi.na", lang) if pd.isna(v) else t("intervention.effect", lang, pct=(
            ("+" if v > 0 else "") + fmt_percent(v / 100, lang, 0))))
    out["verdict_label"] = out["verdict"].map(lambda v: t(f"intervention.verdict.{v}", lang))
    out["comparison_label"] = [comparison_label(n, excluded, lang)
                               for n, excluded in zip(out["n_comparison"], out["excluded_neighbours"], strict=True)]
    return out


def comparison_label(n, excluded, lang: str) -> str:
    """"74 barrios; sin los 6 vecinos de los intervenidos: CD011, ..." (the comparison group used)."""
    if n is None or pd.isna(n):
        return t("kpi.na", lang)
    codes = [c for c in str(excluded or "").split(", ") if c]
    if not codes:
        return t("intervention.comparison_all", lang, n=fmt_number(n, lang))
    return t("intervention.comparison", lang, n=fmt_number(n, lang), m=fmt_number(len(codes), lang),
             codes=", ".join(codes))


def plan_tables(state: ViewState, role: str = "public") -> tuple:
    """The targets table and the interventions table (for the filters' crimes, source, victims) of the overview."""
    lang = state.lang
    return (table(targets_display(data.plan_targets(role), lang), TARGET_TABLE_COLUMNS, lang, tid="targets-table"),
            table(interventions_display(data.intervention_results(state, role), lang), INTERVENTION_TABLE_COLUMNS,
                  lang, tid="interventions-table"))


def interventions_notice(state: ViewState):
    """A short note naming the chosen filters the interventions panel does not apply (None when none)."""
    unapplied = data.intervention_unapplied_filters(state)
    if not unapplied:
        return None
    names = ", ".join(t(f"filter.{name}", state.lang).lower() for name in unapplied)
    return html.P(t("overview.interventions_unapplied", state.lang, filters=names),
                  className="small alert alert-secondary py-1 px-2 mb-2 interventions-unapplied")


def hotspot_figure(state: ViewState, role: str = "public"):
    """The small Gi* map of the overview."""
    return map_figure(replace_state(state, layer="gi"), role, small=not state.present)


def risers_panel(state: ViewState, role: str = "public", direction: str = "up") -> tuple:
    """(table, period sentence) of the areas with the strongest evidence of a rise or fall."""
    lang = state.lang
    frame = data.risers(state, role, direction)
    shown = compstat_display(frame.assign(period="12m"), lang) if not frame.empty else frame
    if frame.empty:
        return table(shown, RISER_COLUMNS, lang, tid="risers-table"), ""
    first = frame.iloc[0]
    period = t("overview.risers_period", lang, **{k: fmt_date(first[k].date(), lang)
                                                  for k in ("start", "end", "prev_start", "prev_end")})
    return table(shown, RISER_COLUMNS, lang, tid="risers-table"), period


@callback(Output("overview-risers", "children"), Output("overview-risers-period", "children"),
          Input("view-state", "data"), Input("overview-risers-direction", "value"))
@data.sharing
def _update_risers(state_dict, direction):
    return risers_panel(ViewState.from_dict(state_dict), current_role(), direction or "up")


@callback(
    Output("overview-kpis", "children"), Output("overview-map", "figure"), Output("overview-compstat", "children"),
    Output("overview-targets", "children"),
    Output("overview-interventions", "children"), Output("overview-interventions-notice", "children"),
    Input("view-state", "data"),
)
@data.sharing  # its panels read each shared aggregate once
def _update_overview(state_dict):
    state, role = ViewState.from_dict(state_dict), current_role()
    lang = state.lang
    table_cs = data.compstat(state, role)
    compstat = compstat_display(table_cs, lang)
    return (
        kpi_cards(state, role, table_cs),
        hotspot_figure(state, role),
        table(compstat, COMPSTAT_COLUMNS, lang, tid="compstat-table"),
        *plan_tables(state, role),
        interventions_notice(state),
    )


register_csv_download("overview-compstat-dl", "compstat.csv", lambda s: data.compstat(s, current_role()))


@callback(Output("overview-risers-dl", "data"), Input("overview-risers-dl-btn", "n_clicks"),
          State("view-state", "data"), State("overview-risers-direction", "value"), prevent_initial_call=True)
@data.sharing
def _download_risers(_n, state_dict, direction):
    # The list on screen, rises or falls as chosen, with its periods.
    direction = direction or "up"
    return download_payload(data.risers(ViewState.from_dict(state_dict), current_role(), direction),
                            f"{'risers' if direction == 'up' else 'fallers'}.csv")


@callback(Output("overview-map-dl", "data"), Input("overview-map-dl-btn", "n_clicks"),
          State("view-state", "data"), prevent_initial_call=True)
def _download_hotspots(_n, state_dict):
    state = replace_state(ViewState.from_dict(state_dict), layer="gi")
    return download_payload(map_table(state, current_role()), "hotspots.csv")



@callback(Output("overview-targets-dl", "data"), Input("overview-targets-dl-btn", "n_clicks"),
          prevent_initial_call=True)
def _download_targets(_n):
    return download_payload(data.plan_targets(current_role()), "plan_targets.csv")


@callback(Output("overview-interventions-dl", "data"), Input("overview-interventions-dl-btn", "n_clicks"),
          State("view-state", "data"), prevent_initial_call=True)
def _download_interventions(_n, state_dict):
    # The same filters as the table on screen: the CSV must be what the viewer sees.
    return download_payload(data.intervention_results(ViewState.from_dict(state_dict), current_role()),
                            "interventions.csv")
