"""The categories command, the category hint in every category error (issue 11, item 14), and the database
line every command prints first (item 16)."""

from __future__ import annotations

import ast
import json

import pytest

from observatory.cli import database_line, main
from observatory.ingest.profiles import ProfileError, parse_profile
from observatory.ingest.survey_items import check_value, victim_item
from observatory.taxonomy import CATEGORIES, CATEGORIES_HINT
from tests.conftest import REPO_ROOT

HINT = "python -m observatory categories"


def test_categories_json_lists_every_category(db_url, capsys):
    assert main(["categories", "--json"]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("database: ")  # stdout stays one JSON value
    rows = json.loads(captured.out)
    expected = [{"code": c.code, "iccs_code": c.iccs_code, "name_es": c.name_es, "name_en": c.name_en,
                 "sensitive": c.sensitive} for c in CATEGORIES]
    assert sorted(rows, key=lambda r: r["code"]) == sorted(expected, key=lambda r: r["code"])
    assert {r["code"] for r in rows if r["sensitive"]} == {c.code for c in CATEGORIES if c.sensitive} != set()


def test_categories_table(sqlite_url, capsys):
    assert main(["categories"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("database: ")
    by_code = {line.split()[0]: line for line in lines[2:-1]}
    assert len(by_code) == len(CATEGORIES)
    for c in CATEGORIES:
        line = by_code[c.code]
        assert f"{c.name_es} / {c.name_en}" in line and (c.iccs_code or "-") in line
        assert (" yes " in line) == c.sensitive


def test_every_category_error_points_to_the_command(sqlite_url, capsys):
    assert HINT in CATEGORIES_HINT
    assert main(["alias", "add", "ROBO X", "robo"]) == 2
    assert HINT in capsys.readouterr().err
    base = {"kind": "incidents", "name": "x", "columns": {"occurred_date": ["fecha"]}}
    with pytest.raises(ProfileError, match=HINT):
        parse_profile({**base, "aliases": {"ROBO": "robo"}}, "t")
    with pytest.raises(KeyError, match=HINT):
        victim_item("robo")
    with pytest.raises(ValueError, match=HINT):
        check_value("crime_type", "robo")
    # the import report's list of unknown labels too
    from collections import Counter

    from observatory.ingest.report import ImportReport

    report = ImportReport(file_name="x.csv", source_kind="police", profile="p", unknown_labels=Counter({"ROBO": 3}))
    assert HINT in report.summary()


def test_no_category_error_message_without_the_hint():
    """A grep over the code: every raised message that speaks of an unknown category carries the hint."""
    offenders = []
    for path in sorted((REPO_ROOT / "observatory").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Raise) or node.exc is None:
                continue
            text = ast.unparse(node.exc).lower()
            pointed = "categories_hint" in text or "python -m observatory categories" in text
            if "categor" in text and ("unknown" in text or "not a" in text) and not pointed:
                offenders.append(f"{path.relative_to(REPO_ROOT)}:{node.lineno}")
    assert offenders == []


def test_database_line_masks_the_password_and_names_the_default(monkeypatch):
    monkeypatch.setenv("OBSERVATORY_DATABASE_URL", "postgresql+psycopg://obs:s3cret@db.example:5432/observatory")
    line = database_line()
    assert line == "database: postgresql+psycopg://obs:***@db.example:5432/observatory"
    assert "s3cret" not in line
    monkeypatch.delenv("OBSERVATORY_DATABASE_URL")
    line = database_line()
    assert "the default SQLite file" in line and "OBSERVATORY_DATABASE_URL is not set" in line
    assert line.startswith("database: sqlite:///")


@pytest.mark.parametrize("argv", [["status"], ["categories"], ["db", "upgrade"],
                                  ["alias", "add", "X", "no_such_code"]])
def test_every_command_names_its_database_on_the_first_line(sqlite_url, capsys, argv):
    main(argv)
    out = capsys.readouterr().out
    assert out.splitlines()[0] == f"database: {sqlite_url}"


def test_without_the_variable_the_cli_says_it_uses_the_default_file(tmp_path, monkeypatch, capsys):
    from observatory import config
    from observatory.db.session import get_engine

    default = f"sqlite:///{tmp_path / 'observatory.db'}"  # stands in for data/observatory.db
    monkeypatch.setattr(config, "DEFAULT_DATABASE_URL", default)
    monkeypatch.delenv("OBSERVATORY_DATABASE_URL", raising=False)
    try:
        assert main(["status"]) == 0
    finally:
        get_engine(default).dispose()
        get_engine.cache_clear()
    first = capsys.readouterr().out.splitlines()[0]
    assert first == (f"database: {default} (the default SQLite file: OBSERVATORY_DATABASE_URL is not set; set it "
                     "to use PostgreSQL)")
