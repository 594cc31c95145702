"""The import command's report (issue 11, item 12): the plain-text report has the figures ``--json`` has,
``--json`` prints an error object when the import fails, and the progress is printed once."""

from __future__ import annotations

import json

from sqlalchemy import select

from observatory.cli import main
from observatory.db.models import ImportBatch, Incident
from observatory.db.session import get_engine
from tests.test_ingest_faithful import (
    IN_DOWNTOWN,
    IN_KITSILANO,
    OUTSIDE,
    VPD_HEADER,
    count,
    generic_rows,
    utm,
    vancouver,
    vpd_profile,
    write_csv,
)


def vpd_file(tmp_path):
    rows = [["Theft", "2023-01-05", "10", "0", "Downtown", *utm(IN_DOWNTOWN)],
            ["Theft", "2023-01-05", "10", "0", "Downtown", *utm(IN_KITSILANO)],
            ["Theft", "2023-01-05", "10", "0", "Kitsilano", *utm(OUTSIDE)],
            ["Theft", "2023-01-06", "10", "0", "Kitsilano", *utm(OUTSIDE)],
            ["Theft", "2023-01-06", "10", "0", "Downtown", "0", "0"]]
    return write_csv(tmp_path / "vpd.csv", VPD_HEADER, rows)


def test_plain_text_report_has_the_outside_and_mismatch_figures_of_json(db_url, tmp_path, capsys):
    engine = get_engine(db_url)
    vancouver(engine, tmp_path)
    path, profile = vpd_file(tmp_path), vpd_profile(tmp_path)
    assert main(["ingest", "police", str(path), "--profile", str(profile), "--quiet"]) == 0
    text = capsys.readouterr().out
    with engine.connect() as conn:
        # the stored report is what --json prints
        stmt = select(ImportBatch.report).where(ImportBatch.source_kind == "police")
        details = conn.execute(stmt).scalar_one()["details"]
    # by hand: 2 points outside both squares (placed by their name); 2 compared rows, 1 disagreeing;
    # 3 rows declaring an area not compared (2 outside, 1 zeroed)
    assert (details["outside_boundaries"], details["declared_checked"], details["declared_disagree"],
            details["declared_uncompared"], details["zero_coordinates"]) == (2, 2, 1, 3, 1)
    assert "outside every area: 2; assigned by: " in text
    assert "declared area vs point: 1 of 2 compared rows disagree (50.0%); 3 rows declaring an area could not " \
           "be compared" in text
    assert "without coordinates: 1 (of which (0,0) placeholders: 1)" in text


def test_json_prints_an_error_object_when_the_import_fails(db_url, tmp_path, capsys):
    engine = get_engine(db_url)
    header, rows = generic_rows(20, bad=20)
    path = write_csv(tmp_path / "wrong.csv", header, rows)
    assert main(["ingest", "police", str(path), "--profile", "generic_incidents", "--json"]) == 2
    captured = capsys.readouterr()
    error = json.loads(captured.out)
    assert error["status"] == "failed" and "20 of 20 rows rejected" in error["error"]
    assert error["report"]["rejected"] == 20 and error["report"]["loaded"] == 0
    assert "error: " in captured.err and count(engine, Incident) == 0
    # an error before any row is read (no profile) is an object too
    assert main(["ingest", "police", str(path), "--profile", "no_such_profile", "--json"]) == 2
    error = json.loads(capsys.readouterr().out)
    assert error["status"] == "failed" and "no_such_profile" in error["error"] and error["report"] is None
    # the user's limit: with --max-rejected-share 1 the same file "imports" nothing, successfully
    assert main(["ingest", "police", str(path), "--profile", "generic_incidents", "--json",
                 "--max-rejected-share", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["loaded"], report["rejected"]) == (0, 20)


def test_progress_is_printed_once(db_url, tmp_path, capsys):
    header, rows = generic_rows(30, bad=0)
    path = write_csv(tmp_path / "ok.csv", header, rows)
    assert main(["ingest", "police", str(path), "--profile", "generic_incidents"]) == 0
    err = capsys.readouterr().err
    assert err.count("importing ok.csv") == 1, err
    assert "30 of 30 rows written" in err
