"""Hour x weekday matrix and category breakdown over time (pure, DataFrames in and out)."""

from __future__ import annotations

import pandas as pd

WEEKDAYS = tuple(range(7))  # 0 = Monday
HOURS = tuple(range(24))
OTHER = "other_categories"


def hour_weekday_matrix(counts: pd.DataFrame) -> pd.DataFrame:
    """A 7 x 24 matrix of counts: rows weekday 0 (Monday) .. 6, columns hour 0 .. 23.

    Input: columns ``weekday``, ``hour``, ``count`` (``queries.counts_by_hour_weekday``).
    Incidents with an unknown hour are left out (their total is in ``matrix.attrs
    ["unknown_hour"]``); suppressed (NA) cells stay NA.
    """
    data = counts.copy()
    unknown = data["hour"].isna()
    known = data[~unknown].astype({"weekday": "int64", "hour": "int64"})
    matrix = known.pivot_table(index="weekday", columns="hour", values="count", aggfunc="sum", dropna=False)
    matrix = matrix.reindex(index=list(WEEKDAYS), columns=list(HOURS))
    # Cells absent from the input are zero; cells present but suppressed stay NA.
    present = known.set_index(["weekday", "hour"])["count"]
    for (w, h), value in present.items():
        if pd.isna(value):
            matrix.loc[w, h] = pd.NA
    filled = matrix.astype("Float64")
    missing = pd.DataFrame(True, index=filled.index, columns=filled.columns)
    for w, h in present.index:
        missing.loc[w, h] = False
    filled = filled.mask(missing, 0.0)
    filled.index.name = "weekday"
    filled.columns.name = "hour"
    filled.attrs["unknown_hour"] = float(pd.to_numeric(data.loc[unknown, "count"], errors="coerce").sum())
    return filled


def category_breakdown(monthly: pd.DataFrame, *, freq: str = "month", top: int | None = 8,
                       shares: bool = False) -> pd.DataFrame:
    """Counts per period (rows) and category (columns), largest categories first.

    Input: ``month``, ``category``, ``count`` (``queries.counts_by_month(by_category=True)``).
    ``freq``: "month", "quarter" or "year". ``top``: keep the ``top`` categories with most
    incidents overall and sum the rest into ``other_categories`` (None keeps all). With
    ``shares`` each row is divided by its total (a share in [0, 1]; NaN for an empty period).
    """
    rules = {"month": "M", "quarter": "Q", "year": "Y"}
    if freq not in rules:
        raise ValueError(f"freq must be one of {tuple(rules)}, not {freq!r}")
    data = monthly[["month", "category", "count"]].copy()
    data["count"] = pd.to_numeric(data["count"], errors="coerce").fillna(0)
    data["period"] = pd.to_datetime(data["month"]).dt.to_period(rules[freq]).dt.to_timestamp()
    order = data.groupby("category")["count"].sum().sort_values(ascending=False, kind="stable")
    keep = list(order.index if top is None else order.index[:top])
    data.loc[~data["category"].isin(keep), "category"] = OTHER
    table = data.pivot_table(index="period", columns="category", values="count", aggfunc="sum", fill_value=0)
    columns = keep + ([OTHER] if OTHER in table.columns else [])
    table = table.reindex(columns=columns, fill_value=0).astype("float64")
    if shares:
        totals = table.sum(axis=1)
        table = table.div(totals.where(totals > 0), axis=0)
    table.columns.name = "category"
    return table
