"""The public grid: calendar periods a public window snaps outward to (month, quarter, year)."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from observatory.queries.filters import Filters

# Table levels and grains (what one cell of a table is), see :func:`observatory.queries.access.release`.
LEVELS = ("area", "district", "city")
GRAINS = ("window", "period", "hour")
_UNIT_MONTHS = {"month": 1, "quarter": 3, "year": 12}


def period_start(day: dt.date, unit: str) -> dt.date:
    """First day of the calendar ``unit`` (month, quarter, year) holding ``day``."""
    months = _UNIT_MONTHS[unit]
    return dt.date(day.year, (day.month - 1) // months * months + 1, 1)


def period_end(day: dt.date, unit: str) -> dt.date:
    """Last day of the calendar ``unit`` holding ``day``."""
    first = period_start(day, unit)
    month = first.month - 1 + _UNIT_MONTHS[unit]
    return dt.date(first.year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)


def snap(filters: Filters, unit: str) -> Filters:
    """``filters`` with its window widened to whole calendar ``unit``s (open ends stay open)."""
    return filters.replace(start=period_start(filters.start, unit) if filters.start else None,
                           end=period_end(filters.end, unit) if filters.end else None)


def period_starts(months: pd.Series, unit: str) -> pd.Series:
    """First days of the ``unit`` holding each month (datetime64 in, datetime64 out)."""
    if unit == "month":
        return months
    periods = pd.to_datetime(months).dt.to_period("Q" if unit == "quarter" else "Y")
    return periods.dt.start_time.astype("datetime64[ns]")


def _coarser(a: str, b: str) -> str:
    return a if _UNIT_MONTHS[a] >= _UNIT_MONTHS[b] else b


def calendar_window(filters: Filters, unit: str) -> tuple[Filters, str]:
    """The smallest single calendar period (``unit`` or coarser) holding the window, or its whole
    years; returns it with its unit. Open ends stay open (whole years then)."""
    start, end = filters.start, filters.end
    if start is not None and end is not None:
        for candidate in _UNIT_MONTHS:
            if _UNIT_MONTHS[candidate] >= _UNIT_MONTHS[unit] and period_start(start, candidate) == period_start(
                    end, candidate):
                return snap(filters, candidate), candidate
    return snap(filters, "year"), "year"


def _fill_open_ends(filters: Filters, bounds: tuple, unit: str) -> Filters:
    """Open ends replaced by the stored span's periods (a window past the data stays one period)."""
    start = filters.start or period_start(min(bounds[0], filters.end or bounds[0]), unit)
    end = filters.end or period_end(max(bounds[1], start), unit)
    return filters.replace(start=start, end=end)

