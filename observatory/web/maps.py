"""The map views (pure functions of the view state), shared by the Map, Overview and profile pages."""

from __future__ import annotations

import warnings

import pandas as pd

from observatory.config import suppression_threshold
from observatory.web import data, figures
from observatory.web.components import notice_text, page_href
from observatory.web.i18n import fmt_number, t
from observatory.web.state import ViewState, replace_state

GI_KEYS = dict(zip(("hot 99%", "hot 95%", "hot 90%", "not significant", "cold 90%", "cold 95%", "cold 99%"),
                   figures.GI_CLASSES, strict=True))
MORAN_KEYS = {"high-high": "HH", "high-low": "HL", "low-high": "LH", "low-low": "LL", "not significant": "ns"}
# A hotspot statistic the public does not get (data.hotspots_withheld) is labelled as withheld, not "ns".
GI_KEYS[data.WITHHELD] = MORAN_KEYS[data.WITHHELD] = "withheld"


def _class_frame(stats: pd.DataFrame, values: pd.Series, lang: str, present: bool, digits: int):
    """Classes (mapclassify quantiles via observatory.geo.classify) of ``values`` for a choropleth."""
    from observatory.geo import classify

    shown = values.dropna()
    if shown.empty:
        return None
    with warnings.catch_warnings():  # mapclassify warns when ties leave fewer classes: expected here
        warnings.simplefilter("ignore", UserWarning)
        result = classify(values, "quantiles", k=min(5, max(1, shown.nunique())))
    labels = figures.class_bounds_labels(result.bins, lang, digits, lower=result.lower[0])
    keys = [f"c{i}" for i in range(len(labels))]
    cls = result.classes.map(lambda c: keys[int(c)] if pd.notna(c) else "na").astype(object)
    colours = list(figures.palette("sequential", present))
    step = max(1, len(colours) // max(1, len(keys)))
    chosen = [colours[min(i * step + 1, len(colours) - 1)] for i in range(len(keys))]
    return cls, keys, dict(zip(keys, labels, strict=True)), chosen


def hover_text(stats: pd.DataFrame, lang: str, class_labels: pd.Series | None = None,
               smoothed: bool = False) -> pd.Series:
    """Hover text per area: name, count (or "< k" when suppressed), rate, class; with ``smoothed``
    the smoothed rate and its 95% interval."""
    k = suppression_threshold()
    counts = stats["count"].map(lambda v: f"< {k}" if pd.isna(v) else fmt_number(v, lang))
    rates = stats["rate"].map(lambda v: fmt_number(v, lang, 1))
    text = ("<b>" + stats["name"].astype(str) + "</b><br>" + t("col.count", lang) + ": " + counts
            + "<br>" + t("col.rate", lang) + ": " + rates)
    if smoothed and "smoothed_low" in stats:
        interval = [t("kpi.na", lang) if pd.isna(lo) else f"{fmt_number(lo, lang, 1)} – {fmt_number(hi, lang, 1)}"
                    for lo, hi in zip(stats["smoothed_low"], stats["smoothed_high"], strict=True)]
        text = (text + "<br>" + t("map.layer.smoothed", lang) + ": " + stats["smoothed"].map(
            lambda v: fmt_number(v, lang, 1)) + "<br>" + t("map.smoothed_interval", lang) + ": "
            + pd.Series(interval, index=stats.index))
    if class_labels is not None:
        text = text + "<br>" + t("col.class", lang) + ": " + class_labels.astype(str)
    return text


@data.sharing  # its panels read each shared aggregate once
def map_figure(state: ViewState, role: str = "public", small: bool = False):
    """The map for ``state.layer`` (pure function of the view state; used by the callback)."""
    lang, present = state.lang, state.present
    view = figures.map_view(data.areas_bounds(), small=small)
    if data.areas().empty:
        # An analyst's point layer needs no boundaries (e.g. a city loaded before its areas).
        pts = data.points(state, role) if state.layer in ("points", "density") else pd.DataFrame()
        if pts.empty:
            # The public gets no points: say so rather than "no data", which would be untrue.
            restricted = role == "public" and state.layer in ("points", "density")
            return figures.empty_figure(t("map.points_restricted" if restricted else "nodata", lang), present)
        bounds = (pts["lon"].quantile(0.001), pts["lat"].quantile(0.001), pts["lon"].quantile(0.999),
                  pts["lat"].quantile(0.999))
        view = figures.map_view(tuple(float(b) for b in bounds), small=small)
        if state.layer == "density":
            return figures.density_map(pts.assign(weight=1.0), view, present=present)
        return figures.points_map(pts, view, present=present)
    geojson = data.areas_geojson_ref()
    withheld = data.hotspots_withheld(state, role)
    if withheld:  # the public gets no hotspot statistic here: say why instead of drawing one
        return figures.empty_figure(notice_text(withheld, lang), present)
    stats = data.area_stats(state, role, with_moran=state.layer == "moran")
    layer = state.layer
    ids = stats["id"].astype(str).tolist()
    if layer in ("counts", "rates", "smoothed"):
        return _value_map(state, stats, geojson, view, small)
    if layer in ("gi", "moran", "emerging"):
        return _class_layer_map(state, role, stats, geojson, view, small)
    if layer == "density":
        surface = data.density_layer(state, role)  # analysts: the documented KDE (none for the public)
        if surface:
            return figures.density_bands_map(surface["geojson"], surface["bands"], lang, view, present=present,
                                             outline=geojson, outline_ids=ids, legend_below=small)
        if role != "public":  # too few points for a surface: say so, never a screen-space blob
            return figures.empty_figure(t("nodata", lang), present)
        return figures.density_map(data.density_points(state, role), view, present=present, outline=geojson,
                                   outline_ids=ids, radius=25 if present else 18)
    pts = data.points(state, role)
    if pts.empty:
        fig = figures.points_map(pts.assign(text=[]) if "text" not in pts else pts, view, present=present,
                                 outline=geojson, outline_ids=ids)
        fig.add_annotation(text=t("map.points_restricted", lang) if role == "public" else t("nodata", lang),
                           showarrow=False, x=0.5, y=0.02, xref="paper", yref="paper", bgcolor="#ffffff")
        return fig
    return figures.points_map(pts, view, present=present, outline=geojson, outline_ids=ids)


def _value_map(state: ViewState, stats: pd.DataFrame, geojson, view: dict, small: bool):
    """Choropleth of counts, rates or smoothed rates in quantile classes (hover: the EB interval)."""
    lang, present, layer = state.lang, state.present, state.layer
    column, digits = {"counts": ("count", 0), "rates": ("rate", 1), "smoothed": ("smoothed", 1)}[layer]
    classes = _class_frame(stats, stats[column], lang, present, digits)
    if classes is None:  # every value suppressed or unknown: draw the areas, all "na"
        classes = (pd.Series("na", index=stats.index, dtype=object), [], {}, [])
    cls, keys, labels, colours = classes
    labels["na"] = f"< {suppression_threshold()}" if layer == "counts" else t("kpi.na", lang)
    frame = pd.DataFrame({"id": stats["id"], "cls": cls})
    frame["text"] = hover_text(stats, lang, cls.map(labels), smoothed=layer == "smoothed")
    fig = figures.class_map(geojson, frame, [*keys, "na"], labels, [*colours, "#d9d9d9"], view, present=present,
                            legend_below=small, height=None)
    if layer != "counts" and not data.has_population():
        fig.add_annotation(text=t("map.no_population", lang), showarrow=False, x=0.5, y=0.02, xref="paper",
                           yref="paper", bgcolor="#ffffff", width=520)
    return fig


def _class_layer_map(state: ViewState, role: str, stats: pd.DataFrame, geojson, view: dict, small: bool):
    """Gi* classes, local Moran clusters or emerging hot-spot categories; Gi* and Moran state their
    one significance convention (two-sided 5%) in the legend's title."""
    lang, present, layer = state.lang, state.present, state.layer
    if layer == "gi":
        cls = stats["gi_class"].map(GI_KEYS).fillna("ns")
        keys, colours = list(figures.GI_CLASSES), figures.palette("gi", present)
        labels = {key: t(f"gi.{key}", lang) for key in keys}
    elif layer == "moran":
        cls = stats["moran"].map(MORAN_KEYS).fillna("ns")
        keys, colours = list(figures.MORAN_CLASSES), figures.palette("moran", present)
        labels = {key: t(f"moran.{key}", lang) for key in keys}
    else:
        emerging = data.emerging(state, role)
        cls = stats["id"].map(emerging).astype(object).fillna("none")
        keys = list(data.EMERGING_CATEGORIES)
        colours = (*figures.palette("gi", present)[:len(keys) - 1], "#eeeeea")
        labels = {key: t(f"emerging.{key}", lang) for key in keys}
    frame = pd.DataFrame({"id": stats["id"], "cls": cls})
    frame["text"] = hover_text(stats, lang, cls.map(labels))
    fig = figures.class_map(geojson, frame, keys, labels, colours, view, present=present, legend_below=small,
                            height=None)
    if layer in ("gi", "moran"):
        fig.update_layout(legend_title_text=t("map.significance_fdr" if state.fdr else "map.significance", lang))
    return fig


# Each layer's CSV: the areas' counts and rates, plus THAT layer's own statistic (a column computed
# for another layer, e.g. Moran's clusters on the Gi* map, would be a placeholder, not a result).
LAYER_COLUMNS: dict[str, tuple[str, ...]] = {
    "counts": (), "rates": (), "density": (),
    "smoothed": ("smoothed", "smoothed_low", "smoothed_high"),
    "gi": ("gi_z", "gi_class"),
    "moran": ("moran",),
    "emerging": ("emerging",),
}


def map_table(state: ViewState, role: str = "public") -> pd.DataFrame:
    """The data behind the map: one row per area with code, name, district, population, count,
    rate and the drawn layer's statistic (:data:`LAYER_COLUMNS`); the points for the point layer."""
    if state.layer == "points":
        return data.points(state, role).drop(columns=["text"], errors="ignore")
    surface = data.density_layer(state, role) if state.layer == "density" else {}
    if surface:  # the heat map's own figures: its bands, in incidents per km², with the bandwidth
        return surface["bands"]
    stats = data.area_stats(state, role, with_moran=state.layer == "moran")
    if state.layer == "emerging":
        stats = stats.assign(emerging=stats["id"].map(data.emerging(state, role)).astype(object).fillna("none"))
    own = [c for c in LAYER_COLUMNS.get(state.layer, ()) if c != "gi_z" or role != "public"]
    # (gi_z is not published: z-scores with the published counts could narrow down suppressed ones.)
    cols = ["code", "name", "district", "population", "count", "rate", *own]
    return stats[[c for c in cols if c in stats]]


def click_target(click: dict | None, state: ViewState) -> str | None:
    """Href of the neighbourhood profile for a map click (None when no area was clicked)."""
    try:
        area = click["points"][0]["location"]
    except (TypeError, KeyError, IndexError):
        return None
    if area in (None, "__none__"):
        return None
    return page_href("neighbourhood", replace_state(state, area=str(area)))
