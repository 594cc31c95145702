"""Normalise stage: canonical string fields into typed incident values (pure, no I/O).

Only the profile's ``required`` fields and values that would make a stored figure wrong (an
unreadable date, text in a coordinate, an impossible count) reject a row. A bad OPTIONAL value
(victim age, victim sex, a time of day, an end time) becomes unknown (NULL) and is counted in a
warning: dropping a homicide because its age is "-1" would distort the counts more than an
unknown age does.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pandas as pd

from observatory.ingest import normalise as nz
from observatory.ingest.profiles import Profile
from observatory.text import fold

STRING_LIMITS = {"source_id": 200, "label": 300, "area_code": 100, "area_name": 300, "location_type": 200,
                 "address": 500}


class Rejections:
    """First reason per row: which field and why (vectorised)."""

    def __init__(self, index: pd.Index) -> None:
        self.field = nz.missing_series(index)
        self.reason = nz.missing_series(index)

    def flag(self, mask: pd.Series, field: str, reason: str, values: pd.Series | None = None) -> None:
        """Reject rows of ``mask`` not yet rejected; ``reason`` may use ``{value}`` (from ``values``)."""
        new = (mask & self.field.isna()).to_numpy()
        if not new.any():
            return
        self.field[new] = field
        if values is None:
            self.reason[new] = reason
        else:
            self.reason[new] = [reason.format(value=str(v)[:200]) for v in values[new]]

    @property
    def mask(self) -> pd.Series:
        return self.field.notna()


class _Fields:
    """The canonical fields of one file with the profile, the rejections and the counted findings."""

    def __init__(self, fields: pd.DataFrame, used: dict[str, str], profile: Profile) -> None:
        self.fields, self.used, self.profile = fields, used, profile
        self.rej = Rejections(fields.index)
        self.details: dict[str, Any] = {"warnings": []}

    def col(self, name: str) -> pd.Series:
        return self.fields[name] if name in self.fields else nz.missing_series(self.fields.index)

    def src(self, name: str) -> str:
        return self.used.get(name, name)

    def text(self, name: str, limit_key: str) -> pd.Series:
        """Field ``name`` cut to its column's width; values that were cut are counted in a warning."""
        values = self.col(name)
        limit = STRING_LIMITS[limit_key]
        long = nz.by_unique(values, lambda v: len(v) > limit, missing=False, dtype=bool)
        n = int(long.sum())
        if n:
            self.details.setdefault("truncated_values", {})[name] = n
            self.details["warnings"].append(f"{n:,} values of column {self.src(name)} longer than {limit:,} "
                                            f"characters were cut to {limit:,}")
        return nz.truncate(values, limit)

    def unknown(self, key: str, bad: pd.Series, name: str, what: str) -> None:
        """Count bad optional values of field ``name`` (stored as unknown) under ``details[key]``."""
        n = int(bad.sum())
        if not n:
            return
        examples = ", ".join(repr(v) for v in self.col(name)[bad].unique()[:5])
        self.details[key] = self.details.get(key, 0) + n
        self.details["warnings"].append(f"{n:,} {what} in column {self.src(name)} stored as unknown "
                                        f"(e.g. {examples})")


def _seconds_of_day(stamps: pd.Series) -> pd.Series:
    return (stamps - stamps.dt.normalize()).dt.total_seconds()


def _time_of_day(f: _Fields, time_field: str, stamps: pd.Series, has_time: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Seconds since midnight (NaN = unknown) and the mask of rows whose time column gave a time.

    An unreadable time is unknown: it must not fall back to the date column's own time, which
    exports fill with a placeholder midnight (a false spike at 0 h in the hour chart).
    """
    seconds = _seconds_of_day(stamps).where(has_time)
    if time_field not in f.fields:
        return seconds, pd.Series(False, index=stamps.index)
    parsed, bad = nz.parse_times(f.col(time_field), f.profile.time_formats)
    f.unknown("unreadable_times", bad, time_field, "unreadable times")
    return parsed.fillna(seconds.where(~bad)), parsed.notna()


def _dates(f: _Fields, out: pd.DataFrame) -> None:
    formats = f.profile.date_formats
    reason = "unreadable or impossible date in column {column}: '{{value}}'"
    start, has_time, bad = nz.parse_dates(f.col("occurred_date"), formats)
    f.rej.flag(bad, "occurred_date", reason.format(column=f.src("occurred_date")), f.col("occurred_date"))
    seconds, _ = _time_of_day(f, "occurred_time", start, has_time)
    out["start"] = start.dt.normalize() + pd.to_timedelta(seconds.fillna(0), unit="s")
    out["time_seconds"] = seconds

    end, end_has_time, bad = nz.parse_dates(f.col("occurred_end_date"), formats)
    f.rej.flag(bad, "occurred_end_date", reason.format(column=f.src("occurred_end_date")), f.col("occurred_end_date"))
    end_seconds, timed = _time_of_day(f, "occurred_end_time", end, end_has_time)
    end = end.fillna(start.dt.normalize().where(timed))  # an end time alone ends on the start date
    out["end"] = end.dt.normalize() + pd.to_timedelta(end_seconds.fillna(0), unit="s")
    f.details["window_end_before_start"] = int((out["end"] < out["start"]).sum())

    reported, _, bad = nz.parse_dates(f.col("reported_date"), formats)
    f.rej.flag(bad, "reported_date", reason.format(column=f.src("reported_date")), f.col("reported_date"))
    out["reported"] = reported.dt.normalize()


def _coordinates(f: _Fields, out: pd.DataFrame) -> None:
    decimal_comma = f.profile.decimal_comma
    lon, bad = nz.parse_numbers(f.col("longitude"), decimal_comma)
    f.rej.flag(bad, "longitude", f"not a number in column {f.src('longitude')}: '{{value}}'", f.col("longitude"))
    lat, bad = nz.parse_numbers(f.col("latitude"), decimal_comma)
    f.rej.flag(bad, "latitude", f"not a number in column {f.src('latitude')}: '{{value}}'", f.col("latitude"))
    # (0, 0) is the placeholder of "no coordinates" in the file's OWN CRS: projected first, it would
    # become a real-looking point ((-127.49, 0.0) from EPSG:26910) counted as outside the city
    placeholder = nz.zero_coordinates(lon, lat)
    lon, lat = nz.reproject(lon.mask(placeholder), lat.mask(placeholder), f.profile.crs)
    checks = nz.check_coordinates(lon, lat)
    pairs = pd.Series([f"{x}, {y}" for x, y in zip(lon.tolist(), lat.tolist(), strict=True)], index=lon.index) \
        if checks["out_of_range"].any() else None
    f.rej.flag(checks["out_of_range"], "latitude", "coordinates out of range (longitude, latitude): {value}", pairs)
    swapped = checks["swapped"]
    lon, lat = lon.where(~swapped, lat), lat.where(~swapped, lon)
    usable = checks["present"] | swapped
    out["lon"] = lon.where(usable)
    out["lat"] = lat.where(usable)
    f.details["zero_coordinates"] = int(placeholder.sum() + checks["zero"].sum())
    f.details["swapped_coordinates"] = int(swapped.sum())
    f.details["half_coordinates"] = int(checks["one_missing"].sum())
    f.details["no_coordinates"] = int((~usable).sum())


def _areas(f: _Fields, out: pd.DataFrame) -> None:
    out["area_code"] = f.text("area_code", "area_code")
    names = f.text("area_name", "area_name")
    aliases = f.profile.area_aliases
    if aliases:
        # the boundary's own name is stored, so that a later boundary import reassigns it the same way
        mapped = nz.by_unique(names, lambda v: aliases.get(fold(v), v))
        f.details["area_aliases_applied"] = int((mapped != names).fillna(False).sum())
        names = mapped
    out["area_name"] = names


def _unmapped(f: _Fields, name: str, series: pd.Series, known: dict[str, Any]) -> None:
    values = series[series.notna()]
    if values.empty:
        return
    missing = values[~nz.by_unique(values, lambda v: fold(v) in known, missing=True, dtype=bool)]
    if missing.empty:
        return
    counts = Counter({str(k): int(v) for k, v in missing.value_counts().items()})
    f.details.setdefault("unmapped_values", {})[name] = dict(counts.most_common())
    listed = ", ".join(f"{v!r} ({n:,})" for v, n in counts.most_common(10))
    f.details["warnings"].append(f"{len(missing):,} values of column {f.src(name)} not recognised as {name} and "
                                 f"stored as unknown: {listed}; map them with [values.{name}] in the profile")


def _people(f: _Fields, out: pd.DataFrame) -> None:
    sex_map = f.profile.values.get("victim_sex") or {}
    out["victim_sex"] = nz.map_sex(f.col("victim_sex"), sex_map)
    _unmapped(f, "victim_sex", f.col("victim_sex"), {**nz.DEFAULT_SEX_VALUES, **sex_map})
    age, bad = nz.parse_numbers(f.col("victim_age"), f.profile.decimal_comma)
    bad |= nz.age_out_of_range(age)
    f.unknown("bad_ages", bad, "victim_age", "ages that are not a number of years between 0 and 120")
    groups = nz.age_groups(age.where(~bad))
    if "victim_age_group" in f.fields:
        group_map = f.profile.values.get("victim_age_group", {})
        defaults = {g: g for g in nz.AGE_GROUPS}
        published = nz.map_values(f.col("victim_age_group"), group_map, defaults)
        _unmapped(f, "victim_age_group", f.col("victim_age_group"), {**{fold(g): g for g in nz.AGE_GROUPS},
                                                                     **group_map})
        groups = groups.where(groups.notna(), published)
    out["victim_age_group"] = groups


def prepare(fields: pd.DataFrame, used: dict[str, str], profile: Profile) -> tuple[pd.DataFrame, Rejections, dict]:
    """Parse and validate canonical string fields into typed incident values (no I/O).

    Returns ``(prepared, rejections, details)``: ``prepared`` has columns source_id, start,
    end, time_seconds, reported, label, count, lon, lat, area_code, area_name, victim_sex,
    victim_age_group, address, description, location_type; ``rejections`` holds a field and a
    reason for every row that must not be loaded; ``details`` counts values that were fixed or
    made unknown (and ``warnings``).
    """
    f = _Fields(fields, used, profile)
    for name in profile.required:
        f.rej.flag(f.col(name).isna(), name, f"{name} is blank (column {f.src(name)})")
    out = pd.DataFrame(index=fields.index)
    out["source_id"] = f.text("record_id", "source_id")
    _dates(f, out)
    out["label"] = f.text("category", "label")
    count, bad = nz.parse_numbers(f.col("count"), profile.decimal_comma)
    bad |= count.notna() & ((count < 0) | (count != count.round()))
    f.rej.flag(bad, "count", f"count is not a whole number >= 0 in column {f.src('count')}: '{{value}}'",
               f.col("count"))
    out["count"] = count.fillna(1)
    _coordinates(f, out)
    _areas(f, out)
    _people(f, out)
    out["location_type"] = f.text("location_type", "location_type")
    out["address"] = f.text("address", "address")
    out["description"] = f.col("description")
    return out, f.rej, f.details
