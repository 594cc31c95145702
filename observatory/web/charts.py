"""The dashboard's charts (monthly series, hour x weekday, bars, stacked areas, shares): plotting
only, on the common look of :mod:`observatory.web.figures`."""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import plotly.graph_objects as go

from observatory.vocabulary import FEAR_LEVELS
from observatory.web.figures import base_layout, empty_figure, month_axis, palette
from observatory.web.i18n import fmt_month, t


def monthly_figure(series: pd.DataFrame, lang: str, *, present: bool = False, height: int | None = 380) -> go.Figure:
    """Monthly counts, 3- and 12-month moving averages, last year's line and the expected band.

    ``series`` is ``indicators.timeseries.monthly_series`` output: month, count, ma3, ma12,
    previous_year, lower, upper, flag ("above"/"below"/""), partial. Flagged months get a marker,
    partial months a hollow one (never flagged).
    """
    if series.empty:
        return empty_figure(t("nodata", lang), present)
    s = series.sort_values("month").reset_index(drop=True)
    months = pd.to_datetime(s["month"])
    colours = palette("lines", present)
    width = 4 if present else 2
    fig = go.Figure()
    if {"lower", "upper"} <= set(s.columns) and s["upper"].notna().any():
        fig.add_trace(go.Scatter(x=months, y=s["upper"], mode="lines", line={"width": 0}, showlegend=False,
                                 hoverinfo="skip"))
        fig.add_trace(go.Scatter(x=months, y=s["lower"], mode="lines", line={"width": 0}, fill="tonexty",
                                 fillcolor="rgba(120,120,120,0.25)", name=t("trends.expected", lang),
                                 hoverinfo="skip"))
    labels = [fmt_month(m, lang) for m in months]
    fig.add_trace(go.Scatter(x=months, y=s["count"], mode="lines+markers", name=t("trends.count", lang),
                             line={"color": colours[0], "width": width}, text=labels,
                             hovertemplate="%{text}: %{y}<extra></extra>"))
    extra = (("ma3", "trends.ma3", colours[2], "dot"), ("ma12", "trends.ma12", colours[3], None),
             ("previous_year", "trends.lastyear", colours[4], "dash"))
    for column, key, colour, dash in extra:
        if column in s and s[column].notna().any():
            fig.add_trace(go.Scatter(x=months, y=s[column], mode="lines", name=t(key, lang),
                                     line={"color": colour, "width": width, "dash": dash}, hoverinfo="skip"))
    if "partial" in s and s["partial"].astype(bool).any():
        # A partly covered month is drawn hollow and named: its count is not comparable with a full month's.
        part = s[s["partial"].astype(bool)]
        fig.add_trace(go.Scatter(x=pd.to_datetime(part["month"]), y=part["count"], mode="markers",
                                 name=t("trends.partial", lang), text=[fmt_month(m, lang) for m in part["month"]],
                                 hovertemplate="%{text}: %{y} (" + t("trends.partial", lang) + ")<extra></extra>",
                                 marker={"size": 14 if present else 10, "symbol": "circle-open",
                                         "color": colours[5], "line": {"width": 2}}))
    if "flag" in s:
        flagged = s[s["flag"].astype(str) != ""]
        if not flagged.empty:
            fig.add_trace(go.Scatter(x=pd.to_datetime(flagged["month"]), y=flagged["count"], mode="markers",
                                     name=t("trends.flagged", lang), hoverinfo="skip",
                                     marker={"size": 16 if present else 11, "symbol": "diamond-open",
                                             "color": colours[1], "line": {"width": 3}}))
    fig.update_layout(legend={"orientation": "h", "y": -0.15}, hovermode="closest")
    month_axis(fig, months, lang)
    return base_layout(fig, present, height, lang)


def hour_weekday_figure(
    frame: pd.DataFrame, lang: str, *, present: bool = False, height: int | None = 380
) -> go.Figure:
    """Heat map of counts by hour (0-23, columns) and weekday (0 = Monday, rows)."""
    if frame.empty:
        return empty_figure(t("nodata", lang), present)
    grid = (
        frame.pivot_table(index="weekday", columns="hour", values="count", aggfunc="sum", fill_value=0)
        .reindex(index=range(7), columns=range(24), fill_value=0)
    )
    fig = go.Figure(
        go.Heatmap(
            z=grid.to_numpy(), x=list(range(24)), y=[t(f"weekday.{d}", lang) for d in range(7)],
            colorscale="Viridis" if present else "YlOrRd",
            hovertemplate="%{y} %{x}h: %{z}<extra></extra>",
        )
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title=t("col.hour", lang), dtick=3)
    return base_layout(fig, present, height, lang)


def bars_figure(
    frame: pd.DataFrame, x: str, y: str, lang: str, *, present: bool = False, horizontal: bool = False,
    error: tuple[str, str] | None = None, colour_by: str | None = None, height: int | None = 380,
) -> go.Figure:
    """Bars of ``y`` by ``x``; ``error`` = (low, high) columns draws a 95% interval.

    ``colour_by`` names a boolean column; True bars are drawn hatched/grey (e.g. unreliable).
    """
    if frame.empty:
        return empty_figure(t("nodata", lang), present)
    colours = palette("lines", present)
    marker: dict = {"color": colours[0]}
    if colour_by is not None:
        flags = frame[colour_by].fillna(False).astype(bool)
        marker = {"color": [("#aaaaaa" if f else colours[0]) for f in flags],
                  "pattern": {"shape": ["/" if f else "" for f in flags]}}
    err = None
    if error is not None:
        low, high = error
        err = {"type": "data", "symmetric": False, "array": (frame[high] - frame[y]).tolist(),
               "arrayminus": (frame[y] - frame[low]).tolist(), "thickness": 3 if present else 1.5}
    kwargs = {"x": frame[y], "y": frame[x], "orientation": "h", "error_x": err} if horizontal else {
        "x": frame[x], "y": frame[y], "error_y": err}
    fig = go.Figure(go.Bar(marker=marker, **kwargs))
    if horizontal:
        fig.update_yaxes(autorange="reversed")
    return base_layout(fig, present, height, lang)


def stacked_area_figure(
    frame: pd.DataFrame, lang: str, names: Mapping[str, str], *, present: bool = False, top: int = 6,
    height: int | None = 380,
) -> go.Figure:
    """Monthly counts by category (columns ``month``, ``category``, ``count``), top categories + rest."""
    if frame.empty:
        return empty_figure(t("nodata", lang), present)
    totals = frame.groupby("category")["count"].sum().sort_values(ascending=False)
    keep = list(totals.index[:top])
    data = frame.assign(category=frame["category"].where(frame["category"].isin(keep), "__other__"))
    pivot = data.pivot_table(index="month", columns="category", values="count", aggfunc="sum", fill_value=0)
    colours = palette("lines", present)
    fig = go.Figure()
    for i, cat in enumerate([*keep, "__other__"]):
        if cat not in pivot:
            continue
        label = names.get(cat, cat) if cat != "__other__" else names.get("other", "…")
        fig.add_trace(go.Scatter(x=pd.to_datetime(pivot.index), y=pivot[cat], stackgroup="one", name=label,
                                 line={"color": colours[i % len(colours)]}))
    fig.update_layout(legend={"orientation": "h", "y": -0.15})
    month_axis(fig, pivot.index, lang)
    return base_layout(fig, present, height, lang)


def shares_figure(frame: pd.DataFrame, lang: str, *, present: bool = False, height: int | None = 320) -> go.Figure:
    """Stacked horizontal shares of low/medium/high (columns ``group``, ``low``, ``medium``, ``high``)."""
    if frame.empty:
        return empty_figure(t("nodata", lang), present)
    colours = palette("sequential", present)
    fig = go.Figure()
    for level, colour in zip(FEAR_LEVELS, (colours[1], colours[3], colours[5]), strict=True):
        fig.add_trace(go.Bar(y=frame["group"], x=frame[level] * 100, orientation="h", name=t(f"level.{level}", lang),
                             marker={"color": colour}, hovertemplate="%{y}: %{x:.1f}%<extra></extra>"))
    fig.update_layout(barmode="stack", legend={"orientation": "h", "y": -0.2})
    fig.update_xaxes(range=[0, 100], ticksuffix="%")
    return base_layout(fig, present, height, lang)
