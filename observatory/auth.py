"""Users and roles: who may log in, with which role, and how passwords are stored.

Roles, from least to most privileged:

- ``public``: everyone, no account; aggregated, suppressed figures only.
- ``analyst``: logs in; sees points (optionally geomasked), microdata downloads, uploads.
- ``admin``: an analyst who also manages users and reads the audit log.

Passwords are hashed with Argon2id (``argon2-cffi``, its RFC 9106 "low memory" defaults:
64 MiB, 3 passes), a memory-hard function, so a stolen database does not give the passwords
away cheaply. Hashes are upgraded transparently at the next login when the parameters change.

Command line (``python -m observatory users ...``)::

    users add NAME [--role analyst|admin]     # asks for the password twice
    users passwd NAME
    users remove NAME
    users list

``--password-stdin`` reads the password from standard input (for scripts).
"""

from __future__ import annotations

import argparse
import getpass
import hashlib
import re
import sys
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, delete, insert, select, update

from observatory import audit
from observatory.db.models import User, UserSession
from observatory.db.session import get_engine
from observatory.vocabulary import ACCOUNT_ROLES, ROLES

MIN_PASSWORD_LENGTH = 10
USERNAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")

_HASHER = PasswordHasher()
# Verifying against this when the user does not exist keeps the response time the same,
# so timing does not reveal which user names exist.
_DUMMY_HASH = _HASHER.hash("not a real password, only for timing")


class AuthError(ValueError):
    """A user operation that cannot be done (unknown user, weak password, bad role...)."""


@dataclass(frozen=True)
class UserInfo:
    """A stored user, without the password hash."""

    id: int
    username: str
    role: str
    active: bool
    fingerprint: str  # changes when the password changes: sessions made before are invalid


def role_rank(role: str) -> int:
    """0 for public, 1 for analyst, 2 for admin; unknown roles rank as public."""
    return ROLES.index(role) if role in ROLES else 0


def role_allows(role: str, needed: str) -> bool:
    """True when ``role`` has at least the privileges of ``needed``."""
    return role_rank(role) >= role_rank(needed)


def hash_password(password: str) -> str:
    """The Argon2id hash (PHC string, salt included) of ``password``."""
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True when ``password`` matches ``password_hash``; False for a mismatch or a corrupt hash."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def check_password_strength(password: str, username: str = "") -> None:
    """Raise :class:`AuthError` when ``password`` is too weak to store."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AuthError(f"the password must have at least {MIN_PASSWORD_LENGTH} characters")
    if username and username.lower() in password.lower():
        raise AuthError("the password must not contain the user name")
    if len(set(password)) < 4:
        raise AuthError("the password is too repetitive")


def _fingerprint(password_hash: str) -> str:
    # A digest of the stored hash: new password -> new fingerprint, without exposing the hash.
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def user_info(row) -> UserInfo:
    """The :class:`UserInfo` of a ``users`` row (any result row with its columns)."""
    return UserInfo(id=row.id, username=row.username, role=row.role, active=bool(row.active),
                    fingerprint=_fingerprint(row.password_hash))


def _check_username(username: str) -> str:
    if not USERNAME_RE.match(username or ""):
        raise AuthError(f"invalid user name {username!r}: use letters, digits and . _ @ - (at most 100)")
    return username


def get_user(username: str, engine: Engine | None = None) -> UserInfo | None:
    """The user called ``username`` (active or not), or None."""
    with (engine or get_engine()).connect() as conn:
        row = conn.execute(select(User).where(User.username == username)).first()
    return user_info(row) if row else None


def get_user_by_id(user_id: int, engine: Engine | None = None) -> UserInfo | None:
    """The user with primary key ``user_id``, or None."""
    with (engine or get_engine()).connect() as conn:
        row = conn.execute(select(User).where(User.id == user_id)).first()
    return user_info(row) if row else None


def list_users(engine: Engine | None = None) -> list[UserInfo]:
    """Every stored user, by name."""
    with (engine or get_engine()).connect() as conn:
        rows = conn.execute(select(User).order_by(User.username)).all()
    return [user_info(r) for r in rows]


def add_user(username: str, password: str, role: str = "analyst", *, engine: Engine | None = None,
             actor: str | None = None) -> UserInfo:
    """Create a user; raises :class:`AuthError` if the name exists, the role or password is bad."""
    _check_username(username)
    if role not in ACCOUNT_ROLES:
        raise AuthError(f"unknown role {role!r}: use one of {ACCOUNT_ROLES} (the public needs no account)")
    check_password_strength(password, username)
    engine = engine or get_engine()
    with engine.begin() as conn:
        if conn.execute(select(User.id).where(User.username == username)).first():
            raise AuthError(f"user {username!r} already exists (use `users passwd` to change the password)")
        conn.execute(insert(User).values(username=username, password_hash=hash_password(password), role=role,
                                         active=True, created_at=audit.utcnow()))
        audit.record("user_add", user_name=actor, detail={"username": username, "role": role}, conn=conn)
    info = get_user(username, engine)
    assert info is not None
    return info


def _end_sessions(conn, username: str) -> None:
    # Logged-in browsers of this user are logged out at once, in every worker (the rows are gone).
    conn.execute(delete(UserSession).where(UserSession.user_id.in_(select(User.id).where(User.username == username))))


def set_password(username: str, password: str, *, engine: Engine | None = None, actor: str | None = None) -> None:
    """Replace ``username``'s password; every open session of that user ends."""
    check_password_strength(password, username)
    with (engine or get_engine()).begin() as conn:
        done = conn.execute(update(User).where(User.username == username)
                            .values(password_hash=hash_password(password))).rowcount
        if not done:
            raise AuthError(f"no user called {username!r}")
        _end_sessions(conn, username)
        audit.record("user_passwd", user_name=actor, detail={"username": username}, conn=conn)


def set_role(username: str, role: str, *, engine: Engine | None = None, actor: str | None = None) -> None:
    """Change ``username``'s role to ``analyst`` or ``admin``."""
    if role not in ACCOUNT_ROLES:
        raise AuthError(f"unknown role {role!r}: use one of {ACCOUNT_ROLES}")
    with (engine or get_engine()).begin() as conn:
        if not conn.execute(update(User).where(User.username == username).values(role=role)).rowcount:
            raise AuthError(f"no user called {username!r}")
        audit.record("user_role", user_name=actor, detail={"username": username, "role": role}, conn=conn)


def remove_user(username: str, *, engine: Engine | None = None, actor: str | None = None) -> None:
    """Delete ``username`` and end their sessions (past actions stay in the audit log under their name)."""
    with (engine or get_engine()).begin() as conn:
        _end_sessions(conn, username)
        if not conn.execute(delete(User).where(User.username == username)).rowcount:
            raise AuthError(f"no user called {username!r}")
        audit.record("user_remove", user_name=actor, detail={"username": username}, conn=conn)


def authenticate(username: str, password: str, engine: Engine | None = None) -> UserInfo | None:
    """The active user whose name and password match, else None.

    Takes about as long for an unknown user as for a wrong password. Rehashes the stored
    password when the Argon2 parameters have changed since it was set.
    """
    engine = engine or get_engine()
    with engine.connect() as conn:
        row = conn.execute(select(User).where(User.username == username)).first() if username else None
    if row is None or not row.active:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(row.password_hash, password):
        return None
    if _HASHER.check_needs_rehash(row.password_hash):
        with engine.begin() as conn:
            conn.execute(update(User).where(User.id == row.id).values(password_hash=hash_password(password)))
        return get_user(username, engine)
    return user_info(row)


# --- command line ---------------------------------------------------------------------------------


def add_cli(subparsers) -> None:
    """Add the ``users`` command (add, passwd, remove, list) to an argparse ``subparsers``."""
    users = subparsers.add_parser("users", help="manage analyst and admin accounts")
    sub = users.add_subparsers(dest="users_command", required=True)
    add = sub.add_parser("add", help="create a user (asks for the password)")
    add.add_argument("username")
    add.add_argument("--role", choices=ACCOUNT_ROLES, default="analyst")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    passwd = sub.add_parser("passwd", help="change a user's password")
    passwd.add_argument("username")
    passwd.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    remove = sub.add_parser("remove", help="delete a user")
    remove.add_argument("username")
    sub.add_parser("list", help="list users and roles")
    users.set_defaults(func=run_cli)


def _read_password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass(f"password for {args.username}: ")
    if getpass.getpass("again: ") != first:
        raise AuthError("the two passwords differ")
    return first


def run_cli(args: argparse.Namespace) -> int:
    """Run a parsed ``users`` command; prints a line and returns the exit status (0 ok, 1 error)."""
    try:
        actor = f"cli:{getpass.getuser()}"
    except (OSError, KeyError):  # no login name in some containers
        actor = "cli"
    try:
        if args.users_command == "add":
            info = add_user(args.username, _read_password(args), args.role, actor=actor)
            print(f"user {info.username} added ({info.role})")
        elif args.users_command == "passwd":
            set_password(args.username, _read_password(args), actor=actor)
            print(f"password of {args.username} changed")
        elif args.users_command == "remove":
            remove_user(args.username, actor=actor)
            print(f"user {args.username} removed")
        else:
            for info in list_users():
                print(f"{info.username}\t{info.role}\t{'active' if info.active else 'inactive'}")
    except AuthError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
