"""The one ``Filters`` value every query of the observatory takes.

A ``Filters`` is immutable and hashable: the dashboard keeps it in the URL query string
(:meth:`Filters.to_query_string` / :meth:`Filters.from_query_string` round-trip) and uses
:meth:`Filters.cache_key` as part of its cache keys.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, fields
from urllib.parse import quote, unquote_plus

from observatory.vocabulary import SOURCE_KINDS

# Query-string key of each tuple field (short keys keep the URLs readable).
_TUPLE_KEYS = {
    "categories": "cat",
    "sections": "sec",
    "source_kinds": "src",
    "districts": "district",
    "neighbourhoods": "nbhd",
    "sex": "sex",
    "age_groups": "age",
}


def _as_date(value: object, name: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        raise ValueError(f"Filters.{name}: {value!r} is not an ISO date (YYYY-MM-DD)") from None


def _as_tuple(value: object) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, Iterable):
        raise TypeError(f"expected a sequence of strings, got {value!r}")
    # Sorted and de-duplicated so equal selections give equal Filters and equal cache keys.
    return tuple(sorted({str(v).strip() for v in value if v is not None and str(v).strip()}))


@dataclass(frozen=True)
class Filters:
    """What the viewer selected; empty tuples and ``None`` mean "no restriction".

    - ``start``, ``end``: inclusive bounds on the occurrence date (``occurred_on``).
    - ``categories``: crime category codes; ``sections``: ICCS sections ("01".."11").
      When both are given an incident matches if its category is listed OR its section is.
    - ``source_kinds``: subset of ("complaint", "police"); empty = both.
    - ``districts``, ``neighbourhoods``: district names and neighbourhood codes of the
      PRIMARY layer (the area each incident is assigned to).
    - ``sex``: victim sex codes (F, M, X); ``age_groups``: victim age bands ("18-29"...).
    - ``layer``: boundary layer name used by area breakdowns; ``None`` = the primary layer.

    Lists, sets and comma-separated strings are accepted and normalised to sorted tuples;
    ISO strings are accepted for dates.
    """

    start: dt.date | None = None
    end: dt.date | None = None
    categories: tuple[str, ...] = ()
    sections: tuple[str, ...] = ()
    source_kinds: tuple[str, ...] = ()
    districts: tuple[str, ...] = ()
    neighbourhoods: tuple[str, ...] = ()
    sex: tuple[str, ...] = ()
    age_groups: tuple[str, ...] = ()
    layer: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", _as_date(self.start, "start"))
        object.__setattr__(self, "end", _as_date(self.end, "end"))
        for name in _TUPLE_KEYS:
            object.__setattr__(self, name, _as_tuple(getattr(self, name)))
        object.__setattr__(self, "layer", str(self.layer) if self.layer not in (None, "") else None)
        bad = set(self.source_kinds) - set(SOURCE_KINDS)
        if bad:
            raise ValueError(f"Filters.source_kinds: unknown source kind(s) {sorted(bad)}; use {SOURCE_KINDS}")
        if self.start and self.end and self.start > self.end:
            raise ValueError(f"Filters: start {self.start} is after end {self.end}")

    def replace(self, **changes: object) -> Filters:
        """A copy with some fields changed (normalised like the constructor)."""
        values = {f.name: getattr(self, f.name) for f in fields(self)} | changes
        return Filters(**values)

    @property
    def is_area_restricted(self) -> bool:
        """True when the selection is limited to some neighbourhoods or districts (a small-area table)."""
        return bool(self.neighbourhoods or self.districts)

    def to_query_string(self) -> str:
        """URL query string without the leading ``?`` (``""`` for no filter).

        Keys: ``from``, ``to``, ``cat``, ``sec``, ``src``, ``district``, ``nbhd``, ``sex``,
        ``age``, ``geo`` (layer); list values are comma-separated.
        """
        pairs: list[tuple[str, str]] = []
        if self.start:
            pairs.append(("from", self.start.isoformat()))
        if self.end:
            pairs.append(("to", self.end.isoformat()))
        for name, key in _TUPLE_KEYS.items():
            values = getattr(self, name)
            if values:
                # Commas inside a value (a district name) are percent-encoded; raw commas separate values.
                pairs.append((key, ",".join(quote(v, safe="") for v in values)))
        if self.layer:
            pairs.append(("geo", quote(self.layer, safe="")))
        return "&".join(f"{key}={value}" for key, value in pairs)

    @classmethod
    def from_query_string(cls, qs: str) -> Filters:
        """Parse :meth:`to_query_string` output (a leading ``?`` is allowed; unknown keys ignored)."""
        raw: dict[str, list[str]] = {}
        for part in (qs or "").lstrip("?").split("&"):
            key, sep, value = part.partition("=")
            if sep and value:
                # Split on raw commas before decoding, so encoded commas stay inside their value.
                raw[unquote_plus(key)] = [unquote_plus(v) for v in value.split(",")]
        values: dict[str, object] = {}
        if "from" in raw:
            values["start"] = raw["from"][0]
        if "to" in raw:
            values["end"] = raw["to"][0]
        for name, key in _TUPLE_KEYS.items():
            if key in raw:
                values[name] = raw[key]
        if "geo" in raw:
            values["layer"] = ",".join(raw["geo"])
        return cls(**values)

    def cache_key(self) -> str:
        """A short stable string identifying this selection (same filters, same key)."""
        return hashlib.sha1(self.to_query_string().encode("utf-8")).hexdigest()[:16]
