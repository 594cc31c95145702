"""Run the observatory dashboard: ``python app.py`` (or ``gunicorn app:server``).

Upgrades the database to the newest migration, builds the synthetic demo city when the
database holds no incidents yet, and serves on ``OBSERVATORY_HOST``:``OBSERVATORY_PORT``
(127.0.0.1:8050 by default).
"""

from __future__ import annotations

import fcntl
import os

from sqlalchemy import func, select

from observatory.config import PROJECT_ROOT, database_url
from observatory.db.models import Incident
from observatory.db.session import get_engine, upgrade_to_head
from observatory.web.app import create_app
from observatory.web.data import warm_areas, warm_incident_cube


def prepare_database(url: str | None = None) -> None:
    """Migrate ``url`` to head and load the demo city if it has no incidents."""
    url = url or database_url()
    lock_path = PROJECT_ROOT / "data" / ".prepare.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    # Several gunicorn workers import this module at once: one migrates and builds the demo, the
    # others wait and then find the work done.
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        upgrade_to_head(url)
        engine = get_engine(url)
        with engine.connect() as conn:
            empty = conn.execute(select(func.count()).select_from(Incident)).scalar_one() == 0
        if empty and os.environ.get("OBSERVATORY_NO_DEMO") != "1":
            from observatory.demo import build_demo

            build_demo(engine)


prepare_database()
app = create_app()
server = app.server
# Areas, weights and GeoJSON now (about 1 s); the incident cube in a background thread.
warm_areas()
warm_incident_cube()

if __name__ == "__main__":
    app.run(host=os.environ.get("OBSERVATORY_HOST", "127.0.0.1"), port=int(os.environ.get("OBSERVATORY_PORT", "8050")),
            debug=False)
