"""Analista / Analyst: geomasked points, microdata downloads, file uploads and (admins) the audit log.

Restricted: the layout and every callback check :func:`observatory.web.auth.current_role`; the
public gets a login link and callbacks that return nothing. The filters come from the URL query
string (the same keys as every page, see ``observatory.web.state``).

- Points: the incidents of the selection, displaced at random within the chosen radius
  (``observatory.privacy.geomask``; 0 = exact positions) with a fixed seed so the map is
  stable while the analyst works.
- Microdata: the incident records of the selection (address, free text, victim attributes)
  as CSV with spreadsheet formulas neutralised; coordinates geomasked when asked. Logged in
  the audit log.
- Upload: a police, complaint, survey or boundary file goes through the same entry point as the
  command line (``observatory.ingest.import_file``), after the size, type and zip-bomb checks of
  ``observatory.uploads``; the import report is shown. Logged in the audit log.
- Import history: the latest batches with, per batch, the records its release withdrew (stored
  records absent from the new release, kept), and the ids of those records for a chosen batch.
"""

from __future__ import annotations

import shutil

import dash
import dash_bootstrap_components as dbc
import pandas as pd
from dash import Input, Output, State, callback, dcc, html

from observatory import audit
from observatory.privacy import DEFAULT_MASK_RADIUS_M, geomask_frame, neutralise_frame
from observatory.uploads import UploadRejected, decode_dash_contents, resolve_profile, store_upload
from observatory.web import data
from observatory.web.auth import current_role, current_user
from observatory.web.figures import empty_figure, map_view, points_map
from observatory.web.state import ViewState, parse_query, to_query

dash.register_page(__name__, path="/analista", name="Analista", title="Observatorio · Analista", order=9)

MASK_SEED = 20240601  # fixed: the masked map does not jump between refreshes
UPLOAD_KINDS = {"police": "Informes policiales / Police reports", "complaint": "Denuncias / Complaints",
                "survey": "Encuesta / Survey", "boundaries": "Límites / Boundaries",
                "population": "Población de una capa (CSV) / Population of a layer (CSV)"}
DEFAULT_PROFILES = {"police": "generic_incidents", "complaint": "generic_complaints", "survey": "generic_survey",
                    "boundaries": "", "population": ""}
HISTORY_LIMIT = 50  # batches in the page's import history (``python -m observatory status`` shows 20)


def _builtin_profiles(kind: str | None) -> list[str]:
    from observatory.ingest.profiles import builtin_profile_names

    purpose = {"police": "incidents", "complaint": "incidents"}.get(kind or "", kind or "")
    return builtin_profile_names(purpose) if purpose in ("incidents", "survey") else []


def _restricted() -> bool:
    return current_role() in ("analyst", "admin")


def layout(**query) -> html.Div:
    state = parse_query(query)
    if not _restricted():
        return dbc.Container([
            html.H1("Acceso restringido / Restricted", className="h4 mt-4"),
            html.P("Esta página es para analistas. / This page is for analysts."),
            html.A("Ingresar / Log in", href="/login?next=/analista" + to_query(state), className="btn btn-primary"),
        ])
    admin = current_role() == "admin"
    return dbc.Container([
        dcc.Store(id="an-state", data=state.to_dict()),
        html.H1(f"Analista · {current_user()}", className="h4 mt-3"),
        html.P(html.A("← Observatorio", href="/" + to_query(state))),
        dbc.Row([
            dbc.Col([
                dbc.Label("Radio de enmascaramiento (m) / Geomask radius (m)"),
                dcc.Slider(id="an-radius", min=0, max=1000, step=50, value=DEFAULT_MASK_RADIUS_M,
                           marks={0: "0", 250: "250", 500: "500", 1000: "1000"}),
                html.P("Cada punto se desplaza al azar dentro del radio (0 = posición exacta). / "
                       "Each point moves at random within the radius (0 = exact position).",
                       className="small text-muted"),
                dbc.Checklist(id="an-mask-export", options=[{"label": "Enmascarar también la descarga / "
                                                             "Mask the download too", "value": "mask"}],
                              value=["mask"]),
                dbc.Button("Descargar microdatos (CSV) / Download microdata", id="an-dl-btn", className="mt-2"),
                dcc.Download(id="an-dl"),
            ], xs=12, lg=3),
            dbc.Col(dcc.Loading(dcc.Graph(id="an-points", style={"height": "560px"})), xs=12, lg=9),
        ]),
        html.H2("Importar un archivo / Import a file", className="h5 mt-4"),
        dbc.Row([
            dbc.Col(dcc.Dropdown(id="an-kind", options=[{"label": v, "value": k} for k, v in UPLOAD_KINDS.items()],
                                 value="police", clearable=False), lg=3),
            # Built-in profiles only, or a profile file uploaded here: never a path on the server.
            dbc.Col([dcc.Dropdown(id="an-profile", options=_builtin_profiles("police"), value="generic_incidents",
                                  placeholder="perfil / profile"),
                     dcc.Upload(id="an-profile-file", children=html.Div(
                         "Perfil propio (.toml, .yaml) / Own profile file", id="an-profile-file-name"),
                         className="border rounded p-1 mt-1 small text-center", multiple=False)], lg=3),
            dbc.Col(dbc.Input(id="an-layer", placeholder="capa / layer (límites)"), lg=2),
            dbc.Col(dbc.Input(id="an-id-field", placeholder="campo id / id field"), lg=2),
            dbc.Col(dbc.Input(id="an-name-field", placeholder="campo nombre / name field"), lg=2),
        ]),
        dbc.Row([
            # Boundaries only: a GeoPackage with several polygon layers, a .dbf without .cpg in Latin-1.
            dbc.Col(dbc.Input(id="an-source-layer", placeholder="capa dentro del archivo / layer inside the file"),
                    lg=3),
            dbc.Col(dbc.Input(id="an-encoding", placeholder="codificación / encoding (latin-1...)"), lg=3),
            # Boundaries (optional) and population tables: the column with each area's residents.
            dbc.Col(dbc.Input(id="an-population-field", placeholder="campo población / population field"), lg=3),
        ], className="mt-2"),
        dcc.Upload(id="an-upload", children=html.Div("Arrastre o elija un archivo / Drop or choose a file "
                                                     "(.csv, .txt, .gz, .zip, .geojson, .gpkg)"),
                   className="border rounded p-4 my-2 text-center", multiple=False),
        dcc.Loading(html.Div(id="an-report")),
        html.H2("Historial de importaciones / Import history", className="h5 mt-4"),
        html.P("Retirados: registros guardados de la versión anterior que faltan en esta (se conservan). / "
               "Withdrawn: stored records of the previous release absent from this one (they are kept).",
               className="small text-muted"),
        dbc.Button("Actualizar / Refresh", id="an-history-btn", size="sm"),
        html.Div(id="an-history", className="mt-2"),
        dbc.Row([
            dbc.Col(dbc.Input(id="an-withdrawn-batch", type="number", min=1, step=1, placeholder="lote / batch #"),
                    lg=2),
            dbc.Col(dbc.Button("Ver retirados / List withdrawn", id="an-withdrawn-btn", size="sm"), lg=3),
        ], className="mt-2"),
        html.Div(id="an-withdrawn", className="mt-2"),
        *([html.H2("Registro de auditoría / Audit log", className="h5 mt-4"),
           dbc.Button("Actualizar / Refresh", id="an-audit-btn", size="sm"),
           html.Div(id="an-audit", className="mt-2")] if admin else []),
    ], fluid=True)


@callback(Output("an-profile", "options"), Output("an-profile", "value"), Input("an-kind", "value"),
          prevent_initial_call=True)
def _default_profile(kind):
    return _builtin_profiles(kind), DEFAULT_PROFILES.get(kind or "", "")


@callback(Output("an-profile-file-name", "children"), Input("an-profile-file", "filename"),
          prevent_initial_call=True)
def _profile_file_name(filename):
    return f"Perfil / Profile: {filename}" if filename else dash.no_update


@callback(Output("an-points", "figure"), Input("an-radius", "value"), State("an-state", "data"))
def _points(radius, state_dict):
    if not _restricted():
        return empty_figure("")
    state = ViewState.from_dict(state_dict)
    pts = data.points(state, current_role())
    if pts.empty:
        return empty_figure("Sin puntos en la selección / No points in the selection")
    if radius and float(radius) > 0:
        pts = geomask_frame(pts, float(radius), seed=MASK_SEED)
    return points_map(pts, map_view(data.areas_bounds()), outline=data.areas_geojson())


@callback(Output("an-dl", "data"), Input("an-dl-btn", "n_clicks"), State("an-state", "data"),
          State("an-radius", "value"), State("an-mask-export", "value"), prevent_initial_call=True)
def _download(_n, state_dict, radius, mask):
    if not _restricted():
        return dash.no_update
    from observatory import queries

    state = ViewState.from_dict(state_dict)
    records = queries.incident_records(data.engine(), data.to_filters(state), current_role())
    masked = bool(mask) and bool(radius) and float(radius) > 0
    if masked and not records.empty:
        records = geomask_frame(records, float(radius), seed=MASK_SEED)
    audit.record("export", user_name=current_user(), engine=data.engine(),
                 detail={"what": "incident_records", "rows": len(records), "filters": to_query(state),
                         "geomask_m": float(radius) if masked else 0})
    return {"content": neutralise_frame(records).to_csv(index=False), "filename": "microdatos.csv",
            "type": "text/csv"}


@callback(Output("an-report", "children"), Input("an-upload", "contents"), State("an-upload", "filename"),
          State("an-kind", "value"), State("an-profile", "value"), State("an-layer", "value"),
          State("an-id-field", "value"), State("an-name-field", "value"), State("an-source-layer", "value"),
          State("an-encoding", "value"), State("an-profile-file", "contents"), State("an-profile-file", "filename"),
          State("an-population-field", "value"), prevent_initial_call=True)
def _upload(contents, filename, kind, profile, layer, id_field, name_field, source_layer=None, encoding=None,
            profile_contents=None, profile_filename=None, population_field=None):
    from observatory.ingest.entry import import_file, kind_options
    from observatory.ingest.readers import InputFileError
    from observatory.ingest.report import ImportFailed

    if not _restricted() or not contents:
        return dash.no_update
    filename = filename or "upload"
    user = current_user()
    folder = None
    try:
        purpose = {"police": "incidents", "complaint": "incidents", "population": "incidents"}.get(kind, kind)
        path = store_upload(filename, decode_dash_contents(contents, filename), purpose)
        folder = path.parent
        profile_data = (decode_dash_contents(profile_contents, profile_filename or "profile")
                        if profile_contents else None)
        # a population table has no profile: only the layer, id and population fields
        profile = "" if kind == "population" else resolve_profile(
            purpose, profile or DEFAULT_PROFILES.get(kind, ""), _builtin_profiles(kind), file_name=profile_filename,
            file_data=profile_data, folder=folder)
        form = {"profile": profile, "layer": layer, "id_field": id_field, "name_field": name_field,
                "source_layer": source_layer, "encoding": encoding, "population_field": population_field}
        # The entry point checks the fields the kind needs and writes the audit event in the import's own
        # transaction (a kill cannot separate them); fields the kind does not use are left out, as before.
        report = import_file(kind, path, user_name=user, via="upload", engine=data.engine(), file_name=filename,
                             **{k: v for k, v in form.items() if k in kind_options(kind)})
    except (UploadRejected, ImportFailed, InputFileError, ValueError) as exc:
        audit.record("import_refused", user_name=user, engine=data.engine(),
                     detail={"file": filename, "kind": kind, "reason": str(exc)[:500]})
        return dbc.Alert(str(exc), color="danger")
    finally:
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
    data.warm_up(after_boundaries=kind in ("boundaries", "population"))  # the next page view finds the new data ready
    colour = "warning" if report.rejected else "success"
    return dbc.Alert(html.Pre(report.summary(), className="mb-0"), color=colour)


@callback(Output("an-audit", "children"), Input("an-audit-btn", "n_clicks"))
def _audit(_n):
    if current_role() != "admin":
        return dash.no_update
    events = audit.list_events(data.engine(), limit=200)
    if events.empty:
        return html.P("Sin eventos / No events")
    events = events.assign(detail=events["detail"].map(lambda d: ", ".join(f"{k}={v}" for k, v in (d or {}).items())))
    return dbc.Table.from_dataframe(pd.DataFrame(events[["at", "user_name", "action", "detail"]]), size="sm",
                                    striped=True, bordered=False)


@callback(Output("an-history", "children"), Input("an-history-btn", "n_clicks"), Input("an-report", "children"))
def _history(_n, _report):
    if not _restricted():
        return dash.no_update
    from observatory.queries.access import file_name_only
    from observatory.queries.batches import recent_batches

    batches = recent_batches(data.engine(), current_role(), limit=HISTORY_LIMIT)
    if not batches:
        return html.P("Sin importaciones / No imports")
    frame = pd.DataFrame(batches)[["id", "kind", "profile", "file", "status", "total", "loaded", "rejected",
                                   "duplicates", "withdrawn", "finished_at"]]
    frame["file"] = frame["file"].map(file_name_only)  # an upload's temporary folder says nothing
    return dbc.Table.from_dataframe(frame, size="sm", striped=True, bordered=False, id="an-history-table")


@callback(Output("an-withdrawn", "children"), Input("an-withdrawn-btn", "n_clicks"),
          State("an-withdrawn-batch", "value"), prevent_initial_call=True)
def _withdrawn(_n, batch_id):
    if not _restricted():
        return dash.no_update
    from observatory.queries.batches import withdrawn_records

    try:
        listing = withdrawn_records(data.engine(), int(batch_id), current_role())
    except (TypeError, ValueError) as exc:
        return dbc.Alert(str(exc) if batch_id is not None else "Elija un lote / Choose a batch", color="warning")
    if not listing["withdrawn"]:
        return html.P(f"Lote {listing['batch_id']}: ningún registro retirado / batch {listing['batch_id']}: "
                      "no record withdrawn")
    more = ([html.P(f"y {listing['not_listed']:,} más / and {listing['not_listed']:,} more", className="small")]
            if listing["not_listed"] else [])
    return html.Div([
        html.P(f"Lote {listing['batch_id']}: {listing['withdrawn']:,} retirados / withdrawn"),
        dbc.Table.from_dataframe(pd.DataFrame(listing["records"], columns=["source_id", "occurred_on"]), size="sm",
                                 striped=True, bordered=False, id="an-withdrawn-table"),
        *more,
    ])
