"""What a public table may hold: :func:`release` rewrites a table's filters for a role (victim filters
dropped, the category grid, the calendar window, sensitive categories only on the coarse grid) and says
how its cells are published; the notices the page shows for it."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from observatory.config import DisclosurePolicy, disclosure_policy
from observatory.memo import ObjectMemo
from observatory.queries.access.grid import _UNIT_MONTHS, _coarser, _fill_open_ends, calendar_window, snap
from observatory.queries.access.roles import is_restricted
from observatory.queries.filters import Filters

# A category code no category has: a selection that excludes everything matches nothing.
NO_CATEGORY = "(none)"

# Notice keys, translated in observatory/web/i18n.py as ``notice.<key>`` with the placeholders of
# :func:`notice_values` (``t(f"notice.{key}", lang, **notice_values())``).
NOTICES = ("perturbed", "small_counts_suppressed", "snapped_to_month", "snapped_to_quarter", "snapped_to_year",
           "sensitive_coarse_only", "victim_filters_public", "categories_widened")


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


@dataclass(frozen=True)
class _Taxonomy:
    """A categories frame as plain sets: a release asks it a dozen questions, and each pandas
    ``isin`` / ``loc`` on a 30-row frame costs more than the whole answer in Python."""

    codes: tuple[str, ...]  # sorted
    section: dict[str, object]  # code -> iccs_section as stored (None/NaN when missing)
    sensitive: frozenset[str]

    def selected(self, filters: Filters) -> list[str]:
        if not (filters.categories or filters.sections):
            return list(self.codes)
        wanted, sections = set(filters.categories), set(filters.sections)
        return [c for c in self.codes if c in wanted or self.section[c] in sections]


_TAXONOMIES = ObjectMemo(32)


def _taxonomy(categories: pd.DataFrame) -> _Taxonomy:
    """:class:`_Taxonomy` of ``categories``, kept per frame (the cube's lives as long as the cube)."""

    def build() -> _Taxonomy:
        codes = [str(c) for c in categories["code"]]
        sections = [None if pd.isna(v) else v for v in categories["iccs_section"]]
        flags = categories["sensitive"].astype(bool).tolist()
        return _Taxonomy(tuple(sorted(codes)), dict(zip(codes, sections, strict=True)),
                         frozenset(c for c, f in zip(codes, flags, strict=True) if f))

    return _TAXONOMIES.get(categories, build)


def sensitive_codes(categories: pd.DataFrame) -> frozenset[str]:
    """Codes of the sensitive categories of ``categories``."""
    return _taxonomy(categories).sensitive


def selected_codes(filters: Filters, categories: pd.DataFrame) -> list[str]:
    """Category codes the selection matches (codes OR sections; every category when none given)."""
    return _taxonomy(categories).selected(filters)


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
    tax = _taxonomy(categories)
    codes = tax.selected(filters)
    if len(codes) <= 1 and not filters.sections:
        return filters, False
    sections = {str(tax.section[c]) for c in codes if tax.section[c] is not None}
    if len(sections) == 1 and all(tax.section[c] is not None for c in codes):
        in_sections = {c for c in tax.codes if str(tax.section[c]) in sections}
        canonical = filters.replace(categories=(), sections=tuple(sections))
        return canonical, set(codes) != in_sections
    return filters.replace(categories=(), sections=()), True


def _sensitive_allowed(policy: DisclosurePolicy, filters: Filters, level: str, grain: str) -> bool:
    """Whether a mixed selection may keep its sensitive categories in this table."""
    if level not in policy.sensitive_levels or grain == "hour":
        return False
    if grain == "period":
        return _UNIT_MONTHS[policy.public_unit] >= _UNIT_MONTHS[policy.sensitive_unit]
    return snap(filters, policy.sensitive_unit) == filters


def _calendar(out: Filters, policy: DisclosurePolicy, bounds: tuple | None, notices: list[str]) -> Filters:
    """Rule 1 with calendar windows: the window as one calendar period (or whole years), open ends
    filled from the stored span; notes the widening in ``notices``."""
    if bounds is not None and bounds[0] is not None:
        out = _fill_open_ends(out, bounds, "year")
    widened, period = calendar_window(out, policy.public_unit)
    if widened != out:
        notices.append(f"snapped_to_{period}")
    return widened


def _sensitive_rule(out: Filters, categories: pd.DataFrame, policy: DisclosurePolicy, level: str, grain: str,
                    notices: list[str]) -> tuple[Filters, str, bool, bool]:
    """Rule 2: ``(filters, unit, sensitive_cells, withheld)``. A selection of sensitive categories only,
    in a table of a coarse level, gets the coarse unit and every cell suppressed below k; in any other
    table where they may not stay, the sensitive categories are left out (noted in ``notices``)."""
    codes = selected_codes(out, categories)
    sensitive = _taxonomy(categories).sensitive & set(codes)
    unit = policy.public_unit
    coarse_level = level in policy.sensitive_levels and grain != "hour"
    if sensitive and coarse_level and sensitive == set(codes):
        return out, _coarser(unit, policy.sensitive_unit), True, False
    if sensitive and not _sensitive_allowed(policy, snap(out, unit), level, grain):
        kept = [c for c in codes if c not in sensitive]
        notices.append("sensitive_coarse_only")
        return out.replace(categories=kept or [NO_CATEGORY], sections=()), unit, False, True
    return out, unit, False, False


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
        out = _calendar(out, policy, bounds, notices)
    out, unit, sensitive_cells, withheld = _sensitive_rule(out, categories, policy, level, grain, notices)
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

