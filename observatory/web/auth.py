"""Login, logout, the viewer's role and the health check, on the dashboard's Flask server.

``init_auth(server, database_url)`` (called by ``create_app``) adds:

- ``GET/POST /login``: a form with a CSRF token (stored in the session, compared in
  constant time). Failed attempts are throttled per (user name, client address) and per
  client address with exponential backoff (``observatory.sessions``: 5 and 20 free failures,
  then 30 s, 60 s, ... up to 15 minutes between attempts); the counts live in the database
  and are taken atomically before the password is checked, so the limit holds across
  gunicorn workers, and guessing from another address cannot lock the real user out.
- ``GET/POST /logout``: the GET shows a button; the POST (CSRF-checked) ends the session on
  the server: the session row is deleted, so a copy of the cookie no longer logs anyone in.
- ``GET /health``: ``{"status": "ok", "database": "ok"}`` (HTTP 200) after a ``SELECT 1``
  on the database, HTTP 503 with the error class otherwise. For load balancers and monitors.

Sessions are Flask's signed cookies (``OBSERVATORY_SECRET_KEY`` signs them: set it, the same
value on every worker) holding a random session token and a fingerprint of the password hash;
the database keeps the token's digest (``user_sessions``) and every request checks it, so
logout, a password change or removing the user end the session in every worker at once.
Cookies are HttpOnly and SameSite=Lax, ``Secure`` according to ``OBSERVATORY_SECURE_COOKIES``
(``1`` always, ``0`` never, unset/``auto``: when the request came over HTTPS), and sessions
expire after ``OBSERVATORY_SESSION_HOURS`` (default 8).

:func:`current_role` is what callbacks call to learn the viewer's role ("public",
"analyst", "admin"). A callback POST from a logged-in browser must carry the session's CSRF
token in the ``X-CSRFToken`` header (Dash's renderer sends the ``_csrf_token`` cookie this
module sets); without it the request is served as ``public``, so another site cannot make
an analyst's browser fetch microdata.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import math
import os
import secrets
import unicodedata
from functools import wraps
from html import escape
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Flask, Response, abort, current_app, g, has_request_context, jsonify, redirect, request, session
from flask.sessions import SecureCookieSessionInterface
from sqlalchemy import text

from observatory import audit, auth, config, sessions
from observatory.db.session import get_engine
from observatory.uploads import default_limits

log = logging.getLogger(__name__)

USER_FAILURES_LIMIT = sessions.USER_FREE_FAILURES  # failures of one name from one address before waits
IP_FAILURES_LIMIT = sessions.ADDRESS_FREE_FAILURES  # failures of one address (any name) before waits
CSRF_COOKIE = "_csrf_token"  # the name Dash's renderer reads by default


def _engine():
    return get_engine(current_app.config.get("OBSERVATORY_DATABASE_URL"))


def _secret_key() -> str:
    key = os.environ.get("OBSERVATORY_SECRET_KEY", "")
    if key:
        if len(key) < 32:
            log.warning("OBSERVATORY_SECRET_KEY is shorter than 32 characters; use `python -c "
                        "\"import secrets; print(secrets.token_hex(32))\"`")
        return key
    # A per-process key: fine on a laptop, but logins do not survive a restart and are not
    # shared between gunicorn workers. Production sets OBSERVATORY_SECRET_KEY.
    log.warning("OBSERVATORY_SECRET_KEY is not set: using a random key (logins last until the server restarts)")
    return secrets.token_hex(32)


def init_auth(server: Flask, database_url: str | None = None) -> None:
    """Configure sessions and register ``/login``, ``/logout`` and ``/health`` on ``server``."""
    server.config["OBSERVATORY_DATABASE_URL"] = database_url
    if not os.environ.get("OBSERVATORY_SECRET_KEY") and server.secret_key:
        pass  # keep a key the caller set explicitly (tests)
    else:
        server.secret_key = _secret_key()
    secure = config.secure_cookies()
    server.session_interface = _SessionInterface()
    server.config.update(
        SESSION_COOKIE_NAME="observatory_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure is True,
        OBSERVATORY_SECURE_COOKIES=secure,  # True, False or None (auto: follow the request's scheme)
        PERMANENT_SESSION_LIFETIME=dt.timedelta(hours=config.session_hours()),
        # No request body may exceed the largest upload (base64 adds a third) plus room for the JSON around it.
        MAX_CONTENT_LENGTH=default_limits().max_bytes * 4 // 3 + (1 << 20),
    )
    hops = int(os.environ.get("OBSERVATORY_PROXY_HOPS", "0"))
    if hops > 0:
        # Behind a reverse proxy: trust its X-Forwarded-For so the rate limit sees client addresses.
        from werkzeug.middleware.proxy_fix import ProxyFix

        server.wsgi_app = ProxyFix(server.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)
    if "observatory_login" in server.view_functions:
        return
    server.add_url_rule("/login", "observatory_login", _login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "observatory_logout", _logout, methods=["GET", "POST"])
    server.add_url_rule("/health", "observatory_health", _health, methods=["GET"])
    server.after_request(_after_request)


# --- the viewer ---------------------------------------------------------------------------------


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, with the ``Secure`` flag decided per request."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return cookie_secure(app)


def cookie_secure(app: Flask) -> bool:
    """Whether cookies set now get ``Secure``: the setting, or (auto) whether this request is HTTPS."""
    setting = app.config.get("OBSERVATORY_SECURE_COOKIES")
    if setting is not None:
        return bool(setting)
    # Behind a TLS-terminating proxy Flask sees https only with OBSERVATORY_PROXY_HOPS (X-Forwarded-Proto).
    return has_request_context() and request.is_secure


def _session_info() -> auth.UserInfo | None:
    # One query per request: the session row must still exist (logout deletes it in every worker).
    token, fingerprint = session.get("sid"), session.get("fp")
    if not isinstance(token, str) or not isinstance(fingerprint, str):
        return None
    found = sessions.session_user(token, engine=_engine())
    if found and found.active and hmac.compare_digest(found.fingerprint, fingerprint):
        return found
    return None


def _session_user() -> auth.UserInfo | None:
    if not has_request_context():
        return None
    if "observatory_user" in g:
        return g.observatory_user
    info = _session_info()
    if info is not None and request.method == "POST" and request.endpoint != "observatory_login":
        # Callback POSTs must prove they come from our own page (double-submit token).
        sent = request.headers.get("X-CSRFToken", "")
        if not sent or not hmac.compare_digest(sent, session.get("csrf", "")):
            info = None
    g.observatory_user = info
    return info


def current_role() -> str:
    """The role of the viewer of the current request: ``public``, ``analyst`` or ``admin``.

    ``public`` outside a request, without a valid session, or for a callback POST that lacks
    the session's CSRF token.
    """
    info = _session_user()
    return info.role if info else "public"


def current_user() -> str | None:
    """The logged-in user's name, or None for the public."""
    info = _session_user()
    return info.username if info else None


def require_role(needed: str):
    """Decorator for Flask views: 403 unless the viewer has at least role ``needed``."""

    def decorator(view):
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            if not auth.role_allows(current_role(), needed):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorator


# --- CSRF and rate limit ------------------------------------------------------------------------


def csrf_token() -> str:
    """The session's CSRF token (created on first use)."""
    token = session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def _csrf_ok() -> bool:
    sent = request.form.get("csrf_token", "")
    return bool(sent) and hmac.compare_digest(sent, session.get("csrf", ""))


def _client_ip() -> str:
    return request.remote_addr or "unknown"


# Characters a browser drops from a URL (tab, CR, LF) or that make it ambiguous (other controls,
# Unicode line/paragraph separators): a target containing any of them, even percent-encoded, is refused.
def _unsafe_char(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp")


def _safe_next(target: str | None) -> str:
    """``target`` when it is a path on this site, else ``/``: the login page is no open redirect.

    The target is percent-decoded until it no longer changes (``%252F`` too), then it must start
    with exactly one ``/`` followed by something other than ``/`` or ``\\``, have no backslash, no
    control character, no scheme and no host.
    """
    if not target or len(target) > 2000:
        return "/"
    decoded = target
    for _ in range(5):
        once = unquote(decoded, errors="replace")
        if once == decoded:
            break
        decoded = once
    else:
        return "/"  # still changing after five rounds: nothing legitimate is encoded that deep
    if "\\" in decoded or any(_unsafe_char(ch) for ch in decoded):
        return "/"
    if not decoded.startswith("/") or decoded[1:2] in ("/", "\\"):
        return "/"
    parts = urlsplit(decoded)
    if parts.scheme or parts.netloc:
        return "/"
    return target


# --- views --------------------------------------------------------------------------------------

_PAGE = """<!doctype html>
<html lang="es"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:26rem;margin:4rem auto;padding:0 1rem;color:#222}}
label{{display:block;margin-top:1rem}}input[type=text],input[type=password]{{width:100%;padding:.5rem;font-size:1rem}}
button{{margin-top:1.2rem;padding:.5rem 1.2rem;font-size:1rem}}.err{{color:#a40000;margin-top:1rem}}
a{{color:#0b5394}}</style></head><body>
<h1>{title}</h1>{body}
<p style="margin-top:2rem"><a href="/">Volver al observatorio / Back to the observatory</a></p>
</body></html>"""


def _page(title: str, body: str, status: int = 200) -> Response:
    resp = Response(_PAGE.format(title=escape(title), body=body), status=status, mimetype="text/html")
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _login_form(error: str = "", username: str = "", next_url: str = "/", status: int = 200) -> Response:
    err = f'<p class="err" role="alert">{escape(error)}</p>' if error else ""
    body = (
        f'{err}<form method="post" action="/login">'
        f'<input type="hidden" name="csrf_token" value="{escape(csrf_token())}">'
        f'<input type="hidden" name="next" value="{escape(_safe_next(next_url))}">'
        f'<label for="username">Usuario / User</label>'
        f'<input type="text" id="username" name="username" value="{escape(username)}" autocomplete="username" '
        f'required maxlength="100" autofocus>'
        f'<label for="password">Contraseña / Password</label>'
        f'<input type="password" id="password" name="password" autocomplete="current-password" required '
        f'maxlength="1000"><button type="submit">Entrar / Log in</button></form>'
    )
    return _page("Acceso de analistas / Analyst login", body, status)


def _login() -> Response:
    if request.method == "GET":
        return _login_form(next_url=request.args.get("next", "/"))
    username = request.form.get("username", "").strip()[:100]
    password = request.form.get("password", "")[:1000]
    next_url = request.form.get("next", "/")
    if not _csrf_ok():
        return _login_form("La sesión del formulario expiró; inténtelo de nuevo. / The form expired; try again.",
                           username, next_url, status=400)
    ip = _client_ip()
    engine = _engine()
    # Counted before the (slow) password check, atomically: parallel guesses cannot share a free attempt.
    wait = sessions.reserve_attempt(username, ip, engine=engine, base_s=config.login_backoff_seconds())
    if wait:
        seconds = math.ceil(wait)
        resp = _login_form(f"Demasiados intentos fallidos; espere {seconds} s. / Too many failed attempts; "
                           f"wait {seconds} s.", username, next_url, status=429)
        resp.headers["Retry-After"] = str(seconds)
        return resp
    info = auth.authenticate(username, password, engine)
    if info is None:
        audit.record("login_failed", user_name=username or None, detail={"ip": ip}, engine=engine)
        return _login_form("Usuario o contraseña incorrectos. / Wrong user name or password.",
                           username, next_url, status=401)
    sessions.attempt_succeeded(username, ip, engine=engine)
    old_token = session.get("sid")
    if isinstance(old_token, str):
        sessions.close_session(old_token, engine=engine)  # logging in again replaces the session
    session.clear()  # a fresh session (and CSRF token) after login: no session fixation
    session.permanent = True
    session["sid"] = sessions.open_session(info.id, engine=engine,
                                           hours=current_app.permanent_session_lifetime.total_seconds() / 3600)
    session["fp"] = info.fingerprint
    csrf_token()
    audit.record("login", user_name=info.username, detail={"ip": ip}, engine=engine)
    return redirect(_safe_next(next_url), code=303)


def _logout() -> Response:
    if request.method == "GET":
        body = (f'<form method="post" action="/logout"><input type="hidden" name="csrf_token" '
                f'value="{escape(csrf_token())}"><button type="submit">Salir / Log out</button></form>')
        return _page("Salir / Log out", body)
    if not _csrf_ok():
        abort(400)
    name = current_user_from_session()
    token = session.get("sid")
    if isinstance(token, str):
        sessions.close_session(token, engine=_engine())  # a copy of the cookie dies with the row
    session.clear()
    if name:
        audit.record("logout", user_name=name, engine=_engine())
    resp = redirect("/", code=303)
    resp.delete_cookie(CSRF_COOKIE)
    return resp


def current_user_from_session() -> str | None:
    """The session's user name, ignoring the callback CSRF rule (for logout)."""
    info = _session_info()
    return info.username if info else None


def _health() -> tuple[Response, int]:
    try:
        with _engine().connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return jsonify(status="error", database=type(exc).__name__), 503
    return jsonify(status="ok", database="ok"), 200


def _after_request(resp: Response) -> Response:
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    resp.headers.setdefault("Referrer-Policy", "same-origin")
    if session.get("sid"):
        # Logged-in responses may carry microdata: never store them in a shared cache.
        resp.headers["Cache-Control"] = "no-store"
        token = session.get("csrf")
        if token and request.cookies.get(CSRF_COOKIE) != token:
            # Readable by the page's script (not HttpOnly) so Dash echoes it in X-CSRFToken.
            resp.set_cookie(CSRF_COOKIE, token, samesite="Strict", httponly=False,
                            secure=cookie_secure(current_app))
    return resp
