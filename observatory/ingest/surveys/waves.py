"""Part of stage 2 (normalise): the survey wave of every row and the wave's reference period.

The wave is, in order of precedence: ``--wave NAME``; the profile's ``wave_column`` read with
``wave_pattern`` and written with ``wave_template`` (ENSU: ``PER = 0315`` -> "ENSU 2015 Q1"); its
``wave_file_pattern`` on the file name (ENVIPE: "envipe2021_..." -> "ENVIPE 2021"); its fixed
``wave``. The ``period`` rule turns the groups the name was built from into dates.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd

from observatory.ingest.report import ImportFailed
from observatory.ingest.surveys.profile import SurveyProfile
from observatory.ingest.surveys.read import require

Periods = dict[str, tuple[dt.date, dt.date]]  # wave name -> reference period


def wave_period(rule: str | None, groups: dict[str, str]) -> tuple[dt.date, dt.date] | None:
    """The reference period of a wave from the groups its name was built from.

    ``rule``: "year" (the year in ``year``/``yy``), "previous_year" (the year before: ENVIPE 2021
    asks about 2020) or "quarter" (the calendar quarter of ``month`` in that year). None when
    the rule or the groups are missing.
    """
    if not rule:
        return None
    year = groups.get("year") or (f"20{groups['yy']}" if groups.get("yy") else None)
    if not year or not year.isdigit():
        return None
    y = int(year)
    if rule == "year":
        return dt.date(y, 1, 1), dt.date(y, 12, 31)
    if rule == "previous_year":
        return dt.date(y - 1, 1, 1), dt.date(y - 1, 12, 31)
    if rule == "quarter" and groups.get("month", "").isdigit() and 1 <= int(groups["month"]) <= 12:
        first = (int(groups["month"]) - 1) // 3 * 3 + 1
        last = dt.date(y + (first == 10), 1 if first == 10 else first + 3, 1) - dt.timedelta(days=1)
        return dt.date(y, first, 1), last
    return None


def _value_wave(value: object, pattern: re.Pattern[str], profile: SurveyProfile,
                periods: Periods) -> str | None:
    """The wave name of one value of the wave column (None: the pattern or the template does not fit)."""
    match = pattern.match(str(value).strip())
    if not match:
        return None
    groups = {k: v for k, v in match.groupdict().items() if v is not None}
    groups.setdefault("value", str(value).strip())
    if groups.get("month", "").isdigit():
        groups["quarter"] = str((int(groups["month"]) - 1) // 3 + 1)
    try:
        label = (profile.wave_template or "{value}").format(**groups)
    except (KeyError, ValueError):
        return None
    period = wave_period(profile.period, groups)
    if period:
        periods[label] = period
    return label


def _column_waves(frame: pd.DataFrame, header: dict[str, str], profile: SurveyProfile,
                  path: Path) -> tuple[pd.Series, Periods]:
    column = require(header, (profile.wave_column,), profile, "wave_column", path)  # type: ignore[arg-type]
    pattern = re.compile(profile.wave_pattern or r"^(?P<value>.+)$")
    periods: Periods = {}
    cache = {v: _value_wave(v, pattern, profile, periods) for v in frame[column].unique()}
    return frame[column].map(cache).astype(object), periods


def _file_wave(path: Path, profile: SurveyProfile) -> tuple[str, Periods] | None:
    """The wave named by the file name, or None when ``wave_file_pattern`` does not fit it."""
    match = re.search(profile.wave_file_pattern or "", path.name)
    if not match:
        return None
    groups = {k: v for k, v in match.groupdict().items() if v is not None}
    try:
        label = (profile.wave_template or "{value}").format(value=match.group(0), **groups)
    except (KeyError, ValueError):
        return None
    if not label:
        return None
    period = wave_period(profile.period, groups)
    return label, ({label: period} if period else {})


def wave_names(frame: pd.DataFrame, header: dict[str, str], profile: SurveyProfile, wave: str | None,
               path: Path) -> tuple[pd.Series, Periods]:
    """The wave name of every row (None where a wave column's value gives none), and the periods."""
    if wave:
        return pd.Series(wave, index=frame.index, dtype=object), {}
    if profile.wave_column:
        return _column_waves(frame, header, profile, path)
    found = _file_wave(path, profile) if profile.wave_file_pattern else None
    if found:
        return pd.Series(found[0], index=frame.index, dtype=object), found[1]
    if profile.wave:
        return pd.Series(profile.wave, index=frame.index, dtype=object), {}
    raise ImportFailed(f"{path}: the survey wave cannot be told from the file (profile {profile.name}): "
                       "pass --wave NAME, e.g. --wave \"ENVIPE 2021\"")
