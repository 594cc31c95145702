"""Database access: models, engine and migrations."""

from observatory.db.models import Base
from observatory.db.session import get_engine, session_scope, upgrade_to_head

__all__ = ["Base", "get_engine", "session_scope", "upgrade_to_head"]
