"""The Dash application factory: ``create_app(database_url=None) -> dash.Dash``.

One module per page under ``observatory/web/pages`` (``dash.register_page``); the shared
callbacks here keep the view state (filters, page options) in the URL query string so that
copying the URL reproduces the view. Callbacks read only through ``observatory.web.data``,
which calls ``observatory.queries`` / ``observatory.geo`` / ``observatory.indicators``.
"""

from __future__ import annotations

import os
from pathlib import Path

import dash
from dash import ALL, Input, Output, State, clientside_callback, html

from observatory.web import data, notices
from observatory.web.auth import init_auth
from observatory.web.cache import init_cache
from observatory.web.components import PAGES, page_href
from observatory.web.i18n import t
from observatory.web.state import ViewState, replace_state, to_query

WEB_DIR = Path(__file__).resolve().parent
ASSETS_DIR = WEB_DIR.parent.parent / "assets"


def _import_statistics() -> None:
    """Import every module of ``observatory.indicators`` and ``observatory.geo`` now, in the thread
    that builds the app. The callbacks import them lazily; two request threads importing the same
    package for the first time at once can meet Python's import-lock deadlock detection and get a
    partially initialised module (seen as "cannot import name ... from partially initialized
    module" on a first page load with several callbacks in flight)."""
    import importlib
    import pkgutil

    import observatory.geo
    import observatory.indicators

    for package in (observatory.indicators, observatory.geo):
        for module in pkgutil.iter_modules(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)


def create_app(database_url: str | None = None) -> dash.Dash:
    """Build the dashboard for ``database_url`` (default: ``config.database_url()``).

    The database must already be migrated (``app.py`` and ``python -m observatory db upgrade`` do it).
    """
    data.configure(database_url)
    _import_statistics()
    app = dash.Dash(
        __name__,
        use_pages=True,
        pages_folder=str(WEB_DIR / "pages"),
        assets_folder=str(ASSETS_DIR),
        # Bootstrap 5.3.6 (MIT) is vendored in assets/: no CDN, the dashboard works offline.
        external_stylesheets=[],
        suppress_callback_exceptions=True,
        title=t("app.title", "es"),
        update_title=None,
        meta_tags=[{"name": "viewport", "content": "width=device-width, initial-scale=1"}],
        serve_locally=True,
    )
    app.layout = html.Div(dash.page_container)
    init_cache(app.server)
    _register_geojson_route(app.server)
    init_auth(app.server, database_url)  # /login, /logout, /health, session cookies
    _register_shared_callbacks()
    notices.register(app)  # the protection notice of every public page (issue 9)
    if os.environ.get("OBSERVATORY_SECRET_KEY"):
        app.server.secret_key = os.environ["OBSERVATORY_SECRET_KEY"]
    return app


def state_from_controls(
    start: str | None, end: str | None, cats: list | None, src: str | None, district: str | None,
    sex: str | None, age: str | None, opt_values: list, opt_ids: list, previous: dict | None,
) -> ViewState:
    """The view state after the viewer changed a filter or a page option.

    Pure: the shared callback's logic, unit-tested directly. Page options are the controls
    whose id is ``{"type": "opt", "key": <ViewState field>}`` (map layer, neighbourhood).
    """
    state = ViewState.from_dict(previous)
    changes: dict = {
        "date_from": (start or "")[:10] or None, "date_to": (end or "")[:10] or None,
        "categories": tuple(cats or ()), "source": src or "both", "district": district, "sex": sex, "age": age,
    }
    for value, ident in zip(opt_values or [], opt_ids or [], strict=False):
        key = ident.get("key") if isinstance(ident, dict) else None
        if key in ("layer", "area"):
            changes[key] = value
        elif key == "fdr":  # a checklist: ["fdr"] when ticked
            changes[key] = bool(value)
    return replace_state(state, **changes)


def nav_hrefs(state_dict: dict) -> list[str]:
    """Hrefs of the page links, language switch and presentation toggle for a view state."""
    state = ViewState.from_dict(state_dict)
    return [page_href(name, state) for name in PAGES]


def _register_geojson_route(server) -> None:
    """Serve the primary areas' GeoJSON once per data version (maps reference it by URL)."""
    import flask

    @server.route(data.GEOJSON_ROUTE)
    def _areas_geojson():
        response = flask.jsonify(data.areas_geojson())
        # The URL carries the data version: the browser may keep it until the next import.
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response


_REGISTERED = {"done": False}


def _register_shared_callbacks() -> None:
    # Dash keeps callbacks in a module-level registry: register them once per process.
    if _REGISTERED["done"]:
        return
    _REGISTERED["done"] = True

    @dash.callback(
        Output("view-state", "data"),
        Input("f-dates", "start_date"), Input("f-dates", "end_date"), Input("f-cat", "value"),
        Input("f-src", "value"), Input("f-district", "value"), Input("f-sex", "value"), Input("f-age", "value"),
        Input({"type": "opt", "key": ALL}, "value"),
        State({"type": "opt", "key": ALL}, "id"), State("view-state", "data"),
        prevent_initial_call=True,
    )
    def _update_state(start, end, cats, src, district, sex, age, opt_values, opt_ids, previous):
        new = state_from_controls(start, end, cats, src, district, sex, age, opt_values, opt_ids, previous)
        if new.to_dict() == ViewState.from_dict(previous).to_dict():
            return dash.no_update
        return new.to_dict()

    @dash.callback(
        [Output(f"nav-{name}", "href") for name in PAGES]
        + [Output("nav-lang", "href"), Output("nav-present", "href"), Output("url-search", "data")],
        Input("view-state", "data"), State("nav-go", "pathname"),
        prevent_initial_call=True,
    )
    def _update_links(state_dict, pathname):
        state = ViewState.from_dict(state_dict)
        path = pathname or "/"
        other = "en" if state.lang == "es" else "es"
        return [
            *nav_hrefs(state_dict),
            path + to_query(replace_state(state, lang=other)),
            path + to_query(replace_state(state, present=True)),
            to_query(state),
        ]

    # Rewrite the address bar without a navigation (no page re-render, no history entry per click).
    clientside_callback(
        """
        function(search) {
            if (search === undefined || search === null) { return window.dash_clientside.no_update; }
            const url = window.location.pathname + search;
            if (url !== window.location.pathname + window.location.search) {
                window.history.replaceState(window.history.state, '', url);
            }
            return window.dash_clientside.no_update;
        }
        """,
        Output("url-sink", "data"),
        Input("url-search", "data"),
        prevent_initial_call=True,
    )

    @dash.callback(Output("nav-collapse", "is_open"), Input("nav-toggler", "n_clicks"),
                   State("nav-collapse", "is_open"), prevent_initial_call=True)
    def _toggle_nav(n, is_open):
        return not is_open
