"""Drive the dashboard in real headless Chromium (Debian ``chromium`` + ``chromedriver``).

The app runs in a subprocess (``python -m observatory.web.serve``-like one-liner) so each
database gets a fresh Dash process; Selenium (pinned by ``dash[testing]``) drives the browser.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO_ROOT / "tests" / "artifacts"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage",
                "--window-size=1400,1000")
SERVE = ("import sys; from observatory.web.app import create_app; "
         "create_app(sys.argv[1]).run(host='127.0.0.1', port=int(sys.argv[2]), debug=False)")


def browser_available() -> tuple[str, str] | None:
    """Paths of chromium and chromedriver, or None."""
    chrome = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return (chrome, driver) if chrome and driver else None


def require_browser() -> tuple[str, str]:
    """Skip (or fail under CI) when headless Chromium is not installed."""
    found = browser_available()
    if found is None:
        message = "browser tests need chromium and chromedriver (apt-get install chromium chromium-driver)"
        if os.environ.get("OBSERVATORY_REQUIRE_SHARED") == "1":
            pytest.fail(message)
        pytest.skip(message)
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def serve(database_url: str, env: dict | None = None, log_path: Path | None = None) -> Iterator[str]:
    """Run the dashboard on a free port for ``database_url``; yields its base URL."""
    port = free_port()
    log_path = log_path or ARTIFACTS / f"server-{port}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OBSERVATORY_DATABASE_URL": database_url,
                   **(env or {})}
    with open(log_path, "w") as log:
        proc = subprocess.Popen([sys.executable, "-c", SERVE, database_url, str(port)], cwd=REPO_ROOT,
                                env=environment, stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.time() + 60
            while time.time() < deadline:
                if proc.poll() is not None:
                    raise RuntimeError(f"dashboard exited early: {log_path.read_text()[-3000:]}")
                with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
                time.sleep(0.2)
            else:
                raise RuntimeError("dashboard did not start within 60 s")
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()


def make_driver(download_dir: Path | None = None):
    """A headless Chromium WebDriver that keeps browser console logs."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chrome, driver_path = require_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = chrome
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    if download_dir is not None:
        options.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                                  "download.prompt_for_download": False})
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    if download_dir is not None:
        driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    return driver


def severe_logs(driver) -> list[str]:
    """SEVERE browser console messages since the last call (favicon misses ignored)."""
    return [entry["message"] for entry in driver.get_log("browser")
            if entry["level"] == "SEVERE" and "favicon" not in entry["message"]]


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.25, what: str = "condition"):
    """Poll ``predicate()`` until truthy; returns its value or raises ``TimeoutError``."""
    deadline = time.time() + timeout
    last_error = None
    while time.time() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as exc:
            last_error = exc
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what} ({last_error})")


def dash_idle(driver) -> bool:
    """True when no Dash callback is pending and no loading spinner shows."""
    return driver.execute_script(
        "return !document.querySelector('[data-dash-is-loading=\"true\"]') && "
        "!document.querySelector('._dash-loading') && "
        "(document.querySelector('#_pages_content') !== null || document.readyState === 'complete');"
    )


def settle(driver, timeout: float = 40.0) -> None:
    """Wait for the page to render and for Dash to go idle (twice in a row, 0.5 s apart)."""
    wait_until(lambda: driver.execute_script("return document.querySelector('.obs-root') !== null"), timeout,
               what="page shell")
    def stable() -> bool:
        if not dash_idle(driver):
            return False
        time.sleep(0.5)
        return dash_idle(driver)
    wait_until(stable, timeout, what="Dash idle")


def figure_data(driver, graph_id: str) -> list:
    """The traces Plotly drew in ``#graph_id`` (empty list when not drawn).

    Read from ``_fullData``: Plotly decodes the base64 typed arrays of the JSON there.
    """
    return driver.execute_script(
        "const el = document.querySelector('#' + arguments[0] + ' .js-plotly-plot');"
        "const arr = v => (v === undefined || v === null) ? null : Array.from(v).flat();"
        "return el && el._fullData ? el._fullData.map(t => ({type: t.type, name: t.name || null, "
        "n: (arr(t.locations) || arr(t.x) || arr(t.lon) || []).length, "
        "y: (t.y ? arr(t.y).slice(-48) : null), text: (t.text && typeof t.text !== 'string' ? "
        "arr(t.text).slice(0, 400) : null), z: (t.z ? arr(t.z).slice(0, 400) : null)})) : [];",
        graph_id,
    )


def migrated_sqlite(folder: Path, name: str) -> str:
    """URL of a new SQLite file in ``folder``, migrated to the newest schema (one per served site)."""
    import uuid

    from observatory.db.session import upgrade_to_head

    url = f"sqlite:///{folder / f'{name}-{uuid.uuid4().hex[:6]}.db'}"
    upgrade_to_head(url)
    return url

