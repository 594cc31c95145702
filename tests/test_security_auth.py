"""Attacks on accounts replayed on loopback (issue 9, "Accounts and uploads").

- a session cookie copied before logout is worthless after it, in every worker;
- ``next=`` cannot turn the login page into an open redirect (a list of known payloads);
- guesses are throttled per (user, address) with exponential backoff, atomically: however many
  run in parallel (threads, or gunicorn worker processes) at most the free number get through,
  and the attacker's address does not lock the real user out;
- the ``Secure`` cookie flag follows the deployment.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import http.client
import http.cookies
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
from sqlalchemy import select

from observatory import auth, sessions
from observatory.db.models import LoginAttempt, UserSession
from observatory.db.session import get_engine
from observatory.web import auth as web_auth
from tests.conftest import REPO_ROOT
from tests.test_auth_web import PASSWORD, form_token, login, make_server


@pytest.fixture
def server(db_url):
    auth.add_user("ana", PASSWORD, "analyst", engine=get_engine(db_url))
    return make_server(db_url)


def whoami(client) -> str:
    return client.get("/whoami").get_data(as_text=True)


# --- logout -------------------------------------------------------------------------------------


def test_a_copied_cookie_is_worthless_after_logout(server):
    victim = server.test_client()
    assert login(victim).status_code == 303
    stolen = victim.get_cookie("observatory_session").value
    thief = server.test_client()
    thief.set_cookie("observatory_session", stolen)
    assert whoami(thief) == "analyst:ana"  # the copy works while the session is open (the threat)
    assert victim.post("/logout", data={"csrf_token": form_token(victim, "/logout")}).status_code == 303
    assert whoami(victim) == "public:-"
    for _ in range(3):
        assert whoami(thief) == "public:-"
    engine = get_engine(server.config["OBSERVATORY_DATABASE_URL"])
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM user_sessions").scalar_one() == 0


def test_sessions_are_stored_as_digests_and_expire(server):
    client = server.test_client()
    login(client)
    engine = get_engine(server.config["OBSERVATORY_DATABASE_URL"])
    with engine.connect() as conn:
        digest, created, expires = conn.execute(
            select(UserSession.token_hash, UserSession.created_at, UserSession.expires_at)).one()
    # The cookie's token is not in the database, only its SHA-256.
    serializer = server.session_interface.get_signing_serializer(server)
    token = serializer.loads(client.get_cookie("observatory_session").value)["sid"]
    assert digest == sessions.token_digest(token) and token not in digest
    assert abs((expires - created) - dt.timedelta(hours=8)) < dt.timedelta(seconds=1)
    later = expires + dt.timedelta(seconds=1)
    assert sessions.session_user(token, engine=engine, now=later) is None
    assert sessions.session_user(token, engine=engine).username == "ana"


def test_password_change_ends_other_sessions_at_once(server):
    engine = get_engine(server.config["OBSERVATORY_DATABASE_URL"])
    first, second = server.test_client(), server.test_client()
    login(first)
    login(second)
    auth.set_password("ana", "another long secret", engine=engine)
    assert whoami(first) == "public:-" and whoami(second) == "public:-"
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM user_sessions").scalar_one() == 0


# --- open redirect ------------------------------------------------------------------------------

OPEN_REDIRECTS = [
    "//evil.example", "///evil.example", "////evil.example", "/\\evil.example", "\\\\evil.example",
    "\\/evil.example", "/\\/evil.example", "/%09/evil.example", "/%0a/evil.example", "/%0d/evil.example",
    "/%0D%0A/evil.example", "/\t/evil.example", "/\n/evil.example", "\t//evil.example", " //evil.example",
    "/%2f/evil.example", "/%2F%2Fevil.example", "%2F%2Fevil.example", "/%5cevil.example", "/%5C%5Cevil.example",
    "%5c%5cevil.example", "/%252f%252fevil.example", "/%25252f/evil.example", "https://evil.example",
    "http:evil.example", "https:/evil.example", "http:\\\\evil.example", "HTTPS://evil.example",
    "//evil.example/%2e%2e",
    "javascript:alert(1)", "JaVaScRiPt:alert(1)", "java%0ascript:alert(1)", "data:text/html,<script>x</script>",
    "evil.example", "@evil.example", "/%00/evil.example", "/\x00/evil.example", "/%e2%80%a8/evil.example",
    "/\u2028/evil.example", "/\u200b/evil.example", "/%7f/evil.example",
]


@pytest.mark.parametrize("target", OPEN_REDIRECTS)
def test_known_open_redirect_payloads_go_home(sqlite_url, target):
    auth.add_user("ana", PASSWORD, "analyst", engine=get_engine(sqlite_url))
    resp = login(make_server(sqlite_url).test_client(), next_url=target)
    assert resp.status_code == 303
    location = resp.headers["Location"]
    assert location in ("/", "http://localhost/")
    # Resolved the way a browser resolves it (tabs and newlines dropped first): still this site.
    cleaned = re.sub(r"[\t\r\n]", "", location)
    assert urllib.parse.urlsplit(urllib.parse.urljoin("http://localhost/login", cleaned)).netloc == "localhost"


@pytest.mark.parametrize("target", ["/mapa?cat=homicide", "/analista?cat=robbery&from=2024-01-01",
                                    "/barrio?name=Pe%C3%B1%C3%B3n", "/", "/tendencias#top", "/a%20b"])
def test_paths_on_this_site_are_kept(target):
    assert web_auth._safe_next(target) == target


# --- throttle -----------------------------------------------------------------------------------


def _row(engine, scope: str = "user") -> tuple:
    with engine.connect() as conn:
        return conn.execute(select(LoginAttempt.failures, LoginAttempt.blocked_until)
                            .where(LoginAttempt.scope == scope)).one()


def test_backoff_schedule(db_url):
    """After the n-th failure the next attempt waits 0 (n < 5), then 30 s * 2**(n-5), at most 15 min."""
    engine = get_engine(db_url)
    now = dt.datetime(2026, 1, 5, 9, 0, 0)
    hand = [0, 0, 0, 0, 30, 60, 120, 240, 480, 900, 900]  # seconds, written out by hand
    for n, expected in enumerate(hand, start=1):
        assert sessions.reserve_attempt("ana", "10.0.0.1", engine=engine, base_s=30, now=now) == 0.0
        failures, blocked_until = _row(engine)
        assert failures == n and (blocked_until - now).total_seconds() == expected if expected else \
            (failures, blocked_until) == (n, None)
        if expected:
            # One second early: refused, told how long is left, and not counted.
            early = now + dt.timedelta(seconds=expected - 1)
            assert sessions.reserve_attempt("ana", "10.0.0.1", engine=engine, base_s=30, now=early) == 1.0
            assert _row(engine)[0] == n
        now += dt.timedelta(seconds=expected)
    # An hour without failures forgets them: the next attempt is the first again.
    now += sessions.FORGET_AFTER + dt.timedelta(seconds=1)
    assert sessions.reserve_attempt("ana", "10.0.0.1", engine=engine, base_s=30, now=now) == 0.0
    assert _row(engine)[0] == 1
    # A right password clears the count of that name from that address.
    sessions.attempt_succeeded("ana", "10.0.0.1", engine=engine, now=now)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM login_attempts WHERE scope = 'user'").scalar_one() == 0


def test_successful_logins_are_not_held_against_an_address(db_url):
    engine = get_engine(db_url)
    now = dt.datetime(2026, 1, 5, 9, 0, 0)
    for i in range(3 * sessions.ADDRESS_FREE_FAILURES):  # a busy office behind one address
        name = f"analyst{i % 7}"
        assert sessions.reserve_attempt(name, "192.0.2.7", engine=engine, base_s=30, now=now) == 0.0
        sessions.attempt_succeeded(name, "192.0.2.7", engine=engine, now=now)
    with engine.connect() as conn:
        left = conn.exec_driver_sql("SELECT failures FROM login_attempts WHERE scope = 'address'").scalar_one()
    assert left == 0
    # Rows an hour old are cleared at the next successful login (guessed names do not pile up).
    for i in range(30):
        sessions.reserve_attempt(f"guess{i}", "192.0.2.8", engine=engine, base_s=30, now=now)
    later = now + sessions.FORGET_AFTER + dt.timedelta(seconds=1)
    sessions.reserve_attempt("analyst0", "192.0.2.7", engine=engine, base_s=30, now=later)
    sessions.attempt_succeeded("analyst0", "192.0.2.7", engine=engine, now=later)
    with engine.connect() as conn:
        rows = conn.execute(select(LoginAttempt.scope, LoginAttempt.username, LoginAttempt.ip)).all()
    assert [tuple(r) for r in rows] == [("address", "", "192.0.2.7")]


def _guess(server, address: str, barrier: threading.Barrier) -> int:
    client = server.test_client()
    token = form_token(client)
    barrier.wait(timeout=60)
    resp = client.post("/login", data={"csrf_token": token, "username": "ana", "password": "wrong guess here"},
                       environ_base={"REMOTE_ADDR": address})
    return resp.status_code


def test_parallel_guesses_cannot_share_free_attempts(server, monkeypatch):
    """16 guesses released together from one address: exactly the 5 free ones reach the password check."""
    monkeypatch.setenv("OBSERVATORY_LOGIN_BACKOFF_S", "600")  # no wait can end during the burst
    n = 16
    barrier = threading.Barrier(n)
    with concurrent.futures.ThreadPoolExecutor(n) as pool:
        codes = list(pool.map(lambda _: _guess(server, "203.0.113.9", barrier), range(n)))
    assert sorted(codes) == [401] * web_auth.USER_FAILURES_LIMIT + [429] * (n - web_auth.USER_FAILURES_LIMIT), codes
    # The real user, from her own address, is not locked out by the attacker's guesses.
    real = server.test_client()
    resp = real.post("/login", data={"csrf_token": form_token(real), "username": "ana", "password": PASSWORD},
                     environ_base={"REMOTE_ADDR": "198.51.100.4"})
    assert resp.status_code == 303 and whoami(real) == "analyst:ana"
    # The attacker is still waiting, with the right password too.
    again = server.test_client()
    resp = again.post("/login", data={"csrf_token": form_token(again), "username": "ana", "password": PASSWORD},
                      environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert resp.status_code == 429 and 500 < int(resp.headers["Retry-After"]) <= 600


# --- Secure cookie flag -------------------------------------------------------------------------


def _cookie_flags(resp) -> dict[str, bool]:
    out = {}
    for header in resp.headers.getlist("Set-Cookie"):
        name = header.split("=", 1)[0]
        out[name] = "; secure" in header.lower()
    return out


@pytest.mark.parametrize(("setting", "https", "secure"), [
    (None, False, False), (None, True, True), ("auto", True, True), ("1", False, True), ("true", False, True),
    ("0", True, False), ("off", True, False),
])
def test_secure_flag_follows_the_deployment(sqlite_url, monkeypatch, setting, https, secure):
    if setting is None:
        monkeypatch.delenv("OBSERVATORY_SECURE_COOKIES", raising=False)
    else:
        monkeypatch.setenv("OBSERVATORY_SECURE_COOKIES", setting)
    auth.add_user("ana", PASSWORD, "analyst", engine=get_engine(sqlite_url))
    client = make_server(sqlite_url).test_client()
    base = "https://localhost" if https else "http://localhost"
    page = client.get("/login", base_url=base).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = client.post("/login", base_url=base, data={"csrf_token": token, "username": "ana", "password": PASSWORD})
    assert resp.status_code == 303
    flags = _cookie_flags(resp)
    assert flags == {"observatory_session": secure, "_csrf_token": secure}


def test_secure_flag_behind_a_tls_proxy(sqlite_url, monkeypatch):
    monkeypatch.delenv("OBSERVATORY_SECURE_COOKIES", raising=False)
    monkeypatch.setenv("OBSERVATORY_PROXY_HOPS", "1")
    client = make_server(sqlite_url).test_client()
    proxied = client.get("/login", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "198.51.100.1"})
    assert _cookie_flags(proxied) == {"observatory_session": True}
    plain = make_server(sqlite_url).test_client().get("/login")
    assert _cookie_flags(plain) == {"observatory_session": False}


def test_a_misspelt_setting_is_refused(monkeypatch):
    monkeypatch.setenv("OBSERVATORY_SECURE_COOKIES", "yes please")
    from observatory import config

    with pytest.raises(ValueError, match="OBSERVATORY_SECURE_COOKIES"):
        config.secure_cookies()


# --- the same attacks on a real server: gunicorn, 3 worker processes, loopback ----------------------


def gunicorn_app():
    """The app gunicorn serves in the tests below (login, logout, /whoami on the shared database)."""
    return make_server(os.environ["OBSERVATORY_DATABASE_URL"])


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def live(db_url, tmp_path):
    auth.add_user("ana", PASSWORD, "analyst", engine=get_engine(db_url))
    port = _free_port()
    env = dict(os.environ, OBSERVATORY_DATABASE_URL=db_url, OBSERVATORY_LOGIN_BACKOFF_S="600",
               OBSERVATORY_SECRET_KEY="s" * 48, PYTHONPATH=str(REPO_ROOT))
    log = open(tmp_path / "gunicorn.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "3", "--threads", "2", "-b", f"127.0.0.1:{port}",
                             "--timeout", "60", "tests.test_security_auth:gunicorn_app()"],
                            cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _request(port, "GET", "/health")[0] == 200:
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start: {Path(tmp_path / 'gunicorn.log').read_text()[-2000:]}")
            time.sleep(0.3)
        yield port
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        log.close()


def _request(port: int, method: str, path: str, *, body: str | None = None, cookies: dict | None = None,
             source: str = "127.0.0.1") -> tuple[int, str, dict]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60, source_address=(source, 0))
    headers = {"Connection": "close"}
    if cookies:
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in cookies.items())
    if body is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    text = resp.read().decode()
    jar = http.cookies.SimpleCookie()
    for header in resp.headers.get_all("Set-Cookie") or []:
        jar.load(header)
    conn.close()
    return resp.status, text, {k: m.value for k, m in jar.items()}


def _live_login(port: int, password: str, source: str = "127.0.0.1") -> tuple[int, dict]:
    status, page, cookies = _request(port, "GET", "/login", source=source)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrf_token": token, "username": "ana", "password": password, "next": "/"})
    status, _, more = _request(port, "POST", "/login", body=body, cookies=cookies, source=source)
    return status, {**cookies, **more}


def test_real_server_parallel_guesses_and_logout(live):
    port = live
    # 18 guesses at once from one address, spread over 3 processes: only the 5 free ones are checked.
    with concurrent.futures.ThreadPoolExecutor(18) as pool:
        codes = list(pool.map(lambda _: _live_login(port, "wrong guess here")[0], range(18)))
    assert sorted(codes) == [401] * 5 + [429] * 13, codes
    # The real user from another loopback address logs in; her cookie works in every worker ...
    status, cookies = _live_login(port, PASSWORD, source="127.0.0.2")
    assert status == 303
    session_only = {"observatory_session": cookies["observatory_session"]}
    assert {_request(port, "GET", "/whoami", cookies=session_only)[1] for _ in range(9)} == {"analyst:ana"}
    # ... she logs out (whichever worker answers), and a copy of the cookie is dead in every worker.
    _, page, _ = _request(port, "GET", "/logout", cookies=cookies)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    status, _, _ = _request(port, "POST", "/logout", body=urllib.parse.urlencode({"csrf_token": token}),
                            cookies=cookies)
    assert status == 303
    assert {_request(port, "GET", "/whoami", cookies=session_only)[1] for _ in range(9)} == {"public:-"}
