"""Page assembly: a page's content inside the shared shell, with the filter choices and banner.

Kept apart from ``components`` (pure Dash building blocks) because it reads the filter options
and the demo marker through ``observatory.web.data``.
"""

from __future__ import annotations

from observatory.web import data
from observatory.web.components import shell
from observatory.web.state import ViewState


def page(page_key: str, state: ViewState, content, role: str | None = None):
    """``content`` of page ``page_key`` wrapped in the shell for ``state``."""
    return shell(page_key, state, content, data.filter_options(state.lang), demo=data.is_demo(),
                 role=role or current_role())


def current_role() -> str:
    """The viewer's role from the login session: ``public`` (no login), ``analyst`` or ``admin``.

    Delegates to :func:`observatory.web.auth.current_role` (sessions, CSRF on callback POSTs);
    the query layer enforces what the public may see whatever the UI asks for.
    """
    from observatory.web.auth import current_role as session_role

    return session_role()
