"""Hostile uploads: size and type limits, zip and gzip bombs, path tricks (observatory.uploads)."""

from __future__ import annotations

import base64
import gzip
import io
import json
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from observatory import uploads
from observatory.uploads import UploadLimits, UploadRejected

CSV = b"record_id,occurred_date,category\n1,2024-01-02,robbery\n2,2024-01-03,homicide\n"
SMALL = UploadLimits(max_bytes=1 << 20, max_uncompressed=8 << 20)
GEOJSON = json.dumps({"type": "FeatureCollection", "features": []}).encode()


def zipped(members: dict[str, bytes], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def test_plain_csv_is_stored_under_a_safe_name(tmp_path):
    path = uploads.store_upload("../../etc/passwd;rm -rf.csv", CSV, "incidents", folder=tmp_path, limits=SMALL)
    assert path.read_bytes() == CSV
    assert path.parent.parent == tmp_path and path.name == "passwd_rm_-rf.csv"


def test_gzip_csv_accepted(tmp_path):
    path = uploads.store_upload("x.csv.gz", gzip.compress(CSV), "survey", folder=tmp_path, limits=SMALL)
    assert gzip.decompress(path.read_bytes()) == CSV and path.name.endswith(".csv.gz")


def test_zip_with_one_csv_is_extracted(tmp_path):
    path = uploads.store_upload("export.zip", zipped({"data/export.csv": CSV, "README.txt.md": b"x"}),
                                "incidents", folder=tmp_path, limits=SMALL)
    assert path.name == "export.csv" and path.read_bytes() == CSV


def test_zipped_shapefile_for_boundaries(tmp_path):
    members = {"b/areas.shp": b"\x00\x00\x27\x0a" + b"\x00" * 96, "b/areas.dbf": b"\x03", "b/areas.shx": b"\x00",
               "b/areas.prj": b"GEOGCS"}
    path = uploads.store_upload("areas.zip", zipped(members), "boundaries", folder=tmp_path, limits=SMALL)
    assert path.suffix == ".shp" and (path.parent / "areas.dbf").exists()
    with pytest.raises(UploadRejected, match="dbf"):
        uploads.store_upload("areas.zip", zipped({"a.shp": b"x", "a.shx": b"y"}), "boundaries", limits=SMALL)


def test_geojson_and_gpkg_for_boundaries(tmp_path):
    assert uploads.store_upload("a.json", GEOJSON, "boundaries", folder=tmp_path, limits=SMALL).suffix == ".geojson"
    gpkg = b"SQLite format 3\x00" + b"\x00" * 200
    assert uploads.store_upload("a.gpkg", gpkg, "boundaries", folder=tmp_path, limits=SMALL).suffix == ".gpkg"
    with pytest.raises(UploadRejected, match="GeoJSON"):
        uploads.check_upload("a.geojson", b'{"type": "FeatureCollection", "features": [', "boundaries", SMALL)


@pytest.mark.parametrize(("name", "data", "purpose", "message"), [
    ("empty.csv", b"", "incidents", "empty"),
    ("photo.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 50, "incidents", "binary"),
    ("book.csv", b"PK\x03\x04" + b"\x00" * 40, "incidents", "zip"),
    # a workbook is a table (tests/test_uploads_spreadsheets.py), never a boundary file
    ("book.zip", zipped({"[Content_Types].xml": b"<x/>", "xl/workbook.xml": b"<x/>"}), "boundaries", "spreadsheet"),
    ("db.csv", b"SQLite format 3\x00" + b"\x00" * 100, "survey", "gpkg"),
    ("a.geojson", CSV, "boundaries", "text"),
    ("broken.csv.gz", gzip.compress(CSV)[:-12], "incidents", "truncated|corrupt"),
    ("bin.csv.gz", gzip.compress(b"\x00\x01\x02" * 100), "incidents", "not a delimited text"),
])
def test_wrong_or_broken_types_are_refused(name, data, purpose, message):
    with pytest.raises(UploadRejected, match=message):
        uploads.check_upload(name, data, purpose, SMALL)


def test_size_limit():
    with pytest.raises(UploadRejected, match="upload limit"):
        uploads.check_upload("big.csv", CSV * (SMALL.max_bytes // len(CSV) + 1), "incidents", SMALL)


def test_gzip_bomb_is_refused_without_inflating_it():
    bomb = gzip.compress(b"0" * (200 << 20), compresslevel=9)  # 200 MB of zeros in ~200 KB
    assert len(bomb) < SMALL.max_bytes
    with pytest.raises(UploadRejected, match="decompresses to more than"):
        uploads.check_upload("bomb.csv.gz", bomb, "incidents", SMALL)


def test_zip_bomb_is_refused(tmp_path):
    bomb = zipped({"a.csv": b"1," * (50 << 20)})  # 100 MB declared in ~100 KB
    with pytest.raises(UploadRejected, match="expands to"):
        uploads.store_upload("bomb.zip", bomb, "incidents", folder=tmp_path, limits=SMALL)
    assert not any(p.stat().st_size > SMALL.max_uncompressed for p in tmp_path.rglob("*") if p.is_file())


def test_zip_that_lies_about_its_size_is_stopped(tmp_path):
    # Rewrite the declared sizes in the headers: extraction must count the real bytes.
    data = bytearray(zipped({"a.csv": b"1," * (10 << 20)}))
    real = (20 << 20).to_bytes(4, "little")
    small = (100).to_bytes(4, "little")
    data = bytes(data).replace(real, small)
    with pytest.raises(UploadRejected):
        uploads.store_upload("liar.zip", data, "incidents", folder=tmp_path, limits=SMALL)
    assert all(p.stat().st_size <= SMALL.max_uncompressed for p in tmp_path.rglob("*") if p.is_file())


@pytest.mark.parametrize(("members", "message"), [
    ({"../evil.csv": CSV}, "unsafe path"),
    ({"/etc/cron.d/x.csv": CSV}, "unsafe path"),
    ({"inner.zip": zipped({"a.csv": CSV})}, "archives inside"),
    ({"a.csv": CSV, "b.csv": CSV}, "exactly one"),
    ({f"f{i}.txt": b"x" for i in range(60)}, "at most"),
    ({"notes.docx": b"x"}, "exactly one"),
    ({"a.csv": b"\x00\x01binary"}, "not a delimited"),
])
def test_bad_zip_contents(members, message, tmp_path):
    with pytest.raises(UploadRejected, match=message):
        uploads.store_upload("x.zip", zipped(members), "incidents", folder=tmp_path, limits=SMALL)


def test_zip_symlink_is_refused(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link.csv")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(UploadRejected, match="link"):
        uploads.store_upload("x.zip", buf.getvalue(), "incidents", folder=tmp_path, limits=SMALL)


def test_dash_contents_decoding():
    contents = "data:text/csv;base64," + base64.b64encode(CSV).decode()
    assert uploads.decode_dash_contents(contents, "a.csv", SMALL) == CSV
    with pytest.raises(UploadRejected, match="not base64"):
        uploads.decode_dash_contents("garbage", "a.csv", SMALL)
    with pytest.raises(UploadRejected, match="corrupt"):
        uploads.decode_dash_contents("data:text/csv;base64,@@@@", "a.csv", SMALL)
    tiny = UploadLimits(max_bytes=10, max_uncompressed=100)
    with pytest.raises(UploadRejected, match="upload limit"):
        uploads.decode_dash_contents(contents, "a.csv", tiny)


@settings(max_examples=60, derandomize=True, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=4096), purpose=st.sampled_from(uploads.PURPOSES),
       name=st.text(max_size=40))
def test_random_bytes_are_accepted_or_rejected_cleanly(data, purpose, name, tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzz")
    try:
        path = uploads.store_upload(name, data, purpose, folder=folder, limits=SMALL)
    except UploadRejected as exc:
        assert str(exc)  # a message for the person uploading
        return
    assert path.exists() and folder in path.parents


@settings(max_examples=40, derandomize=True, deadline=None, database=None)
@given(data=st.data())
def test_mutated_archives_never_crash(data, tmp_path_factory):
    kind = data.draw(st.sampled_from(["zip", "gzip"]))
    blob = bytearray(zipped({"a.csv": CSV * 20}) if kind == "zip" else gzip.compress(CSV * 20))
    for _ in range(data.draw(st.integers(1, 8))):
        pos = data.draw(st.integers(0, len(blob) - 1))
        blob[pos] = data.draw(st.integers(0, 255))
    if data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(1, len(blob)))]
    folder = tmp_path_factory.mktemp("arch")
    try:
        uploads.store_upload(f"a.{kind}", bytes(blob), "incidents", folder=folder, limits=SMALL)
    except UploadRejected:
        pass
