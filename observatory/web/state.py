"""The dashboard's view state and its URL query string.

Every filter and view choice lives in the query string, so copying the URL reproduces the
view: ``?lang=en&present=1&from=2024-01-01&to=2024-12-31&cat=s04,homicide&src=police
&district=Norte&sex=F&age=18-29&layer=gi&area=12``. Category values are category codes or
ICCS sections written ``s<section>`` (``s04`` = every category of section 04).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, replace
from urllib.parse import parse_qs, urlencode

from observatory.vocabulary import AGE_GROUPS, SEXES, SOURCE_KINDS
from observatory.web.i18n import lang_or_default

SOURCES: tuple[str, ...] = ("both", *SOURCE_KINDS)
MAP_LAYERS: tuple[str, ...] = ("counts", "rates", "smoothed", "gi", "moran", "emerging", "density", "points")


@dataclass(frozen=True)
class ViewState:
    """What the viewer chose: language, presentation mode, filters and page options.

    Dates are ISO strings (inclusive bounds) or ``None`` for the data's full range.
    """

    lang: str = "es"
    present: bool = False
    date_from: str | None = None
    date_to: str | None = None
    categories: tuple[str, ...] = field(default_factory=tuple)
    source: str = "both"
    district: str | None = None
    sex: str | None = None
    age: str | None = None
    layer: str = "counts"
    area: str | None = None
    fdr: bool = False  # Gi* and local Moran with the Benjamini-Hochberg FDR correction

    def to_dict(self) -> dict:
        """A JSON-friendly dict (for dcc.Store)."""
        data = asdict(self)
        data["categories"] = list(self.categories)
        return data

    @classmethod
    def from_dict(cls, data: Mapping | None) -> ViewState:
        """Rebuild from :meth:`to_dict` output; unknown keys are ignored, bad values reset."""
        data = dict(data or {})
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        known["categories"] = tuple(known.get("categories") or ())
        return _clean(cls(**known))


def _valid_date(value: str | None) -> str | None:
    if not value:
        return None
    try:
        return dt.date.fromisoformat(str(value)[:10]).isoformat()
    except ValueError:
        return None


def _clean(state: ViewState) -> ViewState:
    """Drop values that are not valid so a hand-edited URL cannot break a page."""
    date_from, date_to = _valid_date(state.date_from), _valid_date(state.date_to)
    if date_from and date_to and date_from > date_to:
        date_from, date_to = date_to, date_from
    return replace(
        state,
        lang=lang_or_default(state.lang),
        present=bool(state.present),
        date_from=date_from,
        date_to=date_to,
        categories=tuple(dict.fromkeys(c for c in state.categories if c and len(c) <= 60)),
        source=state.source if state.source in SOURCES else "both",
        district=state.district or None,
        sex=state.sex if state.sex in SEXES else None,
        age=state.age if state.age in AGE_GROUPS else None,
        layer=state.layer if state.layer in MAP_LAYERS else "counts",
        area=str(state.area) if state.area not in (None, "") else None,
        fdr=bool(state.fdr),
    )


def parse_query(search: str | Mapping | None) -> ViewState:
    """Parse a query string (``?a=b``) or Dash pages' keyword dict into a :class:`ViewState`."""
    if search is None:
        return ViewState()
    if isinstance(search, Mapping):
        raw = {k: (v[0] if isinstance(v, list) and v else v) for k, v in search.items()}
    else:
        raw = {k: v[0] for k, v in parse_qs(search.lstrip("?"), keep_blank_values=False).items()}
    cats = str(raw.get("cat") or "")
    return _clean(
        ViewState(
            lang=str(raw.get("lang") or "es"),
            present=str(raw.get("present") or "") in ("1", "true", "yes"),
            date_from=raw.get("from"),
            date_to=raw.get("to"),
            categories=tuple(c.strip() for c in cats.split(",") if c.strip()),
            source=str(raw.get("src") or "both"),
            district=raw.get("district"),
            sex=raw.get("sex"),
            age=raw.get("age"),
            layer=str(raw.get("layer") or "counts"),
            area=raw.get("area"),
            fdr=str(raw.get("fdr") or "") in ("1", "true", "yes"),
        )
    )


def to_query(state: ViewState) -> str:
    """The query string (with ``?``, or ``""``) that :func:`parse_query` turns back into ``state``.

    Defaults are left out so the URLs stay short.
    """
    pairs: list[tuple[str, str]] = []
    if state.lang != "es":
        pairs.append(("lang", state.lang))
    if state.present:
        pairs.append(("present", "1"))
    if state.date_from:
        pairs.append(("from", state.date_from))
    if state.date_to:
        pairs.append(("to", state.date_to))
    if state.categories:
        pairs.append(("cat", ",".join(state.categories)))
    if state.source != "both":
        pairs.append(("src", state.source))
    for key in ("district", "sex", "age", "area"):
        if getattr(state, key):
            pairs.append((key, str(getattr(state, key))))
    if state.layer != "counts":
        pairs.append(("layer", state.layer))
    if state.fdr:
        pairs.append(("fdr", "1"))
    return "?" + urlencode(pairs, safe=",") if pairs else ""


def expand_categories(selected: Iterable[str], sections: Mapping[str, str]) -> list[str]:
    """Category codes meant by ``selected`` (codes or ``s<section>``); ``[]`` means every category.

    ``sections`` maps each category code to its ICCS section (``"04"``).
    """
    codes: list[str] = []
    for item in selected:
        if item.startswith("s") and item[1:].isdigit():
            codes.extend(code for code, sec in sections.items() if sec == item[1:])
        elif item in sections:
            codes.append(item)
    return sorted(set(codes))


def replace_state(state: ViewState, **changes: object) -> ViewState:
    """``state`` with ``changes`` applied and cleaned (the helper links and callbacks use)."""
    return _clean(replace(state, **changes))
