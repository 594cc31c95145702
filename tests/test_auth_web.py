"""Login, logout, sessions, CSRF, rate limit and /health on the Flask server (observatory.web.auth)."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from observatory import audit, auth
from observatory.db.session import get_engine
from observatory.web import auth as web_auth

PASSWORD = "a long enough secret"


def make_server(url: str) -> Flask:
    server = Flask("test")
    server.secret_key = "test-secret-key-of-sufficient-length-0123456789"
    web_auth.init_auth(server, url)

    @server.route("/whoami", methods=["GET", "POST"])
    def whoami():
        return f"{web_auth.current_role()}:{web_auth.current_user() or '-'}"

    @server.route("/admin-only")
    @web_auth.require_role("admin")
    def admin_only():
        return "secret"

    return server


@pytest.fixture
def server(db_url):
    auth.add_user("ana", PASSWORD, "analyst", engine=get_engine(db_url))
    return make_server(db_url)


def form_token(client, path: str = "/login") -> str:
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def login(client, username: str = "ana", password: str = PASSWORD, next_url: str = "/"):
    return client.post("/login", data={"csrf_token": form_token(client), "username": username,
                                       "password": password, "next": next_url})


def test_public_by_default(server):
    client = server.test_client()
    assert client.get("/whoami").get_data(as_text=True) == "public:-"
    assert client.get("/admin-only").status_code == 403
    page = client.get("/login")
    assert page.status_code == 200 and 'type="password"' in page.get_data(as_text=True)
    assert page.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_login_sets_a_safe_session_cookie_and_role(server):
    client = server.test_client()
    resp = login(client, next_url="/mapa?cat=homicide")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/mapa?cat=homicide")
    cookies = "\n".join(resp.headers.getlist("Set-Cookie"))
    session_cookie = next(c for c in resp.headers.getlist("Set-Cookie") if c.startswith("observatory_session="))
    assert "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    assert "_csrf_token=" in cookies  # for Dash's X-CSRFToken header
    assert client.get("/whoami").get_data(as_text=True) == "analyst:ana"
    assert client.get("/whoami").headers["Cache-Control"] == "no-store"
    events = audit.list_events(get_engine(server.config["OBSERVATORY_DATABASE_URL"]), action="login")
    assert list(events["user_name"]) == ["ana"]


def test_callback_posts_need_the_csrf_header(server):
    client = server.test_client()
    login(client)
    token = client.get_cookie("_csrf_token").value
    # A cross-site POST carries the session cookie but cannot read the token: served as public.
    assert client.post("/whoami").get_data(as_text=True) == "public:-"
    assert client.post("/whoami", headers={"X-CSRFToken": "forged"}).get_data(as_text=True) == "public:-"
    assert client.post("/whoami", headers={"X-CSRFToken": token}).get_data(as_text=True) == "analyst:ana"


def test_login_form_needs_its_csrf_token(server):
    client = server.test_client()
    client.get("/login")
    resp = client.post("/login", data={"username": "ana", "password": PASSWORD})
    assert resp.status_code == 400
    assert client.get("/whoami").get_data(as_text=True) == "public:-"


def test_wrong_password_is_refused_and_audited(server):
    client = server.test_client()
    resp = login(client, password="not the password")
    assert resp.status_code == 401 and "incorrect" in resp.get_data(as_text=True)
    assert client.get("/whoami").get_data(as_text=True) == "public:-"
    failed = audit.list_events(get_engine(server.config["OBSERVATORY_DATABASE_URL"]), action="login_failed")
    assert list(failed["user_name"]) == ["ana"] and failed["detail"].iloc[0]["ip"] == "127.0.0.1"


def test_failed_logins_are_rate_limited(server):
    client = server.test_client()
    for _ in range(web_auth.USER_FAILURES_LIMIT):
        assert login(client, password="guess guess guess").status_code == 401
    blocked = login(client)  # even the right password is refused while blocked
    assert blocked.status_code == 429
    assert client.get("/whoami").get_data(as_text=True) == "public:-"
    # The limit is per user name: another account from another address still works.
    auth.add_user("bea", PASSWORD, engine=get_engine(server.config["OBSERVATORY_DATABASE_URL"]))
    other = server.test_client()
    resp = other.post("/login", data={"csrf_token": form_token(other), "username": "bea", "password": PASSWORD},
                      environ_base={"REMOTE_ADDR": "10.1.1.1"})
    assert resp.status_code == 303


def test_failed_logins_are_limited_per_address(server):
    client = server.test_client()
    for i in range(web_auth.IP_FAILURES_LIMIT):  # one guess at each of many names from one address
        resp = client.post("/login", data={"csrf_token": form_token(client), "username": f"user{i}",
                                           "password": "guess guess guess"}, environ_base={"REMOTE_ADDR": "10.9.9.9"})
        assert resp.status_code == 401
    resp = client.post("/login", data={"csrf_token": form_token(client), "username": "ana", "password": PASSWORD},
                       environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    elsewhere = server.test_client()  # the same user from another address is not affected
    assert login(elsewhere).status_code == 303


def test_password_change_and_removal_end_sessions(server):
    engine = get_engine(server.config["OBSERVATORY_DATABASE_URL"])
    client = server.test_client()
    login(client)
    assert client.get("/whoami").get_data(as_text=True) == "analyst:ana"
    auth.set_password("ana", "a brand new secret", engine=engine)
    assert client.get("/whoami").get_data(as_text=True) == "public:-"
    login(client, password="a brand new secret")
    assert client.get("/whoami").get_data(as_text=True) == "analyst:ana"
    auth.remove_user("ana", engine=engine)
    assert client.get("/whoami").get_data(as_text=True) == "public:-"


def test_logout_needs_post_with_token(server):
    client = server.test_client()
    login(client)
    client.post("/logout", data={})  # no token: refused, still logged in
    assert client.get("/whoami").get_data(as_text=True) == "analyst:ana"
    resp = client.post("/logout", data={"csrf_token": form_token(client, "/logout")})
    assert resp.status_code == 303
    assert client.get("/whoami").get_data(as_text=True) == "public:-"


def test_admin_route(server):
    auth.add_user("root1", PASSWORD, "admin", engine=get_engine(server.config["OBSERVATORY_DATABASE_URL"]))
    client = server.test_client()
    login(client, "root1")
    assert client.get("/admin-only").get_data(as_text=True) == "secret"


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:x"])
def test_no_open_redirect(server, target):
    resp = login(server.test_client(), next_url=target)
    assert resp.status_code == 303 and resp.headers["Location"] in ("/", "http://localhost/")


def test_login_page_escapes_input(server):
    client = server.test_client()
    resp = client.post("/login", data={"csrf_token": form_token(client), "username": '"><script>x()</script>',
                                       "password": "whatever it is"})
    body = resp.get_data(as_text=True)
    assert "<script>x()" not in body and "&lt;script&gt;" in body


def test_health_checks_the_database(server, monkeypatch):
    client = server.test_client()
    resp = client.get("/health")
    assert resp.status_code == 200 and resp.get_json() == {"status": "ok", "database": "ok"}
    broken = make_server("postgresql+psycopg://nobody@127.0.0.1:1/none?connect_timeout=2")
    bad = broken.test_client().get("/health")
    assert bad.status_code == 503 and bad.get_json()["status"] == "error"


def test_secret_key_from_environment(monkeypatch):
    monkeypatch.setenv("OBSERVATORY_SECRET_KEY", "k" * 40)
    server = Flask("env")
    web_auth.init_auth(server, "sqlite://")
    assert server.secret_key == "k" * 40
    monkeypatch.delenv("OBSERVATORY_SECRET_KEY")
    other = Flask("random")
    web_auth.init_auth(other, "sqlite://")
    assert other.secret_key and len(other.secret_key) >= 32


def test_request_bodies_are_capped(monkeypatch, sqlite_url):
    monkeypatch.setenv("OBSERVATORY_MAX_UPLOAD_MB", "1")
    server = make_server(sqlite_url)
    assert server.config["MAX_CONTENT_LENGTH"] < 3 << 20

    @server.route("/echo", methods=["POST"])
    def echo():
        from flask import request

        return str(len(request.get_data()))

    client = server.test_client()
    assert client.post("/echo", data=b"x" * 1000).get_data(as_text=True) == "1000"
    assert client.post("/echo", data=b"x" * (3 << 20)).status_code == 413
