"""Settings read from the environment, with defaults for a laptop install."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{PROJECT_ROOT / 'data' / 'observatory.db'}"


def database_url() -> str:
    """Return the SQLAlchemy URL of the observatory database.

    ``OBSERVATORY_DATABASE_URL`` wins; otherwise a SQLite file in ``data/``.
    """
    return os.environ.get("OBSERVATORY_DATABASE_URL", DEFAULT_DATABASE_URL)


def suppression_threshold() -> int:
    """Smallest count shown to the public (``OBSERVATORY_SUPPRESSION_K``, default 5)."""
    return int(os.environ.get("OBSERVATORY_SUPPRESSION_K", "5"))


def map_style() -> str:
    """MapLibre style for maps: ``white-bg`` (offline) unless ``OBSERVATORY_MAP_STYLE`` is set."""
    return os.environ.get("OBSERVATORY_MAP_STYLE", "white-bg")


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def secure_cookies() -> bool | None:
    """Whether cookies carry the ``Secure`` flag (``OBSERVATORY_SECURE_COOKIES``).

    ``1``/``true``: always (the site is only served over HTTPS); ``0``/``false``: never (plain
    HTTP on a laptop); unset or ``auto``: None, meaning "when the request came over HTTPS" (as
    Flask sees it: behind a proxy that needs ``OBSERVATORY_PROXY_HOPS`` so X-Forwarded-Proto counts).
    """
    value = os.environ.get("OBSERVATORY_SECURE_COOKIES", "auto").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    if value in ("", "auto"):
        return None
    raise ValueError(f"OBSERVATORY_SECURE_COOKIES={value!r}: use 1 (always), 0 (never) or auto (follow HTTPS)")


def session_hours() -> float:
    """How long a login lasts without a new login (``OBSERVATORY_SESSION_HOURS``, default 8)."""
    return float(os.environ.get("OBSERVATORY_SESSION_HOURS", "8"))


def login_backoff_seconds() -> float:
    """First wait after too many failed logins (``OBSERVATORY_LOGIN_BACKOFF_S``, default 30); it doubles
    with each further failure, up to 15 minutes."""
    return float(os.environ.get("OBSERVATORY_LOGIN_BACKOFF_S", "30"))
