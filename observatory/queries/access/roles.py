"""Roles: who sees microdata (analysts and admins) and who sees only published figures (the public)."""

from __future__ import annotations

from observatory.config import disclosure_policy
from observatory.vocabulary import ACCOUNT_ROLES as RESTRICTED_ROLES
from observatory.vocabulary import ROLES

__all__ = ["RESTRICTED_ROLES", "ROLES", "can_see_points", "can_see_sensitive_points", "check_role", "is_restricted",
           "require_restricted", "threshold"]


def check_role(role: str) -> str:
    """Return ``role`` if it is known; raise ``ValueError`` otherwise (an unknown role gets nothing)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    return role


def is_restricted(role: str) -> bool:
    """True for roles that see microdata (analyst, admin)."""
    return check_role(role) in RESTRICTED_ROLES


def can_see_points(role: str) -> bool:
    """Incident points (coordinates of single incidents) are for analysts and admins only."""
    return is_restricted(role)


def can_see_sensitive_points(role: str) -> bool:
    """Points of sexual and domestic violence: analysts and admins only (never the public)."""
    return is_restricted(role)


def require_restricted(role: str, what: str) -> None:
    """Raise ``PermissionError`` unless ``role`` is an analyst or admin."""
    if not is_restricted(role):
        raise PermissionError(f"{what} are restricted to analysts and admins")


def threshold(role: str) -> int:
    """Smallest count shown to ``role``: ``k`` for the public, 0 (no suppression) otherwise."""
    return 0 if is_restricted(role) else disclosure_policy().k
