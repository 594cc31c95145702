"""Building blocks shared by every page: the shell (navbar, banner, filters), cards and tables.

A page's ``layout(**query)`` calls :func:`shell` with its content; everything it renders is
translated from the catalogue in ``observatory.web.i18n``. Elements with the ``chrome`` class
are hidden in presentation mode (``assets/observatory.css``).
"""

from __future__ import annotations

from collections.abc import Sequence

import dash_bootstrap_components as dbc
import pandas as pd
from dash import dcc, html

from observatory.vocabulary import ACCOUNT_ROLES, AGE_GROUPS, SEXES
from observatory.web.i18n import t
from observatory.web.state import SOURCES, ViewState, replace_state, to_query

# page key -> (Spanish path, catalogue key of its name)
PAGES: dict[str, tuple[str, str]] = {
    "overview": ("/", "nav.overview"),
    "map": ("/mapa", "nav.map"),
    "trends": ("/tendencias", "nav.trends"),
    "perception": ("/percepcion", "nav.perception"),
    "neighbourhood": ("/barrio", "nav.neighbourhood"),
    "data": ("/datos", "nav.data"),
}

# The restricted analysis page (pages/analista.py) is linked only for the roles that may open it;
# it is a full page load (html.A) because it lives outside the shared shell.
ANALYSIS_PATH = "/analista"
ANALYSIS_ROLES: frozenset[str] = frozenset(ACCOUNT_ROLES)


def page_href(page: str, state: ViewState) -> str:
    """Link to ``page`` that keeps the whole view state (filters, language, presentation)."""
    return PAGES[page][0] + to_query(state)


def navbar(page: str, state: ViewState, role: str = "public") -> dbc.Navbar:
    """Top bar: page links, language switch, presentation toggle, the analysis link (analysts and
    admins only), role and login link."""
    lang = state.lang
    links = [
        dbc.NavItem(
            dcc.Link(t(key, lang), href=page_href(name, state), id=f"nav-{name}",
                     className="nav-link" + (" active" if name == page else ""))
        )
        for name, (_path, key) in PAGES.items()
    ]
    other = "en" if lang == "es" else "es"
    path = PAGES[page][0]
    return dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand(t("app.title", lang), href=page_href("overview", state), className="me-3"),
                dbc.NavbarToggler(id="nav-toggler"),
                dbc.Collapse(
                    [
                        dbc.Nav(links, navbar=True, className="me-auto"),
                        dbc.Nav(
                            [
                                dbc.NavItem(dcc.Link(t("nav.language", lang), id="nav-lang", className="nav-link",
                                                     href=path + to_query(replace_state(state, lang=other)))),
                                dbc.NavItem(dcc.Link(t("nav.present", lang), id="nav-present", className="nav-link",
                                                     href=path + to_query(replace_state(state, present=True)))),
                                *([dbc.NavItem(html.A(t("nav.analysis", lang), href=ANALYSIS_PATH + to_query(state),
                                                      id="nav-analysis", className="nav-link"))]
                                  if role in ANALYSIS_ROLES else []),
                                # inline-block: Bootstrap's navbar-text padding then lines it up with the links.
                                dbc.NavItem(html.Span(t(f"role.{role}", lang),
                                                      className="navbar-text d-inline-block mx-2")),
                                dbc.NavItem(html.A(t("nav.login" if role == "public" else "nav.logout", lang),
                                                   href="/login" if role == "public" else "/logout",
                                                   id="nav-login", className="nav-link")),
                            ],
                            navbar=True,
                        ),
                    ],
                    id="nav-collapse", navbar=True, is_open=False,
                ),
            ],
            fluid=True,
        ),
        color="dark", dark=True, className="chrome mb-2", expand="lg",
    )


def filter_bar(state: ViewState, options: dict) -> html.Div:
    """The shared filters, initialised from ``state``.

    ``options`` holds ``categories`` (list of (value, label) incl. ICCS sections), ``districts``
    (list of str) and ``date_min`` / ``date_max`` (ISO strings or None).
    """
    lang = state.lang
    return html.Div(
        dbc.Row(
            [
                dbc.Col([dbc.Label(t("filter.dates", lang), html_for="f-dates"),
                         dcc.DatePickerRange(id="f-dates", start_date=state.date_from or options.get("date_min"),
                                             end_date=state.date_to or options.get("date_max"),
                                             min_date_allowed=options.get("date_min"),
                                             max_date_allowed=options.get("date_max"),
                                             display_format="DD/MM/YYYY" if lang == "es" else "YYYY-MM-DD",
                                             start_date_placeholder_text=t("filter.date_start", lang),
                                             end_date_placeholder_text=t("filter.date_end", lang),
                                             first_day_of_week=1)], xs=12, md=6, xl=3),
                dbc.Col([dbc.Label(t("filter.categories", lang), html_for="f-cat"),
                         dcc.Dropdown(id="f-cat", options=[{"label": lab, "value": val}
                                                           for val, lab in options.get("categories", [])],
                                      value=list(state.categories), multi=True,
                                      placeholder=t("filter.categories_all", lang))], xs=12, md=6, xl=3),
                dbc.Col([dbc.Label(t("filter.source", lang), html_for="f-src"),
                         dcc.Dropdown(id="f-src", options=[{"label": t(f"filter.source.{s}", lang), "value": s}
                                                           for s in SOURCES],
                                      value=state.source, clearable=False)], xs=6, md=3, xl=2),
                dbc.Col([dbc.Label(t("filter.district", lang), html_for="f-district"),
                         dcc.Dropdown(id="f-district", options=[{"label": d, "value": d}
                                                                for d in options.get("districts", [])],
                                      value=state.district, placeholder=t("filter.district_all", lang))],
                        xs=6, md=3, xl=2),
                dbc.Col([dbc.Label(t("filter.sex", lang), html_for="f-sex"),
                         dcc.Dropdown(id="f-sex", options=[{"label": t(f"sex.{s}", lang), "value": s} for s in SEXES],
                                      value=state.sex, placeholder=t("filter.sex_all", lang))], xs=6, md=3, xl=1),
                dbc.Col([dbc.Label(t("filter.age", lang), html_for="f-age"),
                         dcc.Dropdown(id="f-age", options=[{"label": a, "value": a} for a in AGE_GROUPS],
                                      value=state.age, placeholder=t("filter.age_all", lang))], xs=6, md=3, xl=1),
            ],
            # Bottom-aligned: a label that wraps in a narrow column does not push its control below the others.
            className="g-2 align-items-end",
        ),
        className="chrome filters px-3 py-2 mb-2 overflow-hidden",
        role="search",
        **{"aria-label": t("filter.title", lang)},
    )


def banner(lang: str) -> dbc.Alert:
    """The "synthetic data" label shown on every page while the database holds the demo city."""
    return dbc.Alert(t("synthetic", lang), color="warning", className="synthetic-banner py-1 mb-2 text-center",
                     id="synthetic-banner")


def _policy() -> tuple[int, int, str, str]:
    """(k, largest perturbation, finest level and period of the sensitive categories) of the policy."""
    from observatory import config

    policy = config.disclosure_policy()
    level = "district" if "district" in policy.sensitive_levels else "city"
    return policy.k, policy.max_noise, level, policy.sensitive_unit


def _policy_values(lang: str) -> dict:
    """The policy's parameters as the notices' placeholders: those of ``access.notice_values`` (k, d)
    and noise (= d), coarse (the sensitive categories' grid), na (the "no data" mark)."""
    from observatory.queries.access import notice_values

    k, noise, level, unit = _policy()
    coarse = t("notice.grid", lang, level=t(f"notice.level.{level}", lang), unit=t(f"notice.unit.{unit}", lang))
    return {**notice_values(), "k": k, "noise": noise, "coarse": coarse, "na": t("kpi.na", lang)}


def notice_text(key: str, lang: str) -> str:
    """One notice (a key of ``access.NOTICES`` or of the map's withheld statistics) in ``lang``."""
    return t(f"notice.{key}", lang, **_policy_values(lang))


def protection_text(lang: str) -> str:
    """The protection sentence of every public page, with the policy's parameters (k, noise, grid)."""
    return notice_text("protection", lang)


def protection_notice(lang: str, role: str = "public", notices: Sequence[str] = ()) -> list:
    """The children of the protection notice: for the public, how small numbers are protected and
    the notices of the current query (keys of ``access.public_notices``, translated as
    ``notice.<key>``); nothing for analysts and admins, who see true counts."""
    if role != "public":
        return []
    lines = [html.Strong(t("notice.title", lang) + ". "), html.Span(protection_text(lang), className="notice-policy")]
    extra = [html.Li(notice_text(key, lang), className="notice-query") for key in dict.fromkeys(notices)]
    return [html.Div(lines), *([html.Ul(extra, className="mb-0 ps-3")] if extra else [])]


def shell(page: str, state: ViewState, content, options: dict, *, demo: bool = False, role: str = "public"):
    """Whole page: view-state store, navbar, banner, filters and ``content``.

    The root carries ``present`` in presentation mode; a floating link leaves it.
    """
    lang = state.lang
    exit_link = dcc.Link(t("nav.present_exit", lang), id="present-exit", className="present-exit btn btn-light",
                         href=PAGES[page][0] + to_query(replace_state(state, present=False)))
    return html.Div(
        [
            dcc.Store(id="view-state", data=state.to_dict()),
            dcc.Store(id="url-search"),
            dcc.Store(id="url-sink"),
            dcc.Location(id="nav-go", refresh="callback-nav"),
            navbar(page, state, role),
            banner(lang) if demo else None,
            filter_bar(state, options),
            # Refreshed with the query's own notices by the callback in observatory.web.notices.
            html.Div(protection_notice(lang, role), id="protection-notice", role="note",
                     className="protection-notice small text-muted px-3 py-1 mb-2" if role == "public" else "d-none"),
            html.Main(dbc.Container(content, fluid=True), className="px-1", id=f"{page}-main"),
            exit_link if state.present else None,
        ],
        className="obs-root" + (" present" if state.present else ""),
        lang=lang,
    )


def graph(graph_id: str, present: bool, height: str = "420px", full: str = "80vh") -> dcc.Loading:
    """A ``dcc.Graph`` with the PNG toolbar button and a loading spinner; taller when presenting."""
    return dcc.Loading(
        dcc.Graph(id=graph_id, style={"height": full if present else height},
                  config={"displaylogo": False, "toImageButtonOptions": {"format": "png", "scale": 2},
                          "responsive": True}),
        type="circle", delay_show=300,
    )


def card(title: str, body, *, download_id: str | None = None, lang: str = "es", cid: str | None = None,
         title_id: str | None = None):
    """A titled card; with ``download_id`` it gets a "download CSV" button and a ``dcc.Download``.

    ``title_id`` names the title element so a callback can rewrite it (a title that depends on the data).
    """
    header = [html.H2(title, className="h6 mb-0 flex-grow-1", **({"id": title_id} if title_id else {}))]
    extra = []
    if download_id:
        header.append(dbc.Button(t("download.csv", lang), id=f"{download_id}-btn", size="sm", color="secondary",
                                 outline=True, className="chrome download-btn"))
        extra.append(dcc.Download(id=download_id))
    return dbc.Card(
        [dbc.CardHeader(html.Div(header, className="d-flex align-items-center gap-2")),
         dbc.CardBody([*(body if isinstance(body, list) else [body]), *extra])],
        className="mb-3 h-100", **({"id": cid} if cid else {}),
    )


# A value longer than this with letters in it is a label ("Retenido (protección de datos)"), set
# smaller than a figure: at a figure's size its words overflow a sixth of the row and break mid-word.
KPI_LABEL_CHARS = 12


def kpi(title: str, value: str, note: str = "", kid: str | None = None) -> dbc.Card:
    """A key-figure card: small title, big value (a long text value smaller), a note (e.g. significance)."""
    label = len(value) > KPI_LABEL_CHARS and any(ch.isalpha() for ch in value)
    return dbc.Card(
        dbc.CardBody([html.Div(title, className="kpi-title"),
                      html.Div(value, className="kpi-value kpi-label" if label else "kpi-value"),
                      html.Div(note, className="kpi-note")]),
        className="kpi mb-2 h-100", **({"id": kid} if kid else {}),
    )


def table(frame: pd.DataFrame, columns: Sequence[tuple[str, str]], lang: str, tid: str | None = None,
          max_rows: int = 200) -> html.Div:
    """A responsive HTML table of ``frame``; ``columns`` = (column, catalogue key of its header)."""
    if frame is None or frame.empty:
        return html.Div(t("nodata", lang), className="text-muted", **({"id": tid} if tid else {}))
    head = html.Thead(html.Tr([html.Th(t(key, lang)) for _col, key in columns]))
    rows = [html.Tr([html.Td("" if pd.isna(v) else str(v)) for v in rec])
            for rec in frame[[c for c, _k in columns]].head(max_rows).itertuples(index=False)]
    return html.Div(dbc.Table([head, html.Tbody(rows)], striped=True, hover=True, size="sm", className="mb-0"),
                    className="table-responsive", **({"id": tid} if tid else {}))
