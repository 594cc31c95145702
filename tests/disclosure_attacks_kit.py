"""The attacks of issue 9, replayed through the dashboard's own public callbacks.

Not a test module: ``tests/test_disclosure_attacks*.py`` run these against the real Mexico City
police data and the demo city and assert that they now recover nothing (or, for the cell-key
perturbation, values wrong by the method's stated margin). Every attack talks to the app only
through ``POST /_dash-update-component`` (Flask's test client, no network) as a public client,
exactly like a browser replaying and varying the dashboard's requests; the truth it is scored
against comes from the query layer as an analyst. Every loop is bounded by an explicit budget.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import re

import numpy as np
import pandas as pd

HOT = "hot 99%"


# --- a public (or analyst) client of the dashboard's callbacks ----------------------------------------


class Dashboard:
    """Calls the app's callbacks by output id with a view state, counting the requests made."""

    def __init__(self, app, client=None, headers: dict | None = None):
        self.app = app
        self.client = client or app.server.test_client()
        self.headers = headers or {}
        self.requests = 0

    def _spec(self, output: str) -> tuple[str, dict]:
        for key, spec in self.app.callback_map.items():
            if key == output or key.startswith(output + "@") or f"..{output}.." in key:
                return key, spec
        raise KeyError(f"no callback writes {output}")

    @staticmethod
    def _dep(dep: dict, state: dict) -> dict:
        value = state if (dep["id"] == "view-state" and dep["property"] == "data") else (
            1 if dep["property"] in ("n_clicks", "n_submit") else None)
        return {"id": dep["id"], "property": dep["property"], "value": value}

    def call(self, output: str, state: dict) -> dict:
        """The ``response`` dict of the callback writing ``output`` (e.g. ``map-dl.data``)."""
        key, spec = self._spec(output)
        if key.startswith(".."):
            outputs = [dict(zip(("id", "property"), item.rsplit(".", 1), strict=True))
                       for item in key.strip(".").split("...") if item]
        else:
            ident, prop = key.split("@")[0].rsplit(".", 1)
            outputs = {"id": ident, "property": prop}
        body = {"output": key, "outputs": outputs,
                "inputs": [self._dep(d, state) for d in spec["inputs"]],
                "state": [self._dep(d, state) for d in spec["state"]],
                "changedPropIds": [f"{d['id']}.{d['property']}" for d in spec["inputs"]][:1]}
        self.requests += 1
        resp = self.client.post("/_dash-update-component", data=json.dumps(body), content_type="application/json",
                                headers=self.headers)
        assert resp.status_code == 200, f"{output}: HTTP {resp.status_code} {resp.get_data(True)[:300]}"
        return resp.get_json()["response"]

    def csv(self, download_id: str, state: dict) -> pd.DataFrame:
        """The CSV a "download" button of the page gives for ``state``."""
        payload = self.call(f"{download_id}.data", state)[download_id]["data"]
        if not payload["content"].strip():  # an empty table
            return pd.DataFrame()
        return pd.read_csv(io.StringIO(payload["content"]), dtype={"code": str})


def view(**values) -> dict:
    """A view state dict (the dashboard's ``ViewState``) with ``values`` set."""
    from observatory.web.state import ViewState

    state = ViewState().to_dict()
    state.update(values)
    return state


def login_analyst(app, user: str, password: str) -> Dashboard:
    """A Dashboard client logged in as an analyst (with the CSRF header the browser sends)."""
    client = app.server.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    resp = client.post("/login", data={"csrf_token": token, "username": user, "password": password})
    assert resp.status_code == 303, resp.status_code
    return Dashboard(app, client, {"X-CSRFToken": client.get_cookie("_csrf_token").value})


def month_end(day: dt.date) -> dt.date:
    return (pd.Timestamp(day) + pd.offsets.MonthEnd(0)).date()


# --- finding 1: Gi* one-day localisation -------------------------------------------------------------


def single_incident_days(engine, category: str, budget: int) -> list[tuple[dt.date, str]]:
    """Up to ``budget`` days with exactly one ``category`` incident in the city, placed in an area:
    (day, area code). The truth, read as an analyst."""
    from observatory import queries

    days = queries.counts_by_day(engine, queries.Filters(categories=(category,)), "analyst", by_category=False)
    out = []
    for day in pd.to_datetime(days.loc[days["count"] == 1, "occurred_on"]).dt.date:
        pts = queries.points(engine, queries.Filters(start=day, end=day, categories=(category,)), "analyst")
        if len(pts) == 1 and isinstance(pts["neighbourhood"].iloc[0], str):
            out.append((day, pts["neighbourhood"].iloc[0]))
        if len(out) >= budget:
            break
    return out


def gi_localisation(dash: Dashboard, days: list[tuple[dt.date, str]], category: str, download: str = "map-dl",
                    max_hot: int = 15) -> dict:
    """For each one-incident day, the Gi* map CSV of that day: the incident is placed when its area
    is among at most ``max_hot`` "hot 99%" areas."""
    placed = 0
    for day, code in days:
        frame = dash.csv(download, view(layer="gi", categories=[category], date_from=day.isoformat(),
                                        date_to=day.isoformat()))
        hot = set(frame.loc[frame.get("gi_class", pd.Series(dtype=str)) == HOT, "code"].astype(str))
        placed += int(code in hot and len(hot) <= max_hot)
    return {"days": len(days), "placed": placed}


# --- finding 2: rate x population / 1e5 - count -----------------------------------------------------------


def rate_recovery(dash: Dashboard, engine, state: dict, download: str = "map-dl") -> dict:
    """From the rates map CSV: ``implied = rate x population / 1e5``. A withheld count is
    recovered when the implied count is a whole number that equals the area's TRUE count while the
    published count differs from it. Also counts the rows whose rate is not published count /
    population (the rate then carries information the count does not)."""
    from observatory import queries
    from observatory.web.data import to_filters
    from observatory.web.state import ViewState

    frame = dash.csv(download, dict(state, layer="rates"))
    true = queries.counts_by_area(engine, to_filters(ViewState.from_dict(state)), "analyst").set_index("code")["count"]
    rate = pd.to_numeric(frame["rate"], errors="coerce")
    pop = pd.to_numeric(frame["population"], errors="coerce")
    count = pd.to_numeric(frame["count"], errors="coerce")
    implied = rate * pop / 1e5
    whole = (implied - implied.round()).abs() < 1e-6
    truth = frame["code"].astype(str).map(true).astype(float)
    recovered = whole & (implied.round() == truth) & (count != truth)
    inconsistent = rate.notna() & ((count.isna()) | ((implied - count).abs() > 1e-6))
    return {"areas": len(frame), "withheld_true": int((count.fillna(-1) != truth).sum()),
            "recovered": int(recovered.sum()), "rate_not_from_count": int(inconsistent.sum())}


# --- finding 3: window differencing and day bisection -------------------------------------------------------


def window_differencing(dash: Dashboard, engine, start: dt.date, months: int, categories: list[str],
                        k: int, download: str = "map-dl") -> dict:
    """Month m per area = window(start .. end of m) - window(start .. end of m-1), from the counts
    map CSV (``months + 1`` requests), scored against the true area-month counts of the cells the
    public month table suppresses (true count below k)."""
    from observatory import queries

    ends = [month_end((pd.Timestamp(start) + pd.DateOffset(months=i)).date()) for i in range(months + 1)]
    windows = []
    for end in ends:
        frame = dash.csv(download, view(layer="counts", categories=categories, date_from=start.isoformat(),
                                        date_to=end.isoformat()))
        windows.append(frame.set_index(frame["code"].astype(str))["count"].astype(float))
    truth = queries.counts_by_area_month(engine, queries.Filters(start=start, end=ends[-1], categories=tuple(
        categories)), "analyst")
    truth["month"] = pd.to_datetime(truth["month"])
    errors = []
    for i in range(1, len(ends)):
        diff = (windows[i] - windows[i - 1]).dropna()
        month = pd.Timestamp(ends[i]).to_period("M").to_timestamp()
        true = truth[truth["month"] == month].set_index("code")["count"].astype(float)
        small = true[true < k]
        common = small.index.intersection(diff.index)
        errors.extend((diff[common] - small[common]).tolist())
    errors = np.asarray(errors, dtype=float)
    return {"suppressed_cells": len(errors), "recovered": int((errors == 0).sum()),
            "max_error": float(np.abs(errors).max()) if len(errors) else 0.0,
            "mean_abs_error": float(np.abs(errors).mean()) if len(errors) else 0.0, "requests": len(ends)}


def bisect_dates(dash: Dashboard, state: dict, first: dt.date, last: dt.date, budget: int,
                 download: str = "trends-monthly-dl") -> dict:
    """Exact incident dates in [first, last] by bisecting date windows of the monthly CSV (the
    public total of window [first, d]); stops after ``budget`` requests. Returns the dates found
    (date -> incidents) and the requests used."""
    cache: dict[dt.date, float] = {}

    def upto(day: dt.date) -> float:
        if day < first:
            return 0.0
        if day not in cache:
            frame = dash.csv(download, dict(state, date_from=first.isoformat(), date_to=day.isoformat()))
            cache[day] = float(pd.to_numeric(frame["count"], errors="coerce").fillna(0).sum())
        return cache[day]

    found: dict[dt.date, float] = {}
    stack = [(first, last)]
    while stack and len(cache) < budget:
        lo, hi = stack.pop()
        inside = upto(hi) - upto(lo - dt.timedelta(days=1))
        if inside <= 0:
            continue
        if lo == hi:
            found[lo] = inside
            continue
        mid = lo + (hi - lo) // 2
        stack += [(mid + dt.timedelta(days=1), hi), (lo, mid)]
    return {"found": found, "requests": len(cache)}


def true_dates(engine, filters) -> dict[dt.date, int]:
    from observatory import queries

    days = queries.counts_by_day(engine, filters, "analyst", by_category=False)
    return {d.date(): int(c) for d, c in zip(pd.to_datetime(days["occurred_on"]), days["count"], strict=True) if c}


# --- findings 4 and 5: victim filters, district tables, CompStat ---------------------------------------------


def small_values(frame: pd.DataFrame, columns: tuple[str, ...], k: int) -> int:
    """How many published values in ``columns`` lie in 1 .. k-1 (a small count given away)."""
    total = 0
    for col in columns:
        if col in frame:
            values = pd.to_numeric(frame[col], errors="coerce")
            total += int(((values >= 1) & (values < k)).sum())
    return total


def public_compstat_reference(engine, state: dict, as_of: dt.date) -> list[tuple[int | None, int | None]]:
    """(current, previous) of the public CompStat computed here from the query layer: the calendar
    month holding ``as_of`` (to ``as_of``) and the year to ``as_of``, each against a year before,
    as one published ``queries.total`` per window."""
    from observatory import queries
    from observatory.web.data import to_filters
    from observatory.web.state import ViewState

    def total(start: dt.date, end: dt.date) -> int | None:
        return queries.total(engine, to_filters(ViewState.from_dict(dict(state, date_from=start.isoformat(),
                                                                          date_to=end.isoformat()))), "public")

    month, ago = as_of.replace(day=1), as_of.replace(day=1, year=as_of.year - 1)
    rows = [(total(month, as_of), total(ago, ago))]
    if month.month > 1:
        rows.append((total(month.replace(month=1), as_of), total(ago.replace(month=1), ago)))
    return rows
