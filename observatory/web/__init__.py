"""The dashboard: ``create_app`` in :mod:`observatory.web.app`, one module per page in ``pages/``."""
