"""Settings read from the environment, with defaults for a laptop install."""

from __future__ import annotations

import os
from dataclasses import dataclass
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


# --- disclosure control (issue 9; docs/disclosure.md explains every parameter) ----------------------

_PERIOD_UNITS = ("month", "quarter", "year")


@dataclass(frozen=True)
class DisclosurePolicy:
    """What the public may see: the parameters of ``observatory.queries.access``.

    - ``k``: published counts below ``k`` are shown as NA (``OBSERVATORY_SUPPRESSION_K``, 5).
    - ``max_noise``: D, the largest perturbation of a count (``OBSERVATORY_NOISE_D``, 2).
    - ``public_unit``: period every public window snaps outward to (``OBSERVATORY_PUBLIC_UNIT``, month).
    - ``sensitive_unit``: the coarser period of sexual and domestic violence (``OBSERVATORY_SENSITIVE_UNIT``,
      quarter); ``sensitive_levels``: the area levels they are published at
      (``OBSERVATORY_SENSITIVE_LEVELS``, "district,city").
    - ``key_salt``: mixes each incident's noise key (``OBSERVATORY_NOISE_SALT``); a deployment sets its own
      and keeps it private, so nobody can compute the keys from the incident ids.
    - ``public_windows``: ``free`` (any run of whole periods) or ``calendar`` (one calendar month, quarter
      or year, or whole years: the stricter option against averaging windows) (``OBSERVATORY_PUBLIC_WINDOWS``).
    """

    k: int = 5
    max_noise: int = 2
    public_unit: str = "month"
    sensitive_unit: str = "quarter"
    sensitive_levels: tuple[str, ...] = ("district", "city")
    key_salt: int = 0x5EED_C0DE
    public_windows: str = "free"

    def __post_init__(self) -> None:
        if self.public_windows not in ("free", "calendar"):
            raise ValueError(f"disclosure policy: public_windows is free or calendar, got {self.public_windows!r}")
        for name in ("public_unit", "sensitive_unit"):
            if getattr(self, name) not in _PERIOD_UNITS:
                value = getattr(self, name)
                raise ValueError(f"disclosure policy: {name} must be one of {_PERIOD_UNITS}, got {value!r}")
        if _PERIOD_UNITS.index(self.sensitive_unit) < _PERIOD_UNITS.index(self.public_unit):
            raise ValueError("disclosure policy: the sensitive unit cannot be finer than the public unit")
        if not 0 <= self.max_noise <= 10 or self.k < 0:
            raise ValueError(f"disclosure policy: need 0 <= max_noise <= 10 and k >= 0, got {self.max_noise}, {self.k}")
        if not set(self.sensitive_levels) <= {"district", "city"}:
            raise ValueError(f"disclosure policy: sensitive levels are district and/or city, "
                             f"got {self.sensitive_levels}")


def disclosure_policy() -> DisclosurePolicy:
    """The disclosure policy in force, read from the environment (see :class:`DisclosurePolicy`)."""
    env = os.environ
    levels = env.get("OBSERVATORY_SENSITIVE_LEVELS", "district,city")
    return DisclosurePolicy(
        k=suppression_threshold(), max_noise=int(env.get("OBSERVATORY_NOISE_D", "2")),
        public_unit=env.get("OBSERVATORY_PUBLIC_UNIT", "month").strip().lower(),
        sensitive_unit=env.get("OBSERVATORY_SENSITIVE_UNIT", "quarter").strip().lower(),
        sensitive_levels=tuple(v.strip().lower() for v in levels.split(",") if v.strip()),
        key_salt=int(env.get("OBSERVATORY_NOISE_SALT", str(0x5EED_C0DE))) % 4294967291,
        public_windows=env.get("OBSERVATORY_PUBLIC_WINDOWS", "free").strip().lower())
