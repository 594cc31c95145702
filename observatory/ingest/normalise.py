"""Vectorised parsing of the values incident exports carry: dates, times, numbers, coordinates,
sex and age.

Every parser takes a pandas Series of Python strings (object dtype, ``None`` when missing) and
returns the parsed values plus a boolean ``bad`` mask of non-blank values that could not be
parsed, so the caller can reject those rows with a reason. Work is done once per distinct value
(:func:`by_unique`): exports repeat the same dates, labels and codes millions of times, and
Python-level string work per row would dominate a large import. Nothing here does I/O.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from numpy.dtypes import StringDType

from observatory.text import fold
from observatory.vocabulary import AGE_GROUPS

# Tried in this order after ISO 8601; day-first because the sources are Latin American / British.
DAY_FIRST_FORMATS = (
    "%d/%m/%Y", "%d/%m/%Y %H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %I:%M:%S %p", "%d/%m/%Y %I:%M %p",
    "%d-%m-%Y", "%d-%m-%Y %H:%M", "%d-%m-%Y %H:%M:%S", "%d/%m/%y",
)
NA_MARKERS = ("", "NA", "N/A", "NAN", "NULL", "NONE", "#N/A", "SIN DATO", "(NO ESPECIFICADO)", "NO ESPECIFICADO")
_AGE_EDGES = np.array([18, 30, 45, 60])
# Spanish, Portuguese and English forms (folded: no accents, lower case). Values meaning "not
# known" map to None: they are recognised (not reported as unmapped) and stored as unknown.
DEFAULT_SEX_VALUES: dict[str, str | None] = {
    "f": "F", "female": "F", "femenino": "F", "feminino": "F", "mujer": "F", "mujeres": "F", "mulher": "F",
    "woman": "F", "fem": "F", "fem.": "F", "femenina": "F", "feminina": "F",
    "m": "M", "male": "M", "masculino": "M", "hombre": "M", "hombres": "M", "homem": "M", "man": "M", "h": "M",
    "masc": "M", "masc.": "M", "varon": "M", "masculina": "M",
    "x": "X", "other": "X", "otro": "X", "outro": "X", "no binario": "X", "nao binario": "X", "non-binary": "X",
    "intersexual": "X", "intersex": "X", "intersexo": "X",
    "indefinido": None, "indeterminado": None, "desconocido": None, "desconhecido": None, "unknown": None,
    "no reporta": None, "no informa": None, "sin informacion": None, "no identificado": None,
    "nao informado": None, "ignorado": None, "sem informacao": None, "not stated": None, "u": None,
    "no aplica": None, "nao se aplica": None, "not known": None,
}
EARLIEST_YEAR = 1900
# H[:M[:S]]: one-digit minutes and seconds too ("20:0", "7:5" = an hour and a minute column joined)
_TIME = re.compile(r"^(\d{1,2})(?::(\d{1,2}))?(?::(\d{1,2}))?(?:\.\d+)?$")
_LONE_COMMA = re.compile(r"^[-+]?\d+,\d+$")


def by_unique(values: pd.Series, func: Callable[[Any], Any], missing: Any = None, dtype: Any = object) -> pd.Series:
    """Apply ``func`` to each distinct non-missing value of ``values`` and broadcast the results.

    Missing values (None/NaN) give ``missing``. Returns a Series indexed like ``values``.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    mapped = np.empty(len(uniques) + 1, dtype=dtype)
    mapped[:-1] = [func(u) for u in uniques] if len(uniques) else []
    mapped[-1] = missing
    return pd.Series(mapped[codes], index=values.index, dtype=dtype)  # code -1 picks `missing`


def missing_series(index: pd.Index) -> pd.Series:
    """A Series of ``None`` (object dtype) indexed like ``index``."""
    return pd.Series(np.full(len(index), None, dtype=object), index=index, dtype=object)


def clean(series: pd.Series, na_values: tuple[str, ...] = ()) -> pd.Series:
    """Strip values and turn blanks and NA markers (``NA``, ``(NO ESPECIFICADO)``...) into None.

    Input: Series of str; output: object Series of str with None for missing values.
    """
    markers = np.array(sorted({m.upper() for m in (*NA_MARKERS, *na_values)}), dtype=object)
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    # numpy's string functions run in C: much faster than a Python loop on high-cardinality columns
    text = np.asarray(uniques.astype(str) if hasattr(uniques, "astype") else uniques, dtype=StringDType())
    text = np.strings.strip(np.strings.replace(text, "\r", ""))
    missing = np.isin(np.strings.upper(text).astype(object), markers)
    mapped = np.empty(len(uniques) + 1, dtype=object)
    mapped[:-1] = text.astype(object)
    mapped[:-1][missing] = None
    mapped[-1] = None
    return pd.Series(mapped[codes], index=series.index, dtype=object)


def parse_dates(series: pd.Series, formats: tuple[str, ...] = ()) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse dates (optionally with a time) written ISO 8601, d/m/Y or in ``formats``.

    Returns ``(timestamps, has_time, bad)``: datetime64[us] values (NaT when missing or bad), a
    boolean mask of values that carried a time of day, and a mask of non-blank unparseable
    values. A date outside 1900..next year counts as bad.
    """
    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    uniques = pd.Index(uniques, dtype=object)
    parsed = pd.Series(pd.NaT, index=range(len(uniques)), dtype="datetime64[us]")
    todo = np.ones(len(uniques), dtype=bool)
    for fmt in ("ISO8601", *formats, *DAY_FIRST_FORMATS):
        if not todo.any():
            break
        attempt = pd.to_datetime(pd.Series(uniques[todo]), format=fmt, errors="coerce")
        if getattr(attempt.dt, "tz", None) is not None:
            attempt = attempt.dt.tz_localize(None)  # the clock time is local; an offset is an export artefact
        ok = attempt.notna().to_numpy()
        where = np.flatnonzero(todo)[ok]
        parsed.iloc[where] = attempt[ok].astype("datetime64[us]").to_numpy()
        todo[where] = False
    years = parsed.dt.year
    parsed = parsed.mask((years < EARLIEST_YEAR) | (years > dt.date.today().year + 1))
    with_time = np.array([":" in u for u in uniques] + [False], dtype=bool)
    values = np.append(parsed.to_numpy(), np.datetime64("NaT", "us"))[codes]
    result = pd.Series(values, index=series.index, dtype="datetime64[us]")
    present = codes >= 0
    bad = pd.Series(present & result.isna().to_numpy(), index=series.index)
    return result, pd.Series(with_time[codes] & present, index=series.index), bad


def _seconds(value: str) -> float:
    match = _TIME.match(value)
    if not match:
        return np.nan
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    if hours > 23 or minutes > 59 or seconds > 59:
        return np.nan
    return float(hours * 3600 + minutes * 60 + seconds)


def parse_times(series: pd.Series, formats: tuple[str, ...] = ()) -> tuple[pd.Series, pd.Series]:
    """Parse times of day into seconds since midnight: ``H:M``, ``H:M:S`` (one or two digits each,
    so ``20:0`` is 20:00 and ``7:5`` is 07:05), an hour ``0``..``23``, then the strptime ``formats``
    (a profile's ``time_formats``, e.g. ``%I:%M %p`` or ``%H%M``).

    Returns ``(seconds, bad)``: float seconds (NaN when missing or bad) and the mask of bad values.
    """
    def one(value: str) -> float:
        seconds = _seconds(value)
        for fmt in formats if np.isnan(seconds) else ():
            try:
                t = dt.datetime.strptime(value, fmt)
            except ValueError:
                continue
            return float(t.hour * 3600 + t.minute * 60 + t.second)
        return seconds

    seconds = by_unique(series, one, missing=np.nan, dtype="float64")
    return seconds, series.notna() & seconds.isna()


def parse_numbers(series: pd.Series, decimal_comma: bool = False) -> tuple[pd.Series, pd.Series]:
    """Parse numbers; with ``decimal_comma`` ``1.234,5`` is 1234.5. A lone comma between digits
    (``-75,581775``) is always read as a decimal comma.

    Returns ``(values, bad)``: float values (NaN when missing, bad or infinite) and the bad mask.
    """
    def one(value: str) -> float:
        text = value.replace(".", "").replace(",", ".") if decimal_comma else value
        if not decimal_comma and "," in text and _LONE_COMMA.match(text):
            text = text.replace(",", ".")
        try:
            number = float(text)
        except ValueError:
            return np.nan
        return number if np.isfinite(number) else np.nan

    codes, uniques = pd.factorize(series, use_na_sentinel=True)
    parsed = pd.to_numeric(pd.Series(uniques, dtype=object), errors="coerce").to_numpy(dtype="float64", copy=True)
    retry = np.flatnonzero(~np.isfinite(parsed)) if not decimal_comma else np.arange(len(uniques))
    for i in retry:  # decimal commas and the odd spelling float() accepts: few values, done one by one
        parsed[i] = one(str(uniques[i]))
    parsed[~np.isfinite(parsed)] = np.nan
    values = pd.Series(np.append(parsed, np.nan)[codes], index=series.index, dtype="float64")
    return values, series.notna() & values.isna()


def reproject(x: pd.Series, y: pd.Series, crs: str) -> tuple[pd.Series, pd.Series]:
    """Transform coordinates from ``crs`` to WGS84 longitude/latitude (pyproj, x/y order)."""
    from pyproj import CRS, Transformer

    source = CRS.from_user_input(crs)
    if source.equals(CRS.from_epsg(4326), ignore_axis_order=True):
        return x, y
    transformer = Transformer.from_crs(source, CRS.from_epsg(4326), always_xy=True)
    lon, lat = transformer.transform(x.to_numpy(dtype="float64"), y.to_numpy(dtype="float64"))
    lon = pd.Series(lon, index=x.index)
    lat = pd.Series(lat, index=y.index)
    return lon.where(np.isfinite(lon)), lat.where(np.isfinite(lat))


def zero_coordinates(x: pd.Series, y: pd.Series) -> pd.Series:
    """Mask of (0, 0) pairs: the placeholder exports write for "no coordinates", judged in the file's
    own CRS (before any projection)."""
    return x.notna() & y.notna() & (x == 0) & (y == 0)


def check_coordinates(lon: pd.Series, lat: pd.Series) -> dict[str, pd.Series]:
    """Validate WGS84 coordinates (floats, NaN when missing).

    Returns masks: ``zero`` (0,0 points: null island, treated as missing), ``swapped`` (latitude
    out of range but both values valid when exchanged: fixed by the caller), ``out_of_range``
    (impossible values: rejected), ``present`` (both usable as given) and ``one_missing``.
    """
    both = lon.notna() & lat.notna()
    zero = both & (lon == 0) & (lat == 0)
    lat_ok = lat.abs() <= 90
    lon_ok = lon.abs() <= 180
    swapped = both & ~lat_ok & (lon.abs() <= 90) & (lat.abs() <= 180)
    out_of_range = both & ~zero & ~swapped & ~(lat_ok & lon_ok)
    present = both & ~zero & ~out_of_range & ~swapped
    return {"zero": zero, "swapped": swapped, "out_of_range": out_of_range, "present": present,
            "one_missing": lon.isna() ^ lat.isna()}


def map_values(series: pd.Series, mapping: dict[str, str | None],
               defaults: dict[str, str | None] | None = None) -> pd.Series:
    """Map categorical source values through ``mapping`` (keys folded), then ``defaults``.

    Values found in neither become None.
    """
    table = {**(defaults or {}), **mapping}
    return by_unique(series, lambda v: table.get(fold(v)))


def map_sex(series: pd.Series, mapping: dict[str, str | None] | None = None) -> pd.Series:
    """Victim sex as ``F``, ``M`` or ``X`` (None when missing or not recognised)."""
    return map_values(series, mapping or {}, DEFAULT_SEX_VALUES)


def age_groups(ages: pd.Series) -> pd.Series:
    """Age in years (float, NaN missing) -> ``0-17``, ``18-29``, ``30-44``, ``45-59``, ``60+`` or None."""
    codes = np.searchsorted(_AGE_EDGES, ages.to_numpy(dtype="float64"), side="right")
    labels = np.array(AGE_GROUPS, dtype=object)[np.clip(codes, 0, len(AGE_GROUPS) - 1)]
    labels[ages.isna().to_numpy()] = None
    return pd.Series(labels, index=ages.index, dtype=object)


def age_out_of_range(ages: pd.Series) -> pd.Series:
    """Mask of ages that cannot be a person's age in years (negative or above 120)."""
    return ages.notna() & ((ages < 0) | (ages > 120))


def truncate(series: pd.Series, limit: int) -> pd.Series:
    """Strings cut to ``limit`` characters (the column width), None kept."""
    return by_unique(series, lambda v: v[:limit])
