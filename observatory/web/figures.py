"""Plotly figures of the dashboard: plotting only, no queries and no statistics. The common look
(palettes, :func:`layout`, month ticks), empty figures and the maps; the charts are in
:mod:`observatory.web.charts`.

Maps use Plotly's MapLibre traces (``Choroplethmap``, ``Scattermap``, ``Densitymap``) with the
configured style (``white-bg`` by default) so they render offline on a plain background.
Inputs are DataFrames already computed by ``observatory.queries`` / ``geo`` / ``indicators``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from observatory.config import map_style
from observatory.web.i18n import fmt_month, fmt_number, fmt_percent, t

# Esri's Gi* colours, hot (99%) to cold (99%); the presentation palette is colour-blind safe
# (orange-purple diverging, distinguishable under deuteranopia and protanopia).
GI_CLASSES: tuple[str, ...] = ("hot99", "hot95", "hot90", "ns", "cold90", "cold95", "cold99")
GI_COLOURS = ("#d62f27", "#ed7551", "#fab984", "#eeeeea", "#c0ccbe", "#7b98c2", "#4575b5")
GI_COLOURS_CB = ("#b35806", "#f1a340", "#fee0b6", "#f0f0f0", "#d8daeb", "#998ec3", "#542788")
MORAN_CLASSES: tuple[str, ...] = ("HH", "HL", "LH", "LL", "ns")
MORAN_COLOURS = ("#d7191c", "#fdae61", "#abd9e9", "#2c7bb6", "#eeeeea")
MORAN_COLOURS_CB = ("#b35806", "#fdb863", "#b2abd2", "#542788", "#f0f0f0")
SEQUENTIAL = ("#ffffb2", "#fed976", "#feb24c", "#fd8d3c", "#f03b20", "#bd0026", "#800026")
SEQUENTIAL_CB = ("#fde725", "#90d743", "#35b779", "#21918c", "#31688e", "#443983", "#440154")
LINE_COLOURS = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6", "#843c0c")
# Okabe-Ito: the standard colour-blind-safe qualitative palette.
LINE_COLOURS_CB = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")


def palette(kind: str, present: bool) -> tuple[str, ...]:
    """Colours for ``kind`` in {"gi", "moran", "sequential", "lines"}; ``present`` = colour-blind safe."""
    table = {
        "gi": (GI_COLOURS, GI_COLOURS_CB),
        "moran": (MORAN_COLOURS, MORAN_COLOURS_CB),
        "sequential": (SEQUENTIAL, SEQUENTIAL_CB),
        "lines": (LINE_COLOURS, LINE_COLOURS_CB),
    }
    return table[kind][1 if present else 0]


def layout(present: bool = False, lang: str | None = None, height: int | None = None, **extra: object) -> dict:
    """The common look (:func:`base_layout`) as a layout dict, with ``extra`` layout keys merged
    in (nested dicts key by key). Given to ``go.Figure(..., layout=...)`` it costs one validation
    instead of one per ``update_layout`` call (about 1 ms each)."""
    look: dict = {
        "margin": {"l": 10, "r": 10, "t": 30, "b": 10},
        "font": {"size": 22 if present else 13, "family": "system-ui, sans-serif"},
        "paper_bgcolor": "#000000" if present else "#ffffff",
        "plot_bgcolor": "#000000" if present else "#ffffff",
        "legend": {"bgcolor": "rgba(0,0,0,0)"},
        "height": height,
    }
    if lang is not None:
        look["separators"] = ",." if lang == "es" else ".,"
    if present:
        look["font"]["color"] = "#ffffff"
        look["xaxis"], look["yaxis"] = {"gridcolor": "#444444"}, {"gridcolor": "#444444"}
    for key, value in extra.items():
        look[key] = {**look[key], **value} if isinstance(value, dict) and isinstance(look.get(key), dict) else value
    return look


def base_layout(fig: go.Figure, present: bool = False, height: int | None = None, lang: str | None = None
                ) -> go.Figure:
    """Common look: compact margins; large type and thick lines in presentation mode; the
    locale's decimal and thousands separators on the axes (``lang``)."""
    look = layout(present, lang, height)
    look.pop("xaxis", None), look.pop("yaxis", None)
    fig.update_layout(look)
    if present:  # every axis of the figure, not only the first
        fig.update_xaxes(gridcolor="#444444")
        fig.update_yaxes(gridcolor="#444444")
    return fig


def month_ticks(months: Sequence, lang: str, max_ticks: int = 8) -> dict:
    """Month ticks written by Babel in ``lang`` (Plotly's own date labels are English only), as
    x-axis layout keys (empty without months)."""
    stamps = sorted(pd.to_datetime(pd.Series(list(months))).dropna().unique())
    if not stamps:
        return {}
    step = max(1, math.ceil(len(stamps) / max_ticks))
    ticks = stamps[::step]
    labels = [fmt_month(pd.Timestamp(m).date(), lang) for m in ticks]
    return {"tickmode": "array", "tickvals": ticks, "ticktext": labels}


def month_axis(fig: go.Figure, months: Sequence, lang: str, max_ticks: int = 8) -> go.Figure:
    """:func:`month_ticks` set on ``fig``'s x axes."""
    ticks = month_ticks(months, lang, max_ticks)
    if ticks:
        fig.update_xaxes(**ticks)
    return fig


def empty_figure(message: str, present: bool = False) -> go.Figure:
    """A blank figure that says why it is blank (no data for the filters, no survey...)."""
    fig = go.Figure()
    fig.add_annotation(text=message, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return base_layout(fig, present)


def geojson_of(areas: pd.DataFrame, simplify: float = 0.0) -> dict:
    """A GeoJSON FeatureCollection of ``areas`` (GeoDataFrame, EPSG:4326) keyed by ``id``.

    ``simplify`` (degrees) thins vertices for display only; coordinates are rounded to 1e-5°
    (about 1 m) to keep the page small.
    """
    geoms = areas.geometry
    if simplify > 0:
        geoms = geoms.simplify(simplify, preserve_topology=True)
    import shapely

    geoms = shapely.set_precision(np.asarray(geoms.values, dtype=object), 1e-5)
    features = [
        {"type": "Feature", "id": str(i), "properties": {}, "geometry": json.loads(shapely.to_geojson(g))}
        for i, g in zip(areas["id"], geoms, strict=True)
        if g is not None and not g.is_empty
    ]
    return {"type": "FeatureCollection", "features": features}


def map_view(bounds: Sequence[float] | None, small: bool = False) -> dict:
    """Centre and zoom that fit ``bounds`` (minx, miny, maxx, maxy in degrees) in a ~600 px map
    (``small``: a ~400 px card map)."""
    if bounds is None or any(b is None or not math.isfinite(b) for b in bounds):
        return {"center": {"lon": 0.0, "lat": 0.0}, "zoom": 1}
    minx, miny, maxx, maxy = bounds
    # Heights are measured in Web Mercator (stretched by 1/cos(latitude)): fitting plain degrees cut the
    # top and bottom off cities far from the equator (New York's Bronx and Staten Island on a 600 px map).
    mercator = [math.degrees(math.log(math.tan(math.pi / 4 + math.radians(max(-85.0, min(85.0, y))) / 2)))
                for y in (miny, maxy)]
    span = max(maxx - minx, (mercator[1] - mercator[0]) * 1.2, 1e-4)
    zoom = max(1.0, min(16.0, math.log2(360.0 / span) + (-0.6 if small else 0.4)))
    return {"center": {"lon": (minx + maxx) / 2, "lat": (miny + maxy) / 2}, "zoom": zoom}


def _map_layout(fig: go.Figure, view: dict, present: bool, height: int | None, legend_below: bool = False
                ) -> go.Figure:
    fig.update_layout(map={"style": map_style(), **view}, clickmode="event")
    base_layout(fig, present, height)
    if legend_below:
        # Small maps: the legend goes under the map so it never hides areas.
        # Room for up to three rows of classes: a map does not push its margin out for the legend.
        fig.update_layout(legend={"orientation": "h", "x": 0, "y": -0.04, "yanchor": "top"},
                          margin={"b": 130 if present else 80})
    else:
        fig.update_layout(legend={"x": 0.01, "y": 0.99, "bgcolor": "rgba(255,255,255,0.8)", "font_color": "#000"})
    return fig


def class_map(
    geojson: dict | str,
    frame: pd.DataFrame,
    classes: Sequence[str],
    labels: Mapping[str, str],
    colours: Sequence[str],
    view: dict,
    *,
    present: bool = False,
    height: int | None = None,
    legend_below: bool = False,
) -> go.Figure:
    """A categorical choropleth: ONE map trace coloured by class, plus a legend entry per class.

    ``geojson`` is a FeatureCollection or the URL the app serves it from (then the browser
    downloads and caches the polygons once instead of receiving them with every figure).
    ``frame`` has columns ``id`` (matching the GeoJSON ids), ``cls`` (one of ``classes``) and
    ``text`` (hover text). Classes absent from ``frame`` still get a legend entry, except the
    ``"na"`` class (suppressed / unreliable), which is listed only when some area has it.
    """
    present_classes = set(frame["cls"])
    shown = [(c, col) for c, col in zip(classes, colours, strict=True) if c != "na" or "na" in present_classes]
    index = {c: i for i, (c, _col) in enumerate(shown)}
    n = max(len(shown), 1)
    scale = []
    for i, (_c, colour) in enumerate(shown):
        scale += [[i / n, colour], [(i + 1) / n, colour]]
    fig = go.Figure()
    fig.add_trace(go.Choroplethmap(
        geojson=geojson, locations=frame["id"].astype(str).tolist(),
        z=[index.get(c, 0) for c in frame["cls"]], zmin=-0.5, zmax=n - 0.5,
        colorscale=scale or [[0, "#ccc"], [1, "#ccc"]],
        text=frame["text"].tolist(), hovertemplate="%{text}<extra></extra>", showscale=False, showlegend=False,
        marker={"line": {"width": 0.6, "color": "#555555"}, "opacity": 0.85}, name="areas",
    ))
    for cls, colour in shown:
        fig.add_trace(go.Scattermap(lon=[None], lat=[None], mode="markers", name=labels.get(cls, cls),
                                    marker={"size": 14, "color": colour}, showlegend=True, hoverinfo="skip"))
    return _map_layout(fig, view, present, height, legend_below)


def class_bounds_labels(bins: Sequence[float], lang: str, digits: int = 0, lower: float = 0.0) -> list[str]:
    """Legend labels ``a – b`` for classes whose upper bounds are ``bins`` (mapclassify's ``bins``)."""
    labels, low = [], lower
    for high in bins:
        labels.append(f"{fmt_number(low, lang, digits)} – {fmt_number(high, lang, digits)}")
        low = high
    return labels


def points_map(
    frame: pd.DataFrame, view: dict, *, colour: str = "#1f4e79", present: bool = False, height: int | None = None,
    outline: dict | str | None = None, outline_ids: Sequence[str] = (),
) -> go.Figure:
    """Incident points (columns ``lon``, ``lat``, ``text``) on the plain background.

    ``outline`` is an optional GeoJSON (or its URL) of the areas ``outline_ids`` drawn underneath.
    """
    fig = go.Figure()
    if outline is not None and len(outline_ids):
        fig.add_trace(_outline_trace(outline, outline_ids))
    fig.add_trace(
        go.Scattermap(
            lon=frame["lon"], lat=frame["lat"], mode="markers", text=frame.get("text"),
            hovertemplate="%{text}<extra></extra>" if "text" in frame else None,
            marker={"size": 9 if present else 5, "color": colour, "opacity": 0.6}, showlegend=False,
        )
    )
    return _map_layout(fig, view, present, height)


def density_map(
    frame: pd.DataFrame, view: dict, *, radius: int = 12, present: bool = False, height: int | None = None,
    outline: dict | str | None = None, outline_ids: Sequence[str] = (),
) -> go.Figure:
    """A kernel heat layer from points (``lon``, ``lat``, optional ``weight``) over area outlines."""
    fig = go.Figure()
    if outline is not None and len(outline_ids):
        fig.add_trace(_outline_trace(outline, outline_ids))
    fig.add_trace(
        go.Densitymap(
            lon=frame["lon"], lat=frame["lat"], z=frame["weight"] if "weight" in frame else None,
            radius=radius, colorscale="Viridis" if present else "YlOrRd", showscale=False, hoverinfo="skip",
        )
    )
    return _map_layout(fig, view, present, height)


def density_bands_map(
    geojson: dict, bands: pd.DataFrame, lang: str, view: dict, *, present: bool = False, height: int | None = None,
    outline: dict | str | None = None, outline_ids: Sequence[str] = (), legend_below: bool = False,
) -> go.Figure:
    """The kernel density surface as its highest-density bands (``geo.density_contours``): one
    colour per band, densest darkest, the legend in incidents per km² and a note with the bandwidth.

    ``geojson`` has one feature per row of ``bands`` (id = row position); ``bands`` has share,
    density_low, density_high, bandwidth_m, cell_size_m, n_points.
    """
    colours = palette("sequential", present)
    shown = [colours[min(len(colours) - 1, 6 - 2 * i)] for i in range(len(bands))]
    unit = t("map.density_unit", lang)
    labels = [f"{fmt_percent(share, lang, 0)} · {fmt_number(low, lang, 0)} – {fmt_number(high, lang, 0)} {unit}"
              for share, low, high in zip(bands["share"], bands["density_low"], bands["density_high"], strict=True)]
    fig = go.Figure()
    if outline is not None and len(outline_ids):
        fig.add_trace(_outline_trace(outline, outline_ids))
    n = max(len(bands), 1)
    scale = []
    for i, colour in enumerate(shown):
        scale += [[i / n, colour], [(i + 1) / n, colour]]
    fig.add_trace(go.Choroplethmap(
        geojson=geojson, locations=[str(i) for i in range(len(bands))], z=list(range(len(bands))), zmin=-0.5,
        zmax=n - 0.5, colorscale=scale or [[0, "#ccc"], [1, "#ccc"]], showscale=False, showlegend=False,
        text=labels, hovertemplate="%{text}<extra></extra>", marker={"line": {"width": 0}, "opacity": 0.75},
        name="density"))
    for label, colour in zip(labels, shown, strict=True):
        fig.add_trace(go.Scattermap(lon=[None], lat=[None], mode="markers", name=label,
                                    marker={"size": 14, "color": colour}, showlegend=True, hoverinfo="skip"))
    if len(bands):
        first = bands.iloc[0]
        note = t("map.density_note", lang, bandwidth=fmt_number(first["bandwidth_m"], lang, 0),
                 cell=fmt_number(first["cell_size_m"], lang, 0), n=fmt_number(first["n_points"], lang))
        fig.add_annotation(text=note, showarrow=False, x=0.99, y=0.01, xanchor="right", xref="paper", yref="paper",
                           bgcolor="#ffffff", font={"color": "#000"})
    return _map_layout(fig, view, present, height, legend_below)


def _outline_trace(geojson: dict | str, ids: Sequence[str]) -> go.Choroplethmap:
    ids = [str(i) for i in ids]
    return go.Choroplethmap(
        geojson=geojson, locations=ids, z=[0] * len(ids), colorscale=[[0, "rgba(0,0,0,0)"], [1, "rgba(0,0,0,0)"]],
        showscale=False, marker={"line": {"width": 0.6, "color": "#777777"}}, hoverinfo="skip", showlegend=False,
    )
