"""Reading messy exports: encodings, delimiters, line ends and broken records."""

from __future__ import annotations

import gzip

import pytest

from observatory.ingest.readers import InputFileError, read_table


def test_latin1_semicolon_file_is_decoded(tmp_path):
    path = tmp_path / "denuncias.csv"
    path.write_bytes("barrio;delito\nSan José;Hurto\nÁlamos;Riña\n".encode("cp1252"))
    table = read_table(path)
    assert table.encoding == "cp1252"
    assert table.delimiter == ";"
    assert table.frame["barrio"].tolist() == ["San José", "Álamos"]


def test_bom_and_embedded_carriage_returns_keep_row_numbers(tmp_path):
    path = tmp_path / "ensu.csv"
    path.write_bytes(b'\xef\xbb\xbf"CD","P1"\r\n"01\r","2\r"\r\n"02\r","1\r"\r\n')
    table = read_table(path)
    assert table.columns == ["CD", "P1"]
    assert table.frame["CD"].tolist() == ["01", "02"]
    assert table.row_numbers == [2, 3]


def test_truncated_last_line_is_a_bad_row_with_its_line(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b,c\n1,2,3\n4,5\n", encoding="utf-8")
    table = read_table(path)
    assert len(table.frame) == 1
    assert [b.row_number for b in table.bad_rows] == [3]
    assert "too few fields" in table.bad_rows[0].reason
    assert table.total == 2


def test_gzip_and_tab_separated(tmp_path):
    path = tmp_path / "asb.tab"
    path.write_bytes(gzip.compress(b"month\tlsoa_code\n2022-01-01\tE01\n"))
    table = read_table(path)
    assert table.delimiter == "\t"
    assert table.frame.iloc[0].tolist() == ["2022-01-01", "E01"]


def test_binary_file_is_refused_with_its_name(tmp_path):
    path = tmp_path / "photo.csv"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR")
    with pytest.raises(InputFileError, match=r"photo\.csv"):
        read_table(path)
