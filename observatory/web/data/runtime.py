"""Per-process runtime of the dashboard's data layer: the configured database, its data version,
per-version memos and the per-callback shared scope."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

from observatory.db.session import get_engine
from observatory.web.state import ViewState

_CONF: dict[str, Any] = {"url": None}
_LOCAL: dict[tuple, Any] = {}
_LOCK = threading.Lock()


def configure(database_url: str | None) -> None:
    """Point the dashboard at ``database_url`` (None = ``config.database_url()``)."""
    _CONF["url"] = database_url
    _LOCAL.clear()


def engine():
    """The engine of the configured database."""
    return get_engine(_CONF["url"])


def version() -> str:
    """Data version: changes whenever an import finishes (cache invalidation).

    Read once per callback: inside a :func:`shared_scope` the first read is kept for the rest of
    the block (every cached panel of a callback asks for it; a warm overview asked 11 times).
    """
    from observatory import queries

    scope = _SCOPE.get()
    key = ("__version__", _CONF["url"])
    if scope is not None and key in scope:
        return scope[key]
    # The URL is part of the key: one process may serve (or test) several databases.
    value = f"{engine().url!r}|{queries.data_version(engine())}"
    if scope is not None:
        scope[key] = value
    return value


def _memo(key: tuple, build):
    """Per-process memo of heavy, filter-independent objects (areas, weights) per data version."""
    full = (_CONF["url"], version(), *key)
    with _LOCK:
        if full in _LOCAL:
            return _LOCAL[full]
    value = build()
    with _LOCK:
        if len(_LOCAL) > 32:
            _LOCAL.clear()
        _LOCAL[full] = value
    return value


_SCOPE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("observatory_data_scope", default=None)


@contextlib.contextmanager
def shared_scope() -> Iterator[None]:
    """Within this block, data functions compute each shared aggregate once.

    A callback fills several panels from the same filter set (the overview's KPIs and map
    both need the area totals; the trends' monthly series and category breakdown the same
    month x category table). Opening a scope around the callback lets them share it; the
    memo lives only as long as the block (nested scopes reuse the outer one), so it never
    serves data from an earlier request.
    """
    from observatory.queries import cube

    token = _SCOPE.set({}) if _SCOPE.get() is None else None
    try:
        with cube.pinned():  # the block's aggregates read one state of the incidents
            yield
    finally:
        if token is not None:
            _SCOPE.reset(token)


def sharing(fn: Callable) -> Callable:
    """Decorator: run ``fn`` (a callback's body) inside a :func:`shared_scope`."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with shared_scope():
            return fn(*args, **kwargs)

    return wrapper


def _shared(name: str, state_json: dict, role: str, build: Callable[[], Any]) -> Any:
    """``build()``, computed once per open :func:`shared_scope` for (name, state, role)."""
    scope = _SCOPE.get()
    if scope is None:
        return build()
    key = (_CONF["url"], name, json.dumps(state_json, sort_keys=True, default=str), role)
    if key not in scope:
        scope[key] = build()
    return scope[key]


def _key(state: ViewState) -> dict:
    """The cache key part of a view state: language and presentation do not change data."""
    data = state.to_dict()
    for name in ("lang", "present", "layer", "area"):
        data.pop(name)
    return data
