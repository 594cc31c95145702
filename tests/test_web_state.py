"""View state in the URL: round trips, hostile input, and the shared callbacks' pure logic."""

from __future__ import annotations

import pandas as pd

from observatory.web.export import neutralise, to_csv
from observatory.web.state import ViewState, expand_categories, parse_query, replace_state, to_query


def test_query_string_round_trips_every_field():
    state = ViewState(lang="en", present=True, date_from="2023-01-01", date_to="2023-12-31",
                      categories=("s04", "homicide"), source="police", district="Norte Alto", sex="F",
                      age="18-29", layer="gi", area="12")
    query = to_query(state)
    assert parse_query(query) == state
    assert "lang=en" in query and "cat=s04,homicide" in query and "district=Norte+Alto" in query
    # Dash pages hand the query to layout() as keyword arguments.
    assert parse_query({"lang": "en", "cat": "s04,homicide", "layer": "gi"}).categories == ("s04", "homicide")


def test_defaults_make_short_urls():
    assert to_query(ViewState()) == ""
    assert to_query(ViewState(lang="en")) == "?lang=en"


def test_hostile_or_broken_values_reset_to_defaults():
    state = parse_query("?lang=xx&src=all&sex=Q&age=old&layer=<script>&from=2024-13-45&to=yesterday&present=maybe")
    assert state == ViewState()
    swapped = parse_query("?from=2024-05-01&to=2024-01-01")
    assert (swapped.date_from, swapped.date_to) == ("2024-01-01", "2024-05-01")
    assert parse_query("?cat=" + "x" * 200).categories == ()


def test_store_round_trip_and_replace():
    state = ViewState(categories=("theft",), layer="moran")
    assert ViewState.from_dict(state.to_dict()) == state
    assert ViewState.from_dict(None) == ViewState()
    assert replace_state(state, layer="nonsense").layer == "counts"


def test_sections_expand_to_their_categories():
    sections = {"robbery_person": "04", "robbery_business": "04", "theft": "05", "homicide": "01"}
    assert expand_categories(["s04"], sections) == ["robbery_business", "robbery_person"]
    assert expand_categories(["s04", "homicide", "unknown"], sections) == ["homicide", "robbery_business",
                                                                           "robbery_person"]


def test_controls_update_the_state():
    from observatory.web.app import nav_hrefs, state_from_controls

    previous = ViewState(lang="en", present=True).to_dict()
    state = state_from_controls("2024-01-01T00:00:00", "2024-03-31", ["s05"], "complaint", "D1", "M", "60+",
                                ["gi"], [{"type": "opt", "key": "layer"}], previous)
    assert state == ViewState(lang="en", present=True, date_from="2024-01-01", date_to="2024-03-31",
                              categories=("s05",), source="complaint", district="D1", sex="M", age="60+", layer="gi")
    hrefs = nav_hrefs(state.to_dict())
    assert hrefs[0].startswith("/?") and hrefs[1].startswith("/mapa?")
    assert all("cat=s05" in h and "lang=en" in h and "layer=gi" in h for h in hrefs)


def test_csv_neutralises_spreadsheet_formulas():
    frame = pd.DataFrame({"name": ["=HYPERLINK(\"http://x\")", "+cmd|' /C calc'!A0", "-cmd", "@SUM(A1)", "ok", None],
                          "n": [-3, 1, 2, 3, 4, 5]})
    text = to_csv(frame)
    lines = text.splitlines()
    assert lines[1].startswith("\"'=HYPERLINK(") and lines[2] == "'+cmd|' /C calc'!A0,1" and lines[3] == "'-cmd,2"
    assert lines[4] == "'@SUM(A1),3" and lines[5] == "ok,4"
    assert lines[1].endswith(",-3")  # numbers stay numbers
    assert neutralise(-3) == -3 and neutralise("a=b") == "a=b"
