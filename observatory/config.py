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
