"""Who may see what: every access rule of the observatory, in one place (docs/disclosure.md).

Roles:

- ``analyst`` and ``admin`` (login): true counts, any window, points (with the geomask).
- ``public`` (default, no login): what a query returns is already the published figure.
  Every public count table goes through :func:`release` (which rewrites the filters) and
  :func:`publish` (which perturbs and suppresses the cells):

  1. **Public grid.** The window snaps OUTWARD to whole calendar periods
     (``DisclosurePolicy.public_unit``, month by default); day-level tables answer per period.
  2. **Sensitive categories** (sexual and domestic violence: the taxonomy's ``sensitive``
     flag) are published only at the coarse grid: district or city tables over whole
     quarters (``sensitive_levels``, ``sensitive_unit``). A selection of sensitive categories
     only gets its window widened to whole quarters there; in every finer table
     (neighbourhoods, month cells, hour x weekday, days) they are LEFT OUT ENTIRELY and the
     table says so (``sensitive_withheld``), so no difference of tables isolates them.
  3. **Victim filters** (sex, age band) are not applied for the public.
  4. **Cell-key perturbation** (:mod:`observatory.queries.cellkey`) of every published count.
  5. **Suppression**: in small-area tables (neighbourhoods, districts, or a selection of
     some) and in every cell of sensitive categories, a published value below ``k`` -- zero
     included -- is NA with ``suppressed = True``.

  No incident points, addresses, free text, victim attributes, raw rejected rows or user names.

True counts (for the analysts' statistics) come only from the ``true_counts_*`` functions,
which raise ``PermissionError`` for the public.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from observatory.config import DisclosurePolicy, disclosure_policy
from observatory.queries import cellkey
from observatory.queries.filters import Filters
from observatory.vocabulary import ACCOUNT_ROLES as RESTRICTED_ROLES
from observatory.vocabulary import ROLES

# Columns never returned to the public, whatever the query.
RESTRICTED_COLUMNS = ("address", "description", "victim_sex", "victim_age", "victim_age_group", "raw",
                      "user_name", "original_label_raw", "reason")

# Table levels and grains (what one cell of a table is), see :func:`release`.
LEVELS = ("area", "district", "city")
GRAINS = ("window", "period", "hour")
_UNIT_MONTHS = {"month": 1, "quarter": 3, "year": 12}
# A category code no category has: a selection that excludes everything matches nothing.
NO_CATEGORY = "(none)"

# Notice keys, translated in observatory/web/i18n.py as ``notice.<key>`` with the placeholders of
# :func:`notice_values` (``t(f"notice.{key}", lang, **notice_values())``).
NOTICES = ("perturbed", "small_counts_suppressed", "snapped_to_month", "snapped_to_quarter", "snapped_to_year",
           "sensitive_coarse_only", "victim_filters_public", "categories_widened")


def check_role(role: str) -> str:
    """Return ``role`` if it is known; raise ``ValueError`` otherwise (an unknown role gets nothing)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {ROLES}")
    return role


def is_restricted(role: str) -> bool:
    """True for roles that see microdata (analyst, admin)."""
    return check_role(role) in RESTRICTED_ROLES


def can_see_points(role: str) -> bool:
    """Incident points (coordinates of single incidents) are for analysts and admins only."""
    return is_restricted(role)


def can_see_sensitive_points(role: str) -> bool:
    """Points of sexual and domestic violence: analysts and admins only (never the public)."""
    return is_restricted(role)


def require_restricted(role: str, what: str) -> None:
    """Raise ``PermissionError`` unless ``role`` is an analyst or admin."""
    if not is_restricted(role):
        raise PermissionError(f"{what} are restricted to analysts and admins")


def threshold(role: str) -> int:
    """Smallest count shown to ``role``: ``k`` for the public, 0 (no suppression) otherwise."""
    return 0 if is_restricted(role) else disclosure_policy().k


# --- the public grid ---------------------------------------------------------------------------------


def period_start(day: dt.date, unit: str) -> dt.date:
    """First day of the calendar ``unit`` (month, quarter, year) holding ``day``."""
    months = _UNIT_MONTHS[unit]
    return dt.date(day.year, (day.month - 1) // months * months + 1, 1)


def period_end(day: dt.date, unit: str) -> dt.date:
    """Last day of the calendar ``unit`` holding ``day``."""
    first = period_start(day, unit)
    month = first.month - 1 + _UNIT_MONTHS[unit]
    return dt.date(first.year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1)


def snap(filters: Filters, unit: str) -> Filters:
    """``filters`` with its window widened to whole calendar ``unit``s (open ends stay open)."""
    return filters.replace(start=period_start(filters.start, unit) if filters.start else None,
                           end=period_end(filters.end, unit) if filters.end else None)


def period_starts(months: pd.Series, unit: str) -> pd.Series:
    """First days of the ``unit`` holding each month (datetime64 in, datetime64 out)."""
    if unit == "month":
        return months
    periods = pd.to_datetime(months).dt.to_period("Q" if unit == "quarter" else "Y")
    return periods.dt.start_time.astype("datetime64[ns]")


def _coarser(a: str, b: str) -> str:
    return a if _UNIT_MONTHS[a] >= _UNIT_MONTHS[b] else b


# --- what a public table may hold ----------------------------------------------------------------------


@dataclass(frozen=True)
class Release:
    """How one table is published to a role: the filters it is computed on and its rules.

    ``filters``: the rewritten selection; ``unit``: the period of its time cells (None for
    analysts: their own months and days); ``perturbed``; ``small_area``: every cell is
    suppressed below k; ``sensitive_cells``: the selection is sensitive categories only (every
    cell is a sensitive cell, suppressed below k); ``sensitive_withheld``: sensitive
    categories the viewer selected were left out; ``nothing_left``: the selection was
    sensitive categories only and all were left out (every cell is NA, not a zero that would
    read as "no such crime"); ``notices``: keys for the page.
    """

    filters: Filters
    unit: str | None = None
    perturbed: bool = False
    small_area: bool = False
    sensitive_cells: bool = False
    sensitive_withheld: bool = False
    nothing_left: bool = False
    notices: tuple[str, ...] = ()


def selection_level(filters: Filters) -> str:
    """``area`` when some neighbourhoods are selected, ``district`` for some districts, else ``city``."""
    return "area" if filters.neighbourhoods else "district" if filters.districts else "city"


def selected_codes(filters: Filters, categories: pd.DataFrame) -> list[str]:
    """Category codes the selection matches (codes OR sections; every category when none given)."""
    if not (filters.categories or filters.sections):
        return sorted(categories["code"])
    hit = categories["code"].isin(filters.categories) | categories["iccs_section"].isin(filters.sections)
    return sorted(categories.loc[hit, "code"])


def category_grid(filters: Filters, categories: pd.DataFrame) -> tuple[Filters, bool]:
    """The public category grid: a selection is answered as one category, one ICCS section or every
    category; any other combination widens to its ICCS section (all its codes in one) or to every
    category. Returns (filters, widened).

    Why: with free combinations a reader could publish a cell X many ways, (X + S) - S for many
    groups S of other categories, each carrying fresh noise, and average the noise away. On the
    grid each cell has only the few groupings that contain it (itself, its section, everything).
    """
    if not (filters.categories or filters.sections):
        return filters, False
    codes = selected_codes(filters, categories)
    if len(codes) <= 1 and not filters.sections:
        return filters, False
    sections = set(categories.loc[categories["code"].isin(codes), "iccs_section"].dropna().astype(str))
    in_sections = categories["iccs_section"].astype(str).isin(sections)
    if len(sections) == 1 and categories.loc[categories["code"].isin(codes), "iccs_section"].notna().all():
        canonical = filters.replace(categories=(), sections=tuple(sections))
        return canonical, set(codes) != set(categories.loc[in_sections, "code"])
    return filters.replace(categories=(), sections=()), True


def _sensitive_allowed(policy: DisclosurePolicy, filters: Filters, level: str, grain: str) -> bool:
    """Whether a mixed selection may keep its sensitive categories in this table."""
    if level not in policy.sensitive_levels or grain == "hour":
        return False
    if grain == "period":
        return _UNIT_MONTHS[policy.public_unit] >= _UNIT_MONTHS[policy.sensitive_unit]
    return snap(filters, policy.sensitive_unit) == filters


def calendar_window(filters: Filters, unit: str) -> tuple[Filters, str]:
    """The smallest single calendar period (``unit`` or coarser) holding the window, or its whole
    years; returns it with its unit. Open ends stay open (whole years then)."""
    start, end = filters.start, filters.end
    if start is not None and end is not None:
        for candidate in _UNIT_MONTHS:
            if _UNIT_MONTHS[candidate] >= _UNIT_MONTHS[unit] and period_start(start, candidate) == period_start(
                    end, candidate):
                return snap(filters, candidate), candidate
    return snap(filters, "year"), "year"


def _fill_open_ends(filters: Filters, bounds: tuple, unit: str) -> Filters:
    """Open ends replaced by the stored span's periods (a window past the data stays one period)."""
    start = filters.start or period_start(min(bounds[0], filters.end or bounds[0]), unit)
    end = filters.end or period_end(max(bounds[1], start), unit)
    return filters.replace(start=start, end=end)


def release(filters: Filters, role: str, level: str, grain: str, categories: pd.DataFrame,
            policy: DisclosurePolicy | None = None, bounds: tuple | None = None) -> Release:
    """The published form of a table of ``level`` (area/district/city: what one cell covers)
    and ``grain`` (``window``: one figure for the whole window; ``period``: one per month or
    coarser; ``hour``: hour x weekday) for ``role`` (see the module docstring).

    ``categories``: code, iccs_section, sensitive of every category (the database's).
    ``bounds``: (first, last) stored occurrence date; an open end of the window becomes that
    date's period (snapped), so a table's span never tells when the selection's own first or
    last incident was. An open end counts as whole quarters for the sensitive rule (it covers
    all the data there is).
    """
    if is_restricted(role):
        return Release(filters)
    policy = policy or disclosure_policy()
    level = "area" if "area" in (level, selection_level(filters)) else (
        "district" if "district" in (level, selection_level(filters)) else "city")
    notices = ["perturbed"]
    out = filters
    if out.sex or out.age_groups:
        out = out.replace(sex=(), age_groups=())
        notices.append("victim_filters_public")
    out, widened_categories = category_grid(out, categories)
    if widened_categories:
        notices.append("categories_widened")
    if policy.public_windows == "calendar":
        if bounds is not None and bounds[0] is not None:
            out = _fill_open_ends(out, bounds, "year")
        widened, period = calendar_window(out, policy.public_unit)
        if widened != out:
            notices.append(f"snapped_to_{period}")
        out = widened
    codes = selected_codes(out, categories)
    sensitive = set(categories.loc[categories["sensitive"].astype(bool), "code"]) & set(codes)
    unit, withheld, sensitive_cells = policy.public_unit, False, False
    coarse_level = level in policy.sensitive_levels and grain != "hour"
    if sensitive and coarse_level and sensitive == set(codes):
        unit, sensitive_cells = _coarser(unit, policy.sensitive_unit), True
    elif sensitive and not _sensitive_allowed(policy, snap(out, unit), level, grain):
        kept = [c for c in codes if c not in sensitive]
        out = out.replace(categories=kept or [NO_CATEGORY], sections=())
        withheld = True
        notices.append("sensitive_coarse_only")
    snapped = snap(out, unit)
    if snapped != out:
        notices.append(f"snapped_to_{unit}")
    if bounds is not None and bounds[0] is not None:
        snapped = _fill_open_ends(snapped, bounds, unit)
    small = level != "city"
    if small or sensitive_cells:
        notices.append("small_counts_suppressed")
    nothing_left = withheld and snapped.categories == (NO_CATEGORY,)
    return Release(snapped, unit, True, small, sensitive_cells, withheld, nothing_left, tuple(dict.fromkeys(notices)))


def public_notices(filters: Filters, role: str, categories: pd.DataFrame | None = None) -> list[str]:
    """Notice keys for a public page showing ``filters`` (empty for analysts).

    The union over the page's tables: the window snapped, victim filters not applied,
    sensitive categories only at the coarse grid (whenever the selection includes them: the
    page's finer tables leave them out), counts perturbed and small counts suppressed.
    ``categories`` defaults to the built-in taxonomy.
    """
    if is_restricted(role):
        return []
    if categories is None:
        from observatory.taxonomy import CATEGORIES

        categories = pd.DataFrame([(c.code, c.iccs_section, c.sensitive) for c in CATEGORIES],
                                  columns=["code", "iccs_section", "sensitive"])
    found: list[str] = []
    for level, grain in (("area", "period"), ("city", "window")):
        for key in release(filters, role, level, grain, categories).notices:
            if key not in found:
                found.append(key)
    if "small_counts_suppressed" not in found:
        found.append("small_counts_suppressed")
    return [key for key in NOTICES if key in found]


def notice_values() -> dict[str, int]:
    """Placeholders of the notices' texts: ``k`` (suppression threshold) and ``d`` (largest noise)."""
    policy = disclosure_policy()
    return {"k": policy.k, "d": policy.max_noise}


# --- the one publishing step ---------------------------------------------------------------------------


def publish(frame: pd.DataFrame, rel: Release, sensitive_rows: pd.Series | None = None) -> pd.DataFrame:
    """Published cells of a table computed on ``rel.filters``.

    Input: ``count`` (true, int) and ``key_sum`` (sum of the cell's noise keys) per cell.
    Output: a copy without ``key_sum``; ``count`` nullable ``Int64``, perturbed for the
    public (:func:`cellkey.perturb`) and NA where suppressed; ``suppressed`` (bool) and
    ``sensitive_withheld`` (bool, the same on every row). Cells are suppressed below k in
    small-area tables, in tables of sensitive categories only, and in the rows flagged by
    ``sensitive_rows`` (a breakdown by category: its sensitive categories' rows); every cell
    when ``rel.nothing_left``.
    """
    out = frame.copy()
    keys = out.pop("key_sum") if "key_sum" in out.columns else pd.Series(0, index=out.index)
    values = out["count"].fillna(0).to_numpy(dtype=np.int64)
    if not rel.perturbed:
        out["count"] = pd.array(values, dtype="Int64")
        out["suppressed"] = False
        out["sensitive_withheld"] = False
        return out
    policy = disclosure_policy()
    shown = cellkey.perturb(values, keys.fillna(0).to_numpy(dtype=np.int64), policy.max_noise)
    cells = np.full(len(out), rel.small_area or rel.sensitive_cells)
    if sensitive_rows is not None:
        cells |= sensitive_rows.to_numpy(dtype=bool)
    hide = (cells & (shown < policy.k)) | rel.nothing_left
    out["count"] = pd.array(shown, dtype="Int64")
    out.loc[hide, "count"] = pd.NA
    out["suppressed"] = hide
    out["sensitive_withheld"] = bool(rel.sensitive_withheld)
    return out


def drop_restricted_columns(frame: pd.DataFrame, role: str) -> pd.DataFrame:
    """Remove address, free text (rejection reasons quote values), victim attributes, raw rows
    and user names for the public."""
    if is_restricted(role):
        return frame
    return frame.drop(columns=[c for c in RESTRICTED_COLUMNS if c in frame.columns])


def public_labels(frame: pd.DataFrame, role: str) -> pd.DataFrame:
    """Unclassified source labels as ``role`` may see them: for the public only a label that at
    least k records share (over every profile and source kind), all of them otherwise.

    Why: a label is free text from the source file; a column-shifted export puts an address or a
    name in the label column, and such a value is carried by one or a few records, never by k.
    """
    if is_restricted(role) or frame.empty:
        return frame
    shared = frame.groupby("label")["records"].transform("sum") >= disclosure_policy().k
    return frame[shared].reset_index(drop=True)


def public_file_names(frame: pd.DataFrame, role: str) -> pd.DataFrame:
    """For the public, ``file_name`` without folders (the server's paths are not published)."""
    if is_restricted(role) or "file_name" not in frame.columns:
        return frame
    out = frame.copy()
    out["file_name"] = out["file_name"].map(
        lambda v: v if not isinstance(v, str) else v.replace("\\", "/").rsplit("/", 1)[-1])
    return out
# --- import history and rejected rows (issue 9, finding 6) ------------------------------------------------
#
# A rejection reason quotes the value it could not read ("coordinates out of range: (-11035000.0, 2206000.0)",
# "unreadable date in column fecha: 'Av. Insurgentes 123'"): for the public, rejected rows are counted by
# reason KIND only (a fixed vocabulary, translated on the page), never with values, addresses, coordinates,
# row contents or free text. File names lose their server folder for every role (the audit log keeps paths).

REASON_KINDS = ("malformed_line", "missing_value", "repeated_id", "date", "time", "coordinates", "count", "age",
                "sex", "category", "geometry", "area_not_found", "population", "weight", "other")
_FIELD_KINDS = {"occurred_date": "date", "occurred_end_date": "date", "reported_date": "date",
                "occurred_time": "time", "occurred_end_time": "time", "reported_time": "time",
                "latitude": "coordinates", "longitude": "coordinates", "count": "count", "victim_age": "age",
                "victim_sex": "sex", "category": "category", "geometry": "geometry", "record_id": "repeated_id"}
# (pattern in the reason, kind), tried in order after the field: wording shared by every importer
_REASON_PATTERNS = (
    (r"instead of \d+|unreadable record|beyond the last header column|truncated line", "malformed_line"),
    (r"\bblank\b|\bmissing\b|\bempty\b", "missing_value"),
    (r"duplicate id|already appears|appears again|repeated", "repeated_id"),
    (r"\bpopulation\b", "population"),
    (r"no active area|\barea\b.*not found|matches no area", "area_not_found"),
    (r"\bweight\b", "weight"),
    (r"coordinates?\b", "coordinates"),
    (r"\bdate\b", "date"),
    (r"\btime\b", "time"),
    (r"polygon|geometr", "geometry"),
)
PUBLIC_HISTORY_COLUMNS = ("id", "file_name", "source_kind", "profile", "layer", "started_at", "finished_at",
                          "status", "total", "loaded", "rejected", "duplicates", "revised", "unassigned")
PUBLIC_REJECTED_COLUMNS = ("batch_id", "file_name", "reason_kind", "rows")


def reason_kind(field: str | None, reason: str | None) -> str:
    """The kind of a rejection (one of :data:`REASON_KINDS`) from its field and reason text.

    Structural problems (a malformed line, a blank required value, a repeated id) win over the field,
    then the canonical field decides, then the reason's wording; anything else is ``"other"``.
    """
    import re

    text = str(reason or "").lower()
    for pattern, kind in _REASON_PATTERNS[:3]:
        if re.search(pattern, text):
            return kind
    if field in _FIELD_KINDS:
        return _FIELD_KINDS[str(field)]
    for pattern, kind in _REASON_PATTERNS[3:]:
        if re.search(pattern, text):
            return kind
    return "other"


def file_name_only(name: object) -> object:
    """``/tmp/upload-x/datos.csv`` -> ``datos.csv`` (Windows separators too); other values unchanged."""
    if not isinstance(name, str):
        return name
    return name.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]


def public_import_view(frame: pd.DataFrame, role: str) -> pd.DataFrame:
    """What ``role`` may see of the import history or of the rejected rows (told apart by their columns).

    Import history (has ``status``): file names without folders for every role; for the public only
    :data:`PUBLIC_HISTORY_COLUMNS` (no user names, no stored report). Rejected rows (has ``reason``):
    every role gets ``reason_kind``; analysts and admins keep each row with its field, reason and raw
    values; the public gets :data:`PUBLIC_REJECTED_COLUMNS`: one row per batch and reason kind with the
    number of rows, largest first, and nothing quoted from the file.
    """
    check_role(role)
    out = frame.copy()
    if "file_name" in out:
        out["file_name"] = out["file_name"].map(file_name_only)
    if "profile" in out:  # a profile given as a path (``/srv/profiles/city.toml``): its file name only
        out["profile"] = out["profile"].map(file_name_only)
    if "reason" not in out:
        if is_restricted(role):
            return out
        return out[[c for c in PUBLIC_HISTORY_COLUMNS if c in out.columns]]
    out["reason_kind"] = [reason_kind(f, r) for f, r in zip(out.get("field", [None] * len(out)), out["reason"],
                                                             strict=True)]
    if is_restricted(role):
        return out
    if out.empty:
        return pd.DataFrame({c: pd.Series(dtype="int64" if c in ("batch_id", "rows") else object)
                             for c in PUBLIC_REJECTED_COLUMNS})
    grouped = (out.groupby(["batch_id", "file_name", "reason_kind"], sort=False).size().rename("rows")
               .reset_index())
    grouped["rows"] = grouped["rows"].astype("int64")
    return grouped.sort_values(["batch_id", "rows", "reason_kind"], ascending=[False, False, True],
                               ignore_index=True)[list(PUBLIC_REJECTED_COLUMNS)]


# --- statistics the public sees, derived from published counts only ---------------------------------
#
# For the public every statistic of a map or panel (rates, smoothed rates, Gi*, local Moran, emerging
# hot spots, the heat layer, intervention ratios) is a function of the counts the public query returned,
# never of the true counts: it then tells nothing the published table does not. A suppressed cell (NA, a
# count below k) enters those statistics at (k - 1) / 2, the middle of the values it may hold (0 .. k - 1),
# the same for every cell; its own rate stays NA. When more than WITHHOLD_SHARE of the cells behind a
# statistic are suppressed it is withheld (it would mostly describe the imputation), and for a selection
# with a sensitive category the public gets no hotspot statistic at all (docs/disclosure.md, 6.1).

WITHHOLD_SHARE = 0.5
HOTSPOT_LAYERS: tuple[str, ...] = ("gi", "moran", "emerging", "density")


def suppressed_value(k: int) -> float:
    """The value a suppressed public cell (count 0 .. k-1) takes in public statistics: (k - 1) / 2."""
    return (k - 1) / 2


def published_values(counts: pd.Series, role: str) -> pd.Series:
    """Published counts as floats with suppressed cells (NA) at :func:`suppressed_value`."""
    values = pd.to_numeric(counts, errors="coerce").astype(float)
    k = threshold(role)
    return values.fillna(suppressed_value(k) if k else 0.0)


def selects_sensitive(filters: Filters, categories: pd.DataFrame) -> bool:
    """True when the selection names a sensitive category (or a section holding one).

    "All categories" is not a sensitive selection: the public area tables do not carry the
    sensitive categories (they are published only on the coarse grid).
    """
    if not (filters.categories or filters.sections):
        return False
    sensitive = set(categories.loc[categories["sensitive"].fillna(False).astype(bool), "code"])
    return bool(sensitive & set(selected_codes(filters, categories)))


def too_suppressed(suppressed: pd.Series) -> bool:
    """Whether a public statistic over these cells is withheld: more than WITHHOLD_SHARE suppressed."""
    return bool(len(suppressed)) and float(suppressed.astype(float).mean()) > WITHHOLD_SHARE


def hotspots_withheld(role: str, layer: str, sensitive: bool, suppressed_share: Callable[[], float]) -> str | None:
    """Why the public gets no hotspot statistic on ``layer`` (a notice key), or None.

    ``hotspots_sensitive``: the selection has a sensitive category; ``hotspots_suppressed``: more than
    WITHHOLD_SHARE of the cells behind the statistic are suppressed (``suppressed_share`` is called only
    when needed: it may run a query). The heat layer of the public is area centroids weighted by published
    counts, so only the sensitive rule applies to it. Analysts: always None.
    """
    if is_restricted(role) or layer not in HOTSPOT_LAYERS:
        return None
    if sensitive:
        return "hotspots_sensitive"
    if layer == "density":
        return None
    return "hotspots_suppressed" if float(suppressed_share() or 0.0) > WITHHOLD_SHARE else None
