"""Spreadsheets (XLSX, ODS) and Excel's "Unicode Text" (UTF-16) export are read directly, with the
spreadsheet's own row numbers in every rejection (issue 11, item 13)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from xml.sax.saxutils import escape

import openpyxl
import pytest
from sqlalchemy import select

from observatory.cli import main
from observatory.db.models import ImportBatch, Incident, RejectedRow
from observatory.db.session import get_engine
from observatory.ingest.incidents import ingest_incidents
from observatory.ingest.profiles import PROFILES_DIR, ProfileError, parse_profile
from observatory.ingest.readers import InputFileError, read_table

HEADER = ["record_id", "occurred_date", "occurred_time", "category", "latitude", "longitude", "neighbourhood_code",
          "victim_age"]
# (record id, date, time, category, lat, lon, area code, age); "P3" has an impossible date
RECORDS = [
    ("P1", dt.date(2024, 3, 1), dt.time(22, 15), "robbery_person", 19.4326, -99.1332, 5001, 34),
    ("P2", dt.datetime(2024, 3, 2, 7, 5), None, "vehicle_theft", 19.4201, -99.1410, 5002, None),
    ("P3", "31/02/2024", "10:00", "burglary", 19.40, -99.15, 5003, 40),
    ("P4", "2024-03-04", "09:30", "robbery_person", None, None, 5001, 27),
]


def write_xlsx(path, *, title_rows: int = 2, extra_sheet: bool = False) -> dict[str, int]:
    """An XLSX as a municipal portal publishes it: title rows, a blank row, then the table.

    Returns the spreadsheet row number of each record id (what Excel shows on the left).
    """
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Datos"
    for i in range(title_rows):
        sheet.append([f"Informe de incidentes ({i + 1})"])
    sheet.append([])  # a blank row above the header
    sheet.append(HEADER)
    rows = {}
    for record in RECORDS:
        sheet.append(list(record))
        rows[record[0]] = sheet.max_row
    sheet.append([])  # a blank row inside the table is not a record
    if extra_sheet:
        notes = book.create_sheet("Notas")
        notes.append(["campo", "significado"])
        notes.append(["record_id", "folio"])
    book.save(path)
    return rows


def _ods_cell(value) -> str:
    if value is None:
        return "<table:table-cell/>"
    if isinstance(value, int | float):
        return (f'<table:table-cell office:value-type="float" office:value="{value}">'
                f"<text:p>{value}</text:p></table:table-cell>")
    return f'<table:table-cell office:value-type="string"><text:p>{escape(str(value))}</text:p></table:table-cell>'


def write_ods(path, rows: list[list]) -> None:
    """A minimal, valid OpenDocument spreadsheet (mimetype first, stored; content.xml; manifest)."""
    body = "".join("<table:table-row>" + "".join(_ods_cell(v) for v in row) + "</table:table-row>" for row in rows)
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
        'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="Hoja1">{body}</table:table>'
        "</office:spreadsheet></office:body></office:document-content>")
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
        '<manifest:file-entry manifest:full-path="/" '
        'manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>'
        '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
        "</manifest:manifest>")
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo("mimetype"), "application/vnd.oasis.opendocument.spreadsheet",
                    compress_type=zipfile.ZIP_STORED)
        zf.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)


def test_xlsx_is_read_with_the_sheets_row_numbers_and_csv_like_text(tmp_path):
    path = tmp_path / "incidentes.xlsx"
    rows = write_xlsx(path)
    with pytest.raises(AssertionError):  # title rows are not guessed away: skip_lines says how many
        assert read_table(path).columns == HEADER
    table = read_table(path, skip_lines=2)
    assert table.columns == HEADER
    assert table.encoding == "sheet:Datos"
    assert table.frame["record_id"].tolist() == ["P1", "P2", "P3", "P4"]
    # two title rows + a blank row + the header: P1 is on row 5, as Excel numbers it
    assert table.row_numbers == [rows[r] for r in ("P1", "P2", "P3", "P4")] == [5, 6, 7, 8]
    # numbers as a CSV export writes them (5001, not 5001.0), dates ISO, blanks empty
    assert table.frame["neighbourhood_code"].tolist() == ["5001", "5002", "5003", "5001"]
    assert table.frame["occurred_date"].tolist()[:2] == ["2024-03-01", "2024-03-02 07:05:00"]
    assert table.frame["occurred_time"].tolist()[:2] == ["22:15:00", ""]
    assert table.frame["latitude"].tolist()[0] == "19.4326"
    assert table.frame["victim_age"].tolist()[1] == ""


def test_a_workbook_with_several_sheets_needs_a_choice(tmp_path):
    path = tmp_path / "incidentes.xlsx"
    write_xlsx(path, title_rows=0, extra_sheet=True)
    with pytest.raises(InputFileError, match=r"incidentes.xlsx: the workbook has 2 sheets .*'Datos'.*'Notas'.*sheet"):
        read_table(path)
    assert read_table(path, sheet="Datos").frame["record_id"].tolist() == ["P1", "P2", "P3", "P4"]
    assert read_table(path, sheet=2).columns == ["campo", "significado"]
    assert read_table(path, sheet="2").columns == ["campo", "significado"]  # from the command line
    with pytest.raises(InputFileError, match="no sheet named 'Hoja3'"):
        read_table(path, sheet="Hoja3")
    with pytest.raises(InputFileError, match="sheet 3 does not exist"):
        read_table(path, sheet=3)


def test_ods_is_read_with_its_row_numbers(tmp_path):
    path = tmp_path / "denuncias.ods"
    write_ods(path, [["Denuncias 2024"], [], ["id", "barrio", "n"], ["a", "San José", 3], [], ["b", "Álamos", 2.5]])
    table = read_table(path, skip_lines=1)
    assert table.columns == ["id", "barrio", "n"]
    assert table.frame.to_dict("list") == {"id": ["a", "b"], "barrio": ["San José", "Álamos"], "n": ["3", "2.5"]}
    assert table.row_numbers == [4, 6]


def test_a_spreadsheet_without_its_extension_is_still_recognised(tmp_path):
    path = tmp_path / "descarga"  # portals often serve "descarga.php?id=..." with no extension
    write_xlsx(path, title_rows=0)
    assert read_table(path).frame["record_id"].tolist() == ["P1", "P2", "P3", "P4"]


def unicode_text_export(rows: list[list[str]]) -> bytes:
    """What Excel's "Save as Unicode Text" writes: UTF-16 little-endian with BOM, tab-separated, CRLF."""
    buffer = io.StringIO()
    csv.writer(buffer, delimiter="\t", lineterminator="\r\n").writerows(rows)
    return b"\xff\xfe" + buffer.getvalue().encode("utf-16-le")


def test_excel_unicode_text_export_is_read(tmp_path):
    path = tmp_path / "denuncias.txt"
    path.write_bytes(unicode_text_export([["id", "barrio"], ["1", "Peñalolén"], ["2", "São Paulo"]]))
    table = read_table(path)
    assert (table.encoding, table.delimiter) == ("utf-16", "\t")
    assert table.frame["barrio"].tolist() == ["Peñalolén", "São Paulo"]
    assert table.row_numbers == [2, 3]
    # without a BOM (some tools drop it), the NUL of every other byte gives UTF-16 away
    path.write_bytes(unicode_text_export([["id", "barrio"], ["1", "Ñuñoa"]])[2:])
    assert read_table(path).frame["barrio"].tolist() == ["Ñuñoa"]


def test_sheet_profile_key_is_validated():
    base = {"kind": "incidents", "name": "x", "columns": {"occurred_date": ["fecha"]}}
    assert parse_profile({**base, "sheet": "Datos"}, "t").sheet == "Datos"
    assert parse_profile({**base, "sheet": 2}, "t").sheet == 2
    with pytest.raises(ProfileError, match="profile t: sheet must be a sheet name or a sheet number from 1"):
        parse_profile({**base, "sheet": 0}, "t")


def _stored(url):
    engine = get_engine(url)
    with engine.connect() as conn:
        ids = sorted(conn.scalars(select(Incident.source_id)))
        rejected = conn.execute(select(RejectedRow.row_number, RejectedRow.field)).all()
        status = conn.scalars(select(ImportBatch.status)).all()
    return ids, [tuple(r) for r in rejected], status


def test_xlsx_import_end_to_end_reports_the_sheet_row(db_url, tmp_path):
    path = tmp_path / "incidentes.xlsx"
    rows = write_xlsx(path, extra_sheet=True)
    profile = tmp_path / "city.toml"
    generic = (PROFILES_DIR / "generic_incidents.toml").read_text(encoding="utf-8")
    profile.write_text(generic.replace('name = "generic_incidents"',
                                       'name = "city_xlsx"\nsheet = "Datos"\nskip_lines = 2', 1), encoding="utf-8")
    report = ingest_incidents(path, source_kind="police", profile=str(profile), engine=get_engine(db_url))
    assert (report.total, report.loaded, report.rejected) == (4, 3, 1)
    ids, rejected, status = _stored(db_url)
    assert ids == ["P1", "P2", "P4"]
    assert rejected == [(rows["P3"], "occurred_date")] == [(7, "occurred_date")]
    assert status == ["done"]


def test_cli_sheet_option_overrides_the_profile(db_url, tmp_path, capsys):
    path = tmp_path / "incidentes.xlsx"
    write_xlsx(path, title_rows=0, extra_sheet=True)
    # without a sheet, a two-sheet workbook stops with the sheets listed and nothing stored
    assert main(["ingest", "police", str(path), "--profile", "generic_incidents", "--quiet"]) == 2
    assert "choose one with the profile key sheet" in capsys.readouterr().err
    assert _stored(db_url)[0] == []
    assert main(["ingest", "police", str(path), "--profile", "generic_incidents", "--quiet", "--sheet", "1"]) == 0
    assert _stored(db_url)[0] == ["P1", "P2", "P4"]


def test_unicode_text_import_end_to_end(db_url, tmp_path):
    rows = [HEADER] + [[str(v) if v is not None else "" for v in r] for r in RECORDS]
    rows[1][1] = "2024-03-01"
    rows[2][1] = "2024-03-02"
    path = tmp_path / "incidentes.txt"
    path.write_bytes(unicode_text_export(rows))
    report = ingest_incidents(path, source_kind="police", profile="generic_incidents", engine=get_engine(db_url))
    assert (report.total, report.loaded, report.rejected) == (4, 3, 1)
    ids, rejected, _ = _stored(db_url)
    assert ids == ["P1", "P2", "P4"]
    assert rejected == [(4, "occurred_date")]  # the header is line 1, P3 is line 4


def test_a_zipped_csv_is_not_taken_for_a_spreadsheet(tmp_path):
    path = tmp_path / "export.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("export.csv", "id,barrio\n1,Centro\n")
    with pytest.raises(InputFileError, match=r"export.zip: binary file .*a zip archive.*unzip it"):
        read_table(path)


def test_the_readme_xlsx_example_is_a_valid_profile():
    import tomllib

    from tests.conftest import REPO_ROOT

    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    block = readme.split('name = "mi_ciudad"')[1].split("```")[0]
    profile = parse_profile(tomllib.loads('kind = "incidents"\nname = "mi_ciudad"' + block), "README")
    assert (profile.sheet, profile.skip_lines) == ("Datos", 1)
