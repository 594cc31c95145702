"""The protection notice of every public page, refreshed whenever the view state changes.

The shell (:func:`observatory.web.components.shell`) renders the policy sentence; this callback
adds the notices of the current query (what was snapped, dropped, withheld or perturbed), which
the access layer decides (``observatory.queries.access.public_notices``) and i18n translates.
"""

from __future__ import annotations

from dash import Input, Output

from observatory.web.components import protection_notice
from observatory.web.state import ViewState


def query_notices(state: ViewState, role: str) -> list[str]:
    """Catalogue keys of the notices for ``state``: the access layer's, then the map's own
    (a hotspot statistic withheld on the map page)."""
    from observatory.queries import access
    from observatory.web import data

    keys = list(access.public_notices(data.to_filters(state), role))
    withheld = data.hotspots_withheld(state, role)
    return [*keys, *([withheld] if withheld else [])]


def register(app) -> None:
    """Register the notice's callback on ``app`` (called by ``create_app`` for every app: Dash's
    global callback registry is emptied by the first app a process builds)."""
    app.callback(Output("protection-notice", "children"), Input("view-state", "data"))(_update_protection_notice)


def _update_protection_notice(state_dict):
    from observatory.web.layout import current_role

    state, role = ViewState.from_dict(state_dict), current_role()
    return protection_notice(state.lang, role, query_notices(state, role) if role == "public" else [])
