"""The upload page accepts what the command line reads (issue 11, item 13): XLSX and ODS workbooks and
Excel's "Unicode Text" (UTF-16 with BOM) export, with the same bounds as any zip or text upload."""

from __future__ import annotations

import shutil
import zipfile

import pytest
from sqlalchemy import func, select

from observatory.db.models import Incident
from observatory.db.session import get_engine
from observatory.ingest.incidents import ingest_incidents
from observatory.uploads import UploadRejected, check_upload, sniff, store_upload
from tests.test_readers_spreadsheets import RECORDS, write_ods, write_xlsx

GENERIC = ["record_id", "occurred_date", "occurred_time", "category", "latitude", "longitude"]


def _import(db_url, path) -> int:
    """Load ``path`` with the generic profile; the number of incidents stored."""
    report = ingest_incidents(path, source_kind="police", profile="generic_incidents", engine=get_engine(db_url))
    with get_engine(db_url).connect() as conn:
        stored = conn.execute(select(func.count()).select_from(Incident)).scalar_one()
    assert stored == report.loaded
    return stored


def _valid_records() -> list[list[str]]:
    """The fixture's records the generic profile accepts (P3 has an impossible date)."""
    return [[r[0], str(r[1])[:10], "" if r[2] is None else str(r[2])[:5], r[3],
             "" if r[4] is None else str(r[4]), "" if r[5] is None else str(r[5])] for r in RECORDS if r[0] != "P3"]


def test_an_xlsx_upload_is_stored_as_a_workbook_and_imports(db_url, tmp_path):
    source = tmp_path / "descarga.xlsx"
    write_xlsx(source, title_rows=0)
    data = source.read_bytes()
    assert sniff(data) == "spreadsheet"
    path = store_upload("descarga.xlsx", data, "incidents", folder=tmp_path)
    try:
        assert path.suffix == ".xlsx"
        # three of the four records load (P3's date is impossible): the same as reading the file directly
        assert _import(db_url, path) == len(RECORDS) - 1
    finally:
        shutil.rmtree(path.parent)


def test_an_ods_upload_imports(db_url, tmp_path):
    source = tmp_path / "hoja.ods"
    write_ods(source, [GENERIC, *_valid_records()])
    data = source.read_bytes()
    assert sniff(data) == "spreadsheet"
    path = store_upload("hoja.ods", data, "incidents", folder=tmp_path)
    try:
        assert path.suffix == ".ods"
        assert _import(db_url, path) == len(_valid_records())
    finally:
        shutil.rmtree(path.parent)


def test_a_utf16_unicode_text_upload_imports(db_url, tmp_path):
    text = "\r\n".join("\t".join(row) for row in [GENERIC, *_valid_records()]) + "\r\n"
    data = text.encode("utf-16")  # Python writes the BOM, as Excel does
    assert data[:2] in (b"\xff\xfe", b"\xfe\xff") and sniff(data) == "text"
    path = store_upload("unicode.txt", data, "incidents", folder=tmp_path)
    try:
        assert _import(db_url, path) == len(_valid_records())
    finally:
        shutil.rmtree(path.parent)


def test_a_workbook_bomb_is_refused_like_any_zip(tmp_path):
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/worksheets/sheet1.xml", b"0" * (300 << 20))
    with pytest.raises(UploadRejected, match="expands to"):
        check_upload("bomb.xlsx", bomb.read_bytes(), "incidents")


def test_a_workbook_is_no_boundary_file(tmp_path):
    source = tmp_path / "barrios.xlsx"
    write_xlsx(source, title_rows=0)
    with pytest.raises(UploadRejected, match="spreadsheet file, expected GeoJSON"):
        check_upload("barrios.xlsx", source.read_bytes(), "boundaries")
