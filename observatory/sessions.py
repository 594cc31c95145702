"""Server-side login sessions and the login throttle, both kept in the database.

Sessions
    A login creates a random token (256 bits). The browser's signed cookie carries the token;
    the ``user_sessions`` table keeps only its SHA-256, the user and an expiry time. Every
    request looks the token up, so logging out (which deletes the row), a password change or a
    removed user ends the session in every gunicorn worker at once: a copied cookie is worth
    nothing after logout. A stolen database does not give usable cookies either (only digests,
    and cookies are also signed with ``OBSERVATORY_SECRET_KEY``).

Throttle
    Failed logins are counted per (user name, client address) and per client address. The
    first ``USER_FREE_FAILURES`` (5) failures of a name from an address, and the first
    ``ADDRESS_FREE_FAILURES`` (20) of an address, cost nothing; after that each attempt must
    wait ``base * 2**k`` seconds after the previous one (``base`` is
    ``OBSERVATORY_LOGIN_BACKOFF_S``, 30 s; k = 0, 1, 2... failures past the free ones; at most
    15 minutes). A success clears the (name, address) count and is not held against the address; a
    failure-free hour clears both.
    Because the count is per address, someone guessing from another address cannot lock the
    real user out.

    The attempt is counted *before* the password is checked, with a compare-and-set UPDATE
    (``... WHERE failures = <the value read>``): two workers cannot both take the same free
    attempt, so at most the free number of guesses get through however many run in parallel.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from sqlalchemy import Engine, case, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from observatory import audit, auth
from observatory.db.models import LoginAttempt, User, UserSession

USER_FREE_FAILURES = 5
ADDRESS_FREE_FAILURES = 20
MAX_WAIT = dt.timedelta(minutes=15)
FORGET_AFTER = dt.timedelta(hours=1)  # consecutive failures older than this are forgotten
_CAS_TRIES = 50  # each lost race means another attempt was counted: bounded, never spins for long


# --- sessions -----------------------------------------------------------------------------------


def token_digest(token: str) -> str:
    """The SHA-256 (hex) under which a session token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(user_id: int, *, engine: Engine, hours: float, now: dt.datetime | None = None) -> str:
    """Start a session for ``user_id`` lasting ``hours``; returns the token for the cookie.

    Expired sessions of every user are deleted on the way (the table stays small)."""
    now = now or audit.utcnow()
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(delete(UserSession).where(UserSession.expires_at <= now))
        conn.execute(insert(UserSession).values(token_hash=token_digest(token), user_id=user_id, created_at=now,
                                                expires_at=now + dt.timedelta(hours=hours)))
    return token


def session_user(token: str, *, engine: Engine, now: dt.datetime | None = None) -> auth.UserInfo | None:
    """The user of the unexpired session ``token``, or None (logged out, expired, unknown)."""
    if not token:
        return None
    now = now or audit.utcnow()
    stmt = (select(User).join(UserSession, UserSession.user_id == User.id)
            .where(UserSession.token_hash == token_digest(token), UserSession.expires_at > now))
    with engine.connect() as conn:
        row = conn.execute(stmt).first()
    return auth.user_info(row) if row else None


def close_session(token: str, *, engine: Engine) -> bool:
    """End the session ``token`` (logout); True when it existed."""
    with engine.begin() as conn:
        return bool(conn.execute(delete(UserSession).where(UserSession.token_hash == token_digest(token))).rowcount)


# --- throttle -----------------------------------------------------------------------------------


def backoff(failures: int, free: int, base_s: float) -> dt.timedelta:
    """How long the next attempt waits after ``failures`` consecutive failures (0 while free)."""
    if failures < free:
        return dt.timedelta(0)
    return min(dt.timedelta(seconds=base_s * 2 ** min(failures - free, 30)), MAX_WAIT)


def _blocked_until(failures: int, free: int, base_s: float, now: dt.datetime) -> dt.datetime | None:
    # None while attempts are free: a timestamp equal to "now" would refuse a parallel attempt whose
    # clock reading came a microsecond earlier.
    wait = backoff(failures, free, base_s)
    return now + wait if wait else None


def _key(scope: str, username: str, ip: str) -> tuple:
    return (LoginAttempt.scope == scope, LoginAttempt.username == username, LoginAttempt.ip == ip)


def _try_reserve(conn, scope: str, username: str, ip: str, free: int, base_s: float,
                 now: dt.datetime) -> float | None:
    """0.0: counted; > 0: seconds to wait; None: another worker changed the row first (retry)."""
    row = conn.execute(select(LoginAttempt.id, LoginAttempt.failures, LoginAttempt.blocked_until,
                              LoginAttempt.updated_at).where(*_key(scope, username, ip))).first()
    if row is None:
        # A concurrent first attempt violates the unique key: IntegrityError, and the caller retries.
        conn.execute(insert(LoginAttempt).values(scope=scope, username=username, ip=ip, failures=1,
                                                 blocked_until=_blocked_until(1, free, base_s, now), updated_at=now))
        return 0.0
    if row.blocked_until is not None and row.blocked_until > now:
        return max((row.blocked_until - now).total_seconds(), 0.001)
    failures = 1 if row.updated_at < now - FORGET_AFTER else row.failures + 1
    done = conn.execute(update(LoginAttempt)
                        .where(LoginAttempt.id == row.id, LoginAttempt.failures == row.failures)
                        .values(failures=failures, blocked_until=_blocked_until(failures, free, base_s, now),
                                updated_at=now)).rowcount
    return 0.0 if done == 1 else None


def _reserve(engine: Engine, scope: str, username: str, ip: str, free: int, base_s: float,
             now: dt.datetime) -> float:
    for _ in range(_CAS_TRIES):
        try:
            with engine.begin() as conn:
                outcome = _try_reserve(conn, scope, username, ip, free, base_s, now)
        except IntegrityError:
            continue
        if outcome is not None:
            return outcome
    return max(base_s, 1.0)  # extreme contention on one key: that is an attack, make it wait


def reserve_attempt(username: str, ip: str, *, engine: Engine, base_s: float,
                    now: dt.datetime | None = None) -> float:
    """Count one login attempt of ``username`` from ``ip`` before its password is checked.

    Returns 0.0 when the attempt may go ahead, else the seconds it must wait (nothing is
    counted then). Call :func:`attempt_succeeded` when the password was right.
    """
    now = now or audit.utcnow()
    username, ip = username[:100], ip[:100]
    wait = _reserve(engine, "user", username, ip, USER_FREE_FAILURES, base_s, now)
    if wait:
        return wait
    wait = _reserve(engine, "address", "", ip, ADDRESS_FREE_FAILURES, base_s, now)
    if wait:
        _refund(engine, "user", username, ip, USER_FREE_FAILURES)  # the attempt does not happen
    return wait


def _refund(engine: Engine, scope: str, username: str, ip: str, free: int) -> None:
    # One atomic UPDATE: give back one counted attempt; below the free number nothing waits any more.
    with engine.begin() as conn:
        conn.execute(update(LoginAttempt).where(*_key(scope, username, ip), LoginAttempt.failures > 0)
                     .values(failures=LoginAttempt.failures - 1,
                             blocked_until=case((LoginAttempt.failures - 1 < free, None),
                                                else_=LoginAttempt.blocked_until)))


def attempt_succeeded(username: str, ip: str, *, engine: Engine, now: dt.datetime | None = None) -> None:
    """The password was right: clear the failures of ``username`` from ``ip`` and give the address
    back the attempt counted for it (the address's failures stay: some may be an attacker's)."""
    username, ip = username[:100], ip[:100]
    now = now or audit.utcnow()
    stale = (LoginAttempt.updated_at < now - FORGET_AFTER) & \
        (LoginAttempt.blocked_until.is_(None) | (LoginAttempt.blocked_until < now))
    with engine.begin() as conn:
        conn.execute(delete(LoginAttempt).where(*_key("user", username, ip)))
        # Housekeeping: rows an hour old count as zero anyway (guessed names must not pile up).
        conn.execute(delete(LoginAttempt).where(stale))
    _refund(engine, "address", "", ip, ADDRESS_FREE_FAILURES)
