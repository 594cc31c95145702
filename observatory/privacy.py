"""Protecting victims in what the observatory shows and exports.

Geomasking
----------
:func:`geomask` moves each point by a random offset: a direction drawn uniformly in
[0, 360) degrees and a distance drawn so that the new point is uniformly distributed over the
ring between ``min_radius_m`` and ``radius_m`` metres around the true point ("donut"
masking; with ``min_radius_m = 0`` a uniform disc). Uniform over the *area* (the distance is
``sqrt(U * (R² - r²) + r²)``, not ``U * R``) so that masked points do not pile up near the
truth. A minimum radius guarantees every point moves at least that far, so that a masked
point never sits on the victim's door. LexisNexis' Community Crime Map uses up to 500 ft
(about 150 m) for sensitive crimes; the analyst view defaults to 250 m.

Offsets are computed on a local tangent plane (metres to degrees with the WGS84 radius of
curvature at each latitude), which is accurate to well under 1% for radii of a few
kilometres. Pass ``seed`` for a reproducible mask (a bulletin's map stays the same when
re-drawn); each point gets its own offset, so the mask cannot be undone by averaging one
map. Do not publish two differently-seeded masks of the same points: averaging them
would shrink the displacement.

CSV formula neutralisation
--------------------------
A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return (or their
full-width forms) is run as a formula by Excel and LibreOffice ("CSV injection",
OWASP). :func:`neutralise_csv_value` prefixes such text with ``'`` so it shows as text;
numbers (``-3``, ``+1.5e3``) are left alone so that counts stay numbers.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd

DEFAULT_MASK_RADIUS_M = 250.0

# WGS84 semi-major axis and first eccentricity squared.
_A = 6_378_137.0
_E2 = 6.694_379_990_14e-3

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def metres_per_degree(lat: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Metres per degree of latitude and of longitude at latitude ``lat`` (degrees, WGS84)."""
    phi = np.radians(np.asarray(lat, dtype=float))
    sin2 = np.sin(phi) ** 2
    meridional = _A * (1 - _E2) / (1 - _E2 * sin2) ** 1.5  # radius of curvature north-south
    normal = _A / np.sqrt(1 - _E2 * sin2)  # radius of curvature east-west
    return meridional * math.pi / 180, normal * np.cos(phi) * math.pi / 180


def geomask(lon: np.ndarray | pd.Series, lat: np.ndarray | pd.Series, radius_m: float, *,
            min_radius_m: float = 0.0, seed: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Displace points at random within ``radius_m`` metres (see the module docstring).

    Inputs: longitudes and latitudes in degrees (WGS84, same length; NaN stays NaN),
    ``radius_m`` > 0 and 0 <= ``min_radius_m`` <= ``radius_m`` in metres, an optional seed.
    Output: ``(lon, lat)`` float arrays of the masked points, in degrees.
    """
    if not radius_m > 0:
        raise ValueError(f"geomask: radius_m must be positive, got {radius_m!r}")
    if not 0 <= min_radius_m <= radius_m:
        raise ValueError(f"geomask: min_radius_m must be between 0 and radius_m ({radius_m}), got {min_radius_m!r}")
    x = np.asarray(lon, dtype=float)
    y = np.asarray(lat, dtype=float)
    if x.shape != y.shape:
        raise ValueError(f"geomask: {x.shape[0]} longitudes but {y.shape[0]} latitudes")
    rng = np.random.default_rng(seed)
    angle = rng.uniform(0.0, 2 * math.pi, size=x.shape)
    # Inverse CDF of a distance uniform over the ring's area.
    dist = np.sqrt(rng.uniform(0.0, 1.0, size=x.shape) * (radius_m**2 - min_radius_m**2) + min_radius_m**2)
    m_lat, m_lon = metres_per_degree(np.clip(y, -89.9, 89.9))
    with np.errstate(invalid="ignore"):
        return x + dist * np.sin(angle) / m_lon, y + dist * np.cos(angle) / m_lat


def geomask_frame(frame: pd.DataFrame, radius_m: float, *, min_radius_m: float = 0.0, seed: int | None = None,
                  lon: str = "lon", lat: str = "lat") -> pd.DataFrame:
    """A copy of ``frame`` whose ``lon``/``lat`` columns are geomasked (other columns unchanged)."""
    out = frame.copy()
    if out.empty:
        return out
    out[lon], out[lat] = geomask(out[lon].to_numpy(dtype=float, na_value=np.nan),
                                 out[lat].to_numpy(dtype=float, na_value=np.nan),
                                 radius_m, min_radius_m=min_radius_m, seed=seed)
    return out


def displacement_m(lon0: np.ndarray, lat0: np.ndarray, lon1: np.ndarray, lat1: np.ndarray) -> np.ndarray:
    """Distance in metres between two sets of nearby points (local tangent plane, for checks)."""
    m_lat, m_lon = metres_per_degree((np.asarray(lat0, dtype=float) + np.asarray(lat1, dtype=float)) / 2)
    dx = (np.asarray(lon1, dtype=float) - np.asarray(lon0, dtype=float)) * m_lon
    dy = (np.asarray(lat1, dtype=float) - np.asarray(lat0, dtype=float)) * m_lat
    return np.hypot(dx, dy)


def neutralise_csv_value(value: object) -> object:
    """``value`` made safe for a spreadsheet: text that would run as a formula gets a ``'`` prefix.

    Non-text values and text numbers (``"-3"``, ``"+2.5"``) are returned unchanged.
    Leading spaces are looked through, because some spreadsheets strip them before parsing.
    """
    if not isinstance(value, str) or not value:
        return value
    head = value.lstrip(" ")
    if head.startswith(FORMULA_PREFIXES) and not _NUMBER_RE.match(head.strip()):
        return "'" + value
    return value


def neutralise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` in which every text cell and column name is :func:`neutralise_csv_value`-safe."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise_csv_value)
    out.columns = [neutralise_csv_value(str(c)) for c in out.columns]
    return out
