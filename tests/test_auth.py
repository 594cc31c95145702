"""Users, roles, password hashing and the audit log (observatory.auth, observatory.audit)."""

from __future__ import annotations

import datetime as dt
import io
import subprocess
import sys

import pytest
from sqlalchemy import select

from observatory import audit, auth
from observatory.db.models import User
from observatory.db.session import get_engine
from tests.conftest import REPO_ROOT

GOOD = "correct horse battery"


def test_hash_is_argon2id_salted_and_verifies():
    first, second = auth.hash_password(GOOD), auth.hash_password(GOOD)
    assert first.startswith("$argon2id$")
    assert "m=65536" in first  # memory-hard: 64 MiB per hash
    assert first != second  # a random salt per hash
    assert auth.verify_password(first, GOOD)
    assert not auth.verify_password(first, GOOD + "!")
    assert not auth.verify_password("not a hash", GOOD)


@pytest.mark.parametrize("password", ["short", "aaaaaaaaaaaaaaa", "xx-alice-xx-1234"])
def test_weak_passwords_are_refused(password):
    with pytest.raises(auth.AuthError):
        auth.check_password_strength(password, "alice")


def test_role_order():
    assert auth.role_allows("admin", "analyst") and auth.role_allows("analyst", "analyst")
    assert not auth.role_allows("public", "analyst") and not auth.role_allows("analyst", "admin")
    assert not auth.role_allows("root", "analyst")  # unknown roles get nothing


def test_user_lifecycle_and_audit(db_url):
    engine = get_engine(db_url)
    info = auth.add_user("alice", GOOD, "analyst", engine=engine, actor="admin1")
    assert info.role == "analyst" and info.active
    with engine.connect() as conn:
        stored = conn.execute(select(User.password_hash)).scalar_one()
    assert GOOD not in stored and stored.startswith("$argon2id$")

    assert auth.authenticate("alice", GOOD, engine).username == "alice"
    assert auth.authenticate("alice", "wrong password!", engine) is None
    assert auth.authenticate("nobody", GOOD, engine) is None
    assert auth.authenticate("", GOOD, engine) is None

    with pytest.raises(auth.AuthError, match="already exists"):
        auth.add_user("alice", GOOD, engine=engine)
    with pytest.raises(auth.AuthError, match="role"):
        auth.add_user("bob", GOOD, "public", engine=engine)
    with pytest.raises(auth.AuthError, match="invalid user name"):
        auth.add_user("bob smith; drop", GOOD, engine=engine)

    old_fp = info.fingerprint
    auth.set_password("alice", "another long secret", engine=engine, actor="admin1")
    assert auth.authenticate("alice", GOOD, engine) is None
    renewed = auth.authenticate("alice", "another long secret", engine)
    assert renewed is not None and renewed.fingerprint != old_fp  # old sessions become invalid

    auth.set_role("alice", "admin", engine=engine)
    assert auth.get_user("alice", engine).role == "admin"
    auth.remove_user("alice", engine=engine, actor="admin1")
    assert auth.get_user("alice", engine) is None
    with pytest.raises(auth.AuthError, match="no user"):
        auth.remove_user("alice", engine=engine)

    events = audit.list_events(engine)
    actions = list(events["action"])
    assert actions[:4] == ["user_remove", "user_role", "user_passwd", "user_add"]  # newest first
    assert events.loc[events["action"] == "user_add", "detail"].iloc[0] == {"username": "alice", "role": "analyst"}
    assert set(events["user_name"].dropna()) == {"admin1"}


def test_rejected_add_leaves_no_row_and_no_event(db_url):
    engine = get_engine(db_url)
    with pytest.raises(auth.AuthError):
        auth.add_user("carol", "short", engine=engine)
    assert auth.list_users(engine) == []
    assert audit.list_events(engine).empty


def test_audit_filters_and_count(db_url):
    engine = get_engine(db_url)
    audit.record("login_failed", user_name="eve", detail={"ip": "10.0.0.1"}, engine=engine)
    audit.record("login_failed", user_name="eve", detail={"ip": "10.0.0.2"}, engine=engine)
    audit.record("export", user_name="ana", detail={"what": "points", "rows": 12,
                                                     "when": dt.date(2024, 1, 1)}, engine=engine)
    since = audit.utcnow() - dt.timedelta(minutes=1)
    assert audit.count_events("login_failed", since, engine=engine) == 2
    assert audit.count_events("login_failed", since, user_name="eve", ip="10.0.0.2", engine=engine) == 1
    assert audit.count_events("login_failed", audit.utcnow() + dt.timedelta(minutes=1), engine=engine) == 0
    exports = audit.list_events(engine, action="export")
    assert len(exports) == 1 and exports["detail"].iloc[0]["when"] == "2024-01-01"  # dates stored as text
    assert len(audit.list_events(engine, user_name="eve", limit=1)) == 1


def test_users_cli(sqlite_url, monkeypatch, capsys):
    from observatory import cli

    def run(*args: str, stdin: str = "") -> int:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        return cli.main(["users", *args])

    assert run("add", "dana", "--role", "admin", "--password-stdin", stdin=GOOD + "\n") == 0
    assert run("list") == 0 and "dana\tadmin" in capsys.readouterr().out
    assert auth.authenticate("dana", GOOD, get_engine(sqlite_url)).role == "admin"
    assert run("passwd", "dana", "--password-stdin", stdin="short\n") == 1
    assert "at least" in capsys.readouterr().err
    assert run("remove", "dana") == 0
    assert run("remove", "dana") == 1
    assert auth.get_user("dana", get_engine(sqlite_url)) is None
    # The real entry point, once, in its own process.
    proc = subprocess.run([sys.executable, "-m", "observatory", "users", "list"], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_cli_imports_are_audited(sqlite_url, tmp_path):
    from observatory import cli

    path = tmp_path / "reports.csv"
    path.write_text("record_id,occurred_date,category\nA1,2024-01-05,theft\nA2,bad,theft\n", encoding="utf-8")
    assert cli.main(["--user", "carla", "ingest", "police", str(path), "--profile", "generic_incidents",
                     "--json"]) == 0
    event = audit.list_events(get_engine(sqlite_url), action="import").iloc[0]
    assert event["user_name"] == "carla"
    assert (event["detail"]["loaded"], event["detail"]["rejected"], event["detail"]["kind"]) == (1, 1, "police")


def test_cli_parser_without_main(monkeypatch, sqlite_url, capsys):
    # The parser helpers work on their own (the lead's CLI only has to call add_cli).
    import argparse

    parser = argparse.ArgumentParser()
    auth.add_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["users", "add", "erin", "--password-stdin"])
    monkeypatch.setattr(sys, "stdin", io.StringIO(GOOD + "\n"))
    assert args.func(args) == 0
    assert "erin added (analyst)" in capsys.readouterr().out
    assert auth.get_user("erin", get_engine(sqlite_url)).role == "analyst"
