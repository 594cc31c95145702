"""Hostile uploads replayed through the analyst page and ``observatory.uploads`` (issue 9).

- a multi-member gzip (``cat small.gz bomb.gz``) is counted member by member;
- a header with 10^6 columns is refused at once, in bounded memory, naming the line;
- a deeply nested GeoJSON is refused with a sentence (it used to be an HTTP 500);
- refused zips and every failed upload leave the temporary folder empty;
- the profile field takes built-in names or an uploaded profile file, never a server path.

Real CDMX files from ../shared pass the same checks unchanged.
"""

from __future__ import annotations

import base64
import csv
import gzip
import io
import json
import random
import tempfile
import tracemalloc
import zipfile

import pytest

from observatory import audit, uploads
from observatory.db.session import get_engine
from observatory.ingest.profiles import PROFILES_DIR
from observatory.upload_scan import MAX_COLUMNS, MAX_JSON_DEPTH, json_depth
from observatory.uploads import UploadLimits, UploadRejected
from tests.conftest import realdata
from tests.test_auth_analyst_page import call, login
from tests.test_callback_leaks import world  # noqa: F401 -- the shared module fixture

DEFAULT = UploadLimits(max_bytes=100 << 20, max_uncompressed=1000 << 20)
CSV = b"record_id,occurred_date,category\n1,2024-01-02,robbery\n2,2024-01-03,homicide\n"


def zipped(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def nested_geojson(depth: int) -> bytes:
    inner = "[" * depth + "]" * depth
    return ('{"type": "FeatureCollection", "features": [{"type": "Feature", "properties": {"x": ' + inner +
            '}, "geometry": {"type": "Point", "coordinates": [-99.1, 19.4]}}]}').encode()


# --- gzip members -------------------------------------------------------------------------------


def test_a_bomb_in_the_second_gzip_member_is_counted():
    limits = UploadLimits(max_bytes=1 << 20, max_uncompressed=8 << 20)
    row = b"9,2024-01-01,theft\n"
    bomb = gzip.compress(CSV) + b"".join(gzip.compress(row * (1 << 16)) for _ in range(40))
    real_size = len(gzip.decompress(bomb))  # what the importer would read: every member
    assert len(bomb) < limits.max_bytes and real_size > limits.max_uncompressed
    with pytest.raises(UploadRejected, match="decompresses to more than 8 MB"):
        uploads.check_upload("cat.csv.gz", bomb, "incidents", limits)


def test_trailing_garbage_and_a_binary_second_member_are_refused():
    with pytest.raises(UploadRejected, match="not gzip"):
        uploads.check_upload("x.csv.gz", gzip.compress(CSV) + b"garbage", "incidents", DEFAULT)
    wide = (",".join(["c"] * (MAX_COLUMNS + 5)) + "\n").encode()
    with pytest.raises(UploadRejected, match="line 4 has more than 2000 columns"):
        uploads.check_upload("x.csv.gz", gzip.compress(CSV) + gzip.compress(wide), "incidents", DEFAULT)


def test_real_cdmx_export_in_two_gzip_members_lands_whole(world, tmp_path):  # noqa: F811
    """The SSP CDMX export, first 3000 rows, split in two members: the import sees every row of both."""
    path = realdata("cdmx", "ssp_cdmx_crime_lat_long_2013_2016.csv")
    lines = path.read_bytes().splitlines(keepends=True)[:3001]
    data = b"".join(lines)
    blob = gzip.compress(b"".join(lines[:1500])) + gzip.compress(b"".join(lines[1500:]))
    assert uploads.check_upload("ssp.csv.gz", blob, "incidents", DEFAULT) == "gzip"
    expected_rows = sum(1 for _ in csv.reader(io.StringIO(data.decode("utf-8")))) - 1  # reference: csv module
    app, _, _ = world
    client, headers = login(app, "ana")
    report = upload(client, headers, "ssp_2parts.csv.gz", blob, "police", "cdmx_ssp")
    assert f"rows read: {expected_rows:,}" in report, report[:600]
    assert expected_rows == 3000


# --- columns and lines --------------------------------------------------------------------------


def test_a_million_columns_are_refused_at_once_in_bounded_memory():
    wide = (",".join(f"c{i}" for i in range(10 ** 6)) + "\n" + ",".join(["1"] * 10 ** 6) + "\n").encode()
    assert len(wide) > 9 << 20  # the 9.4 MB file of the probe
    tracemalloc.start()
    try:
        with pytest.raises(UploadRejected, match=r"wide.csv: line 1 has more than 2000 columns"):
            uploads.check_upload("wide.csv", wide, "incidents", DEFAULT)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, peak  # the probe saw 2.9 GB; the check holds about one 1 MiB chunk
    for name, blob in (("wide.csv.gz", gzip.compress(wide)), ("wide.zip", zipped({"wide.csv": wide}))):
        with pytest.raises(UploadRejected, match="more than 2000 columns"):
            uploads.check_upload(name, blob, "incidents", DEFAULT) if name.endswith(".gz") else \
                uploads.store_upload(name, blob, "incidents", limits=DEFAULT)


@pytest.mark.parametrize(("data", "message"), [
    (CSV + b"3," + b";" * 3000 + b"\n", "line 4 has more than 2000 columns"),
    (CSV + b"4," + b"x" * (2 << 20) + b"\n", "line 4 is longer than 1 MB"),
    # A header whose width hides behind quoted line breaks: each line is narrow, the record is not.
    ((",".join(['"a\n"'] * 3000) + "\n1\n").encode(), "has 3000 columns"),
])
def test_wide_or_long_lines_are_refused_with_their_line(data, message):
    with pytest.raises(UploadRejected, match=message):
        uploads.check_upload("shape.csv", data, "incidents", DEFAULT)


@pytest.mark.parametrize("parts", [("mexico_surveys", "envipe_2021", "envipe2021_TPer_Vic2_cdmx.csv"),
                                   ("cdmx", "ssp_cdmx_crime_lat_long_2013_2016.csv"),
                                   ("cdmx", "cuadrante_sector_alcaldia.csv")])
def test_real_exports_pass_the_shape_checks(parts):
    data = realdata(*parts).read_bytes()
    header = next(csv.reader(io.StringIO(data[:65536].decode("latin-1"))))
    assert len(header) < MAX_COLUMNS  # ENVIPE persons: 149, the widest real file
    assert uploads.check_upload(parts[-1], data, "survey" if "envipe" in parts[-1] else "incidents") == "text"


# --- nested JSON --------------------------------------------------------------------------------


def _reference_depth(value) -> int:
    if isinstance(value, dict):
        return 1 + max((_reference_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_reference_depth(v) for v in value), default=0)
    return 0


@pytest.mark.parametrize("name", ["cuadrantes.geojson", "alcaldias.geojson", "sectores.geojson"])
def test_json_depth_matches_a_parse_on_real_geojson(name):
    data = realdata("cdmx", name).read_bytes()
    assert json_depth(data) == _reference_depth(json.loads(data))
    assert uploads.check_upload(name, data, "boundaries") == "geojson"


def test_brackets_inside_strings_do_not_count():
    doc = {"type": "FeatureCollection", "features": [], "name": "[[[[{{{{ \\\" ]]]", "k": ["a\"[", "]"]}
    data = json.dumps(doc).encode()
    assert json_depth(data) == _reference_depth(doc) == 2


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 2000, 200_000])
def test_nested_geojson_is_refused_with_a_sentence(depth):
    data = nested_geojson(depth)
    with pytest.raises(UploadRejected, match=r"nests \d+ levels deep"):
        uploads.check_upload("deep.geojson", data, "boundaries", DEFAULT)
    if depth <= 2000:  # deeper, the zip is refused earlier for its compression ratio
        with pytest.raises(UploadRejected, match=r"deep.zip: deep.geojson: the GeoJSON nests"):
            uploads.store_upload("deep.zip", zipped({"deep.geojson": data}), "boundaries", limits=DEFAULT)


# --- through the analyst page: no HTTP 500, no temp files, no server paths -------------------------


def upload(client, headers, name: str, blob: bytes, kind: str, profile, profile_file: tuple | None = None) -> str:
    contents = "data:application/octet-stream;base64," + base64.b64encode(blob).decode()
    pcontents = pname = None
    if profile_file:
        pname = profile_file[0]
        pcontents = "data:application/octet-stream;base64," + base64.b64encode(profile_file[1]).decode()
    resp = call(client, "an-report.children", [("an-upload", "contents", contents)],
                [("an-upload", "filename", name), ("an-kind", "value", kind), ("an-profile", "value", profile),
                 ("an-layer", "value", "capa_x" if kind == "boundaries" else None),
                 ("an-id-field", "value", "id" if kind == "boundaries" else None),
                 ("an-name-field", "value", "name" if kind == "boundaries" else None),
                 ("an-source-layer", "value", None), ("an-encoding", "value", None),
                 ("an-profile-file", "contents", pcontents), ("an-profile-file", "filename", pname),
                 ("an-population-field", "value", None)], headers)
    assert resp.status_code == 200, resp.get_data(as_text=True)[:500]
    return resp.get_data(as_text=True)


@pytest.fixture
def temp_folder(tmp_path, monkeypatch):
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    return folder


def test_failed_uploads_leave_no_temporary_files(world, temp_folder):  # noqa: F811
    app, _, _ = world
    client, headers = login(app, "ana")
    rng = random.Random(9)  # rows that do not compress 200:1, so the zip checks go past the ratio test
    big = "".join(f"{rng.randrange(10**9)},2024-01-{rng.randrange(1, 29):02d},theft\n"
                  for _ in range(50_000)).encode()  # ~1.3 MB per member once extracted
    cases = [
        ("two.zip", zipped({"a.csv": CSV + big, "b.csv": CSV + big}), "police", "exactly one"),
        ("wide.zip", zipped({"a.csv": CSV + big + b",".join([b"x"] * 3000) + b"\n"}), "police", "columns"),
        ("deep.zip", zipped({"d.geojson": nested_geojson(500)}), "boundaries", "levels deep"),
        ("ok.csv", CSV, "police", "must be one of the built-in"),  # stored, then the profile is refused
        ("nodate.csv", b"a,b\n1,2\n", "police", "danger"),  # stored, then the importer refuses it
    ]
    for name, blob, kind, expected in cases:
        profile = "not_a_profile" if name == "ok.csv" else ("generic_incidents" if kind == "police" else "")
        text = upload(client, headers, name, blob, kind, profile)
        assert expected in text, (name, text[:400])
        assert list(temp_folder.iterdir()) == [], name
    engine = get_engine(app.server.config["OBSERVATORY_DATABASE_URL"])
    assert len(audit.list_events(engine, action="import_refused")) >= len(cases)


def test_nested_geojson_through_the_page_is_a_sentence_not_a_500(world, temp_folder):  # noqa: F811
    app, _, _ = world
    client, headers = login(app, "ana")
    text = upload(client, headers, "deep.geojson", nested_geojson(100_000), "boundaries", "")
    # {collection [features {feature {properties, then the 100 000 brackets
    assert f"nests {100_000 + 4} levels deep" in text and "alert" in text.lower()
    assert list(temp_folder.iterdir()) == []


def test_profile_field_refuses_server_paths_alike(world, temp_folder):  # noqa: F811
    """An existing server file, a missing one and a traversal get the same answer: no oracle, no keys."""
    app, _, _ = world
    client, headers = login(app, "ana")
    probes = ["/etc/passwd", "/etc/no-such-file.toml", "../../pyproject.toml", str(PROFILES_DIR / "cdmx_ssp.toml"),
              "/proc/self/environ", "generic_survey"]  # the last: a survey profile for an incident file
    answers = {upload(client, headers, "ok.csv", CSV, "police", p) for p in probes}
    assert len(answers) == 1, answers
    (answer,) = answers
    assert "must be one of the built-in incidents profiles" in answer
    for leak in ("project", "root:", "passwd", "pyproject", "not found", "environ"):
        assert leak not in answer
    assert list(temp_folder.iterdir()) == []


def test_an_uploaded_profile_file_is_used_and_removed(world, temp_folder):  # noqa: F811
    app, _, _ = world
    client, headers = login(app, "ana")
    mine = (PROFILES_DIR / "generic_incidents.toml").read_bytes()
    data = (b"record_id,occurred_date,category,latitude,longitude\n"
            b"PF1,2024-06-01,theft,19.38,-99.15\nPF2,2024-06-02,robbery,19.39,-99.16\n")
    report = upload(client, headers, "propio.csv", data, "complaint", "cdmx_fgj", ("mi_perfil.toml", mine))
    assert "loaded: 2" in report, report[:600]
    assert list(temp_folder.iterdir()) == []
    bomb = b"a: &a [x, x]\nb: &b [*a, *a]\nc: &c [*b, *b]\nd: [*c, *c]\n"
    refused = upload(client, headers, "propio.csv", data, "complaint", "", ("laughs.yaml", bomb))
    assert "aliases" in refused
    deep = b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n"
    assert "cannot be read" in upload(client, headers, "propio.csv", data, "complaint", "", ("deep.toml", deep))
    assert "must be .toml" in upload(client, headers, "propio.csv", data, "complaint", "", ("p.py", b"x=1"))
    assert list(temp_folder.iterdir()) == []
