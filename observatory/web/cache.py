"""Per-filter-set response cache (flask-caching) invalidated by every new import.

The cache key of a cached function includes ``queries.data_version(engine)``, which changes
whenever an import batch finishes, so a new import never serves stale figures. The backend
is ``SimpleCache`` (per process) unless ``OBSERVATORY_CACHE_DIR`` names a folder, then a
``FileSystemCache`` shared by every gunicorn worker; ``OBSERVATORY_CACHE=null`` disables it.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
from collections.abc import Callable
from typing import Any

from flask_caching import Cache

cache = Cache()
_ENABLED = {"on": False}


def cache_config() -> dict[str, Any]:
    """flask-caching settings from the environment (see the module docstring)."""
    kind = os.environ.get("OBSERVATORY_CACHE", "")
    timeout = int(os.environ.get("OBSERVATORY_CACHE_TIMEOUT", "3600"))
    if kind == "null":
        return {"CACHE_TYPE": "NullCache", "CACHE_NO_NULL_WARNING": True}
    folder = os.environ.get("OBSERVATORY_CACHE_DIR")
    if folder:
        return {"CACHE_TYPE": "FileSystemCache", "CACHE_DIR": folder, "CACHE_DEFAULT_TIMEOUT": timeout,
                "CACHE_THRESHOLD": 2000}
    return {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": timeout, "CACHE_THRESHOLD": 500}


def init_cache(server) -> None:
    """Attach the cache to the Flask ``server``."""
    cache.init_app(server, config=cache_config())
    _ENABLED["on"] = True


def make_key(name: str, version: object, *parts: object) -> str:
    """A short stable key for ``name`` with the data ``version`` and JSON-able ``parts``."""
    raw = json.dumps([name, version, *parts], sort_keys=True, default=str)
    return "obs:" + hashlib.sha1(raw.encode()).hexdigest()


def cached(version: Callable[[], object]) -> Callable:
    """Decorator: memoise a function of JSON-able arguments under the current data ``version()``.

    Outside a Flask app (unit tests, bench) the function just runs.
    """

    def decorator(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not _ENABLED["on"]:
                return fn(*args, **kwargs)
            key = make_key(fn.__module__ + "." + fn.__qualname__, version(), args, kwargs)
            try:
                hit = cache.get(key)
            except RuntimeError:  # no application context
                return fn(*args, **kwargs)
            if hit is not None:
                return hit
            value = fn(*args, **kwargs)
            cache.set(key, value)
            return value

        return wrapper

    return decorator
