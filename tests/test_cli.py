"""The command line: subcommands, --json reports, clear errors and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys

from sqlalchemy import select

from observatory.cli import main
from observatory.db.models import CrimeCategory, Incident
from observatory.db.session import get_engine
from tests.conftest import EXAMPLES, FIXTURES, REPO_ROOT

REPORT_KEYS = {"total", "loaded", "rejected", "duplicates", "unassigned", "batch_id"}


def run_json(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_ingest_json_report_and_second_run(db_url, capsys):
    path = str(EXAMPLES / "generic_incidents.csv")
    first = run_json(capsys, "ingest", "police", path, "--profile", "generic_incidents", "--json")
    assert REPORT_KEYS <= set(first)
    assert first["loaded"] == first["total"] > 0 and first["balanced"]
    second = run_json(capsys, "ingest", "police", path, "--profile", "generic_incidents", "--json")
    assert second["loaded"] == 0 and second["duplicates"] == first["total"]
    assert second["batch_id"] == first["batch_id"] + 1


def test_boundaries_and_status(sqlite_url, capsys):
    report = run_json(capsys, "boundaries", "import", str(FIXTURES / "incidents" / "barrios.geojson"), "--layer",
                      "barrios", "--id-field", "code", "--name-field", "name", "--population-field", "population",
                      "--json")
    assert REPORT_KEYS <= set(report)
    complaints = run_json(capsys, "ingest", "complaints", str(EXAMPLES / "generic_complaints.csv"), "--profile",
                          "generic_complaints", "--json")
    assert complaints["source_kind"] == "complaint" and complaints["unassigned"] < complaints["loaded"]
    data = run_json(capsys, "status", "--json")
    assert data["layers"][0]["name"] == "barrios" and data["layers"][0]["areas"] == 3
    assert data["incidents"][0]["records"] == complaints["loaded"]
    assert main(["status"]) == 0
    text = capsys.readouterr().out
    assert "barrios (primary): 3 areas" in text and "complaint / generic_complaints" in text


def test_rejects_file_and_alias_add_reclassifies(sqlite_url, capsys, tmp_path):
    data = tmp_path / "export.csv"
    data.write_text("record_id,occurred_date,category,latitude\nA,2024-01-01,Cosa rara,\nB,2024-99-01,theft,\n"
                    "C,2024-01-02,theft,norte\n")
    rejects = tmp_path / "rejects.csv"
    report = run_json(capsys, "ingest", "police", str(data), "--profile", "generic_incidents", "--rejects",
                      str(rejects), "--json")
    assert report["rejected"] == 2 and report["unknown_labels"] == {"Cosa rara": 1}
    lines = rejects.read_text().splitlines()
    assert lines[0].startswith("file,row,field,reason") and len(lines) == 3
    assert main(["alias", "add", "COSA RARA", "fraud"]) == 0
    assert "1 stored unclassified incidents reclassified" in capsys.readouterr().out
    with get_engine(sqlite_url).connect() as conn:
        code = conn.execute(select(CrimeCategory.code).join(Incident, Incident.category_id == CrimeCategory.id)
                            .where(Incident.source_id == "A")).scalar_one()
    assert code == "fraud"
    assert main(["alias", "add", "x", "no_such_category"]) == 2
    assert "unknown category 'no_such_category'" in capsys.readouterr().err


def test_errors_are_one_sentence_with_nonzero_exit(sqlite_url, capsys, tmp_path):
    assert main(["ingest", "police", str(tmp_path / "missing.csv"), "--profile", "generic_incidents"]) == 2
    err = capsys.readouterr().err
    assert "missing.csv" in err and err.count("\n") == 1
    bad_profile = tmp_path / "p.toml"
    bad_profile.write_text('kind = "incidents"\nname = "p"\n[columns]\noccurred_date = "F"\nwhen = "W"\n')
    assert main(["ingest", "police", str(EXAMPLES / "generic_incidents.csv"), "--profile", str(bad_profile)]) == 2
    err = capsys.readouterr().err
    assert "p.toml" in err and "'when'" in err
    assert main(["ingest", "police", str(EXAMPLES / "generic_incidents.csv"), "--profile", "nope"]) == 2
    assert "unknown profile" in capsys.readouterr().err


def test_python_dash_m_entry_point(sqlite_url):
    done = subprocess.run([sys.executable, "-m", "observatory", "db", "upgrade"], capture_output=True, text=True,
                          cwd=REPO_ROOT, timeout=120)
    assert done.returncode == 0 and "database at head" in done.stdout
    failed = subprocess.run([sys.executable, "-m", "observatory", "ingest", "police", "nowhere.csv", "--profile",
                             "generic_incidents"], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert failed.returncode == 2 and "nowhere.csv" in failed.stderr
