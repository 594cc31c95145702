"""One import entry point (observatory.ingest.import_file) for the CLI and the upload page; withdrawn
records visible in ``status``, ``status --batch N`` and the analyst page's import history."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import json
import random
from pathlib import Path

import pytest
from sqlalchemy import text

from observatory import audit, auth
from observatory.cli import main
from observatory.db.session import get_engine
from observatory.ingest import entry, import_file
from observatory.ingest.report import ImportFailed
from tests.conftest import EXAMPLES, FIXTURES

BARRIOS = FIXTURES / "incidents" / "barrios.geojson"
KINDS = ["boundaries", "population", "police", "complaint", "survey"]


@pytest.fixture
def spy(monkeypatch) -> list[tuple[str, str]]:
    """(kind, via) of every call of import_file (the CLI and the page look it up at call time)."""
    calls: list[tuple[str, str]] = []
    real = entry.import_file

    def recording(kind, path, **kwargs):
        calls.append((kind, kwargs["via"]))
        return real(kind, path, **kwargs)

    monkeypatch.setattr(entry, "import_file", recording)
    return calls


def import_events(engine) -> list[tuple[str, str, str, str]]:
    """(user, kind, via, status) of the import audit events, oldest first; each names its batch."""
    events = audit.list_events(engine, action="import").iloc[::-1]
    assert all(d["batch_id"] for d in events["detail"])
    return [(u, d["kind"], d["via"], d["status"]) for u, d in zip(events["user_name"], events["detail"], strict=True)]


def population_csv(path: Path) -> Path:
    path.write_text("cve,pob\nN01,12000\nN02,9500\n", encoding="utf-8")
    return path


# --- the CLI and the page both go through import_file ---------------------------------------------------


def test_every_cli_import_goes_through_import_file_and_is_audited(sqlite_url, tmp_path, spy, capsys):
    pop = population_csv(tmp_path / "poblacion.csv")
    commands = [
        ["boundaries", "import", str(BARRIOS), "--layer", "barrios", "--id-field", "code", "--name-field", "name"],
        ["boundaries", "population", str(pop), "--layer", "barrios", "--id-field", "cve", "--population-field",
         "pob"],
        ["ingest", "police", str(EXAMPLES / "generic_incidents.csv"), "--profile", "generic_incidents", "--quiet"],
        ["ingest", "complaints", str(EXAMPLES / "generic_complaints.csv"), "--profile", "generic_complaints"],
        ["ingest", "survey", str(EXAMPLES / "generic_survey.csv"), "--profile", "generic_survey"],
    ]
    for argv in commands:
        assert main([*argv, "--json"]) == 0, capsys.readouterr().err
    capsys.readouterr()
    assert spy == [(kind, "cli") for kind in KINDS]
    assert import_events(get_engine(sqlite_url)) == [("cli", kind, "cli", "done") for kind in KINDS]


def upload_state(name: str, kind: str, profile: str = "", layer=None, id_field=None, name_field=None,
                 population_field=None) -> list:
    return [("an-upload", "filename", name), ("an-kind", "value", kind), ("an-profile", "value", profile),
            ("an-layer", "value", layer), ("an-id-field", "value", id_field), ("an-name-field", "value", name_field),
            ("an-source-layer", "value", None), ("an-encoding", "value", None),
            ("an-profile-file", "contents", None), ("an-profile-file", "filename", None),
            ("an-population-field", "value", population_field)]


@pytest.fixture
def analyst(sqlite_url):
    """(engine, logged-in analyst client, its headers, a public client) of a fresh app."""
    from observatory.web.app import create_app
    from tests.test_auth_analyst_page import login
    from tests.test_callback_leaks import PASSWORD

    engine = get_engine(sqlite_url)
    auth.add_user("ana", PASSWORD, "analyst", engine=engine)
    app = create_app(sqlite_url)
    client, headers = login(app, "ana")
    return engine, client, headers, app.server.test_client()


def upload(client, headers, path: Path, *state_args, name: str | None = None) -> str:
    from tests.test_auth_analyst_page import call

    contents = "data:application/octet-stream;base64," + base64.b64encode(path.read_bytes()).decode()
    return call(client, "an-report.children", [("an-upload", "contents", contents)],
                upload_state(name or path.name, *state_args), headers).get_data(as_text=True)


def test_every_upload_goes_through_import_file_and_is_audited(analyst, tmp_path, spy):
    engine, client, headers, _ = analyst
    pop = population_csv(tmp_path / "poblacion.csv")
    uploads = [
        (BARRIOS, ("boundaries", "", "barrios", "code", "name")),
        (pop, ("population", "", "barrios", "cve", None, "pob")),
        (EXAMPLES / "generic_incidents.csv", ("police", "generic_incidents")),
        (EXAMPLES / "generic_complaints.csv", ("complaint", "generic_complaints")),
        (EXAMPLES / "generic_survey.csv", ("survey", "generic_survey")),
    ]
    for path, args in uploads:
        report = upload(client, headers, path, *args)
        assert "rows read:" in report and '"color":"danger"' not in report, report[:500]
    assert spy == [(kind, "upload") for kind in KINDS]
    assert import_events(engine) == [("ana", kind, "upload", "done") for kind in KINDS]
    files = [d["file"] for d in audit.list_events(engine, action="import")["detail"].iloc[::-1]]
    assert files == [p.name for p, _ in uploads]  # the upload's own name, not its temporary path


# --- a wrong kind or option: one sentence, nothing written ------------------------------------------------


def stored_counts(engine) -> tuple[int, int]:
    with engine.connect() as conn:
        return (conn.execute(text("SELECT COUNT(*) FROM import_batches")).scalar_one(),
                conn.execute(text("SELECT COUNT(*) FROM audit_events")).scalar_one())


@pytest.mark.parametrize(("kind", "options", "message"), [
    ("crimes", {"profile": "generic_incidents"},
     "unknown import kind 'crimes'; the kinds are police, complaint, survey, boundaries, population"),
    ("complaints", {"profile": "generic_complaints"}, "unknown import kind 'complaints'"),
    ("police", {"profile": " "}, "police needs the profile (missing: profile)"),
    ("boundaries", {"layer": "barrios", "id_field": "code", "name_field": None},
     "boundaries need the layer name, the id field and the name field (missing: name_field)"),
    ("population", {"layer": "barrios"},
     "population needs the layer name, the id field and the population field (missing: id_field and "
     "population_field)"),
    ("survey", {"profile": "generic_survey", "sheet": "2"},
     "a survey import takes no option sheet; its options are profile, wave, rejects_path, territory"),
])
def test_a_wrong_kind_or_option_is_one_sentence_and_writes_nothing(sqlite_url, kind, options, message):
    engine = get_engine(sqlite_url)
    path = EXAMPLES / "generic_incidents.csv"
    with pytest.raises(ImportFailed) as caught:
        import_file(kind, path, user_name="ana", via="test", engine=engine, **options)
    assert str(caught.value).startswith(f"{path}: ") and message in str(caught.value)
    assert "\n" not in str(caught.value)
    assert stored_counts(engine) == (0, 0)


def test_the_cli_refuses_an_option_the_kind_does_not_take(sqlite_url, capsys):
    assert main(["ingest", "survey", str(EXAMPLES / "generic_survey.csv"), "--profile", "generic_survey",
                 "--sheet", "2"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "a survey import takes no option sheet" in err
    assert stored_counts(get_engine(sqlite_url)) == (0, 0)


# --- withdrawn records ---------------------------------------------------------------------------------------


def releases(tmp_path: Path, n: int = 120, removed: int = 18, seed: int = 5) -> tuple[Path, Path]:
    """Release 1 with ``n`` records on consecutive days; release 2 without ``removed`` of them (never the
    first or last day, so the second release covers the same period)."""
    start = dt.date(2023, 1, 1)
    rows = [[f"W{i:04d}", (start + dt.timedelta(days=i)).isoformat(), "theft"] for i in range(n)]
    gone = set(random.Random(seed).sample(range(1, n - 1), removed))
    paths = []
    for name, kept in (("release1.csv", rows), ("release2.csv", [r for i, r in enumerate(rows) if i not in gone])):
        path = tmp_path / name
        with path.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([["record_id", "occurred_date", "category"], *kept])
        paths.append(path)
    return paths[0], paths[1]


def expected_withdrawn(first: Path, second: Path) -> list[dict[str, str]]:
    """The records of ``first`` absent from ``second`` dated within ``second``'s period, by id."""
    def read(path):
        with path.open(encoding="utf-8") as fh:
            return {r["record_id"]: r["occurred_date"] for r in csv.DictReader(fh)}
    old, new = read(first), read(second)
    low, high = min(new.values()), max(new.values())
    return [{"source_id": i, "occurred_on": d} for i, d in sorted(old.items())
            if i not in new and low <= d <= high]


def run_json(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_status_shows_and_lists_the_records_a_release_withdrew(db_url, tmp_path, capsys):
    first, second = releases(tmp_path)
    expected = expected_withdrawn(first, second)
    assert len(expected) == 18
    one = run_json(capsys, "ingest", "police", str(first), "--profile", "generic_incidents", "--json")
    two = run_json(capsys, "ingest", "police", str(second), "--profile", "generic_incidents", "--json")
    assert (one["loaded"], two["loaded"], two["duplicates"], two["details"]["withdrawn"]) == (120, 0, 102, 18)
    batches = {b["id"]: b["withdrawn"] for b in run_json(capsys, "status", "--json")["batches"]}
    assert batches == {one["batch_id"]: 0, two["batch_id"]: 18}
    assert main(["status"]) == 0
    out = capsys.readouterr().out
    assert f"withdrawn 18: `status --batch {two['batch_id']}` lists them" in out
    assert out.count("withdrawn") == 1  # the first batch withdrew nothing: no mention

    listing = run_json(capsys, "status", "--batch", str(two["batch_id"]), "--json")
    assert (listing["withdrawn"], listing["not_listed"], listing["records"]) == (18, 0, expected)
    assert main(["status", "--batch", str(two["batch_id"])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == f"batch #{two['batch_id']} ({second}): 18 records withdrawn (in the previous release, " \
                       "absent from this one; kept)"
    assert lines[2:] == [f"  {r['source_id']}\t{r['occurred_on']}" for r in expected]
    assert run_json(capsys, "status", "--batch", str(one["batch_id"]), "--json")["records"] == []
    assert main(["status", "--batch", "999"]) == 2
    assert "batch 999: no such import batch" in capsys.readouterr().err


def test_over_the_listed_limit_the_listing_says_how_many_more(sqlite_url, tmp_path, capsys, monkeypatch):
    from observatory.ingest.incidents import stored

    first, second = releases(tmp_path, seed=8)
    expected = expected_withdrawn(first, second)
    assert main(["ingest", "police", str(first), "--profile", "generic_incidents", "--quiet"]) == 0
    capsys.readouterr()
    monkeypatch.setattr(stored, "WITHDRAWN_LISTED", 5)
    two = run_json(capsys, "ingest", "police", str(second), "--profile", "generic_incidents", "--json")
    listing = run_json(capsys, "status", "--batch", str(two["batch_id"]), "--json")
    assert (listing["withdrawn"], listing["not_listed"], listing["records"]) == (18, 13, expected[:5])
    assert main(["status", "--batch", str(two["batch_id"])]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "  and 13 more (the report lists the first 5 by id)"


def table_rows(component) -> list[list[str]]:
    """The cell texts of every row of the Dash table(s) inside ``component`` (a JSON component tree)."""
    rows: list[list[str]] = []

    def texts(node) -> str:
        if isinstance(node, dict):
            return texts(node.get("props", {}).get("children"))
        if isinstance(node, list):
            return "".join(texts(n) for n in node)
        return "" if node is None else str(node)

    def walk(node) -> None:
        if isinstance(node, list):
            for n in node:
                walk(n)
        elif isinstance(node, dict):
            children = node.get("props", {}).get("children")
            if node.get("type") == "Tr":
                rows.append([texts(cell) for cell in (children if isinstance(children, list) else [children])])
            else:
                walk(children)

    walk(component)
    return rows


def test_the_analyst_page_shows_withdrawn_counts_and_ids(analyst, tmp_path):
    from observatory import queries
    from tests.test_auth_analyst_page import call

    engine, client, headers, public = analyst
    first, second = releases(tmp_path, seed=11)
    expected = expected_withdrawn(first, second)
    for path in (first, second):
        assert "rows read:" in upload(client, headers, path, "police", "generic_incidents")
    with engine.connect() as conn:
        one, two = conn.execute(text("SELECT id FROM import_batches ORDER BY id")).scalars().all()

    history = call(client, "an-history.children", [("an-history-btn", "n_clicks", 1), ("an-report", "children", None)],
                   [], headers).get_json()["response"]["an-history"]["children"]
    header, *rows = table_rows(history)
    assert "withdrawn" in header and "file" in header
    withdrawn = {int(r[0]): int(r[header.index("withdrawn")]) for r in rows}
    assert withdrawn == {one: 0, two: 18}
    assert {r[header.index("file")] for r in rows} == {"release1.csv", "release2.csv"}

    listing = call(client, "an-withdrawn.children", [("an-withdrawn-btn", "n_clicks", 1)],
                   [("an-withdrawn-batch", "value", two)], headers).get_json()["response"]["an-withdrawn"]["children"]
    assert table_rows(listing)[1:] == [[r["source_id"], r["occurred_on"]] for r in expected]

    # the public: nothing from these callbacks, and the public import history names no record
    for output, inputs, state in [
            ("an-history.children", [("an-history-btn", "n_clicks", 1), ("an-report", "children", None)], []),
            ("an-withdrawn.children", [("an-withdrawn-btn", "n_clicks", 1)], [("an-withdrawn-batch", "value", two)])]:
        resp = call(public, output, inputs, state)
        assert resp.status_code == 204 or not any(r["source_id"] in resp.get_data(as_text=True) for r in expected)
    public_history = queries.import_history(engine, role="public").to_csv()
    assert not any(r["source_id"] in public_history for r in expected) and "withdrawn" not in public_history


def test_batch_listings_refuse_the_public_role(sqlite_url):
    """Stored file paths and withdrawn record ids are restricted: the query layer refuses the public."""
    from observatory.queries.batches import recent_batches, withdrawn_records

    engine = get_engine(sqlite_url)
    assert recent_batches(engine, "analyst") == []
    with pytest.raises(PermissionError):
        recent_batches(engine, "public")
    with pytest.raises(PermissionError):
        withdrawn_records(engine, 1, "public")
    with pytest.raises(ValueError, match="batch 1: no such import batch"):
        withdrawn_records(engine, 1, "analyst")
