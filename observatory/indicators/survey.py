"""Survey indicators from weighted microdata, each with a 95% interval and a reliability flag.

Pure functions on DataFrames (no database): one row per unit (person, household or crime
event) with a ``weight`` column (the survey's expansion factor), the canonical item columns of
:mod:`observatory.ingest.survey_items` and any grouping columns (``neighbourhood_id``,
``district``, ``sex``, ``age_group``...). :func:`flatten_items` turns the stored ``items`` JSON
into such columns.

Estimation (see ``docs/indicators-survey.md``):

* estimate: weighted proportion ``p = sum(w*y) / sum(w)`` over the units whose answer is known;
* ``se``: Taylor-linearised standard error of that ratio, treating the units as a
  with-replacement sample, ``se^2 = n/(n-1) * sum(w^2 (y-p)^2) / (sum w)^2``; or, when the
  caller names the ``psu`` (and ``strata``) columns, the stratified cluster (PSUs with
  replacement) linearised variance, with the interval on the design's effective sample size;
* ``n_eff``: Kish's effective sample size ``(sum w)^2 / sum(w^2)``;
* 95% interval: Wilson score interval computed with ``n_eff`` in place of ``n`` (stays inside
  [0, 1] and behaves for proportions near 0 or 1, unlike p +- 1.96 se);
* ``cv = se / p``; ``unreliable`` when ``n < 30`` or ``n_eff < 30`` or ``cv > 0.30`` (INEGI
  and DANE publish estimates with a CV above 30% only with a warning, or not at all).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np
import pandas as pd

MIN_N = 30
MAX_CV = 0.30
RESULT_COLUMNS = ["estimate", "ci_low", "ci_high", "se", "cv", "n", "n_eff", "weighted_n", "weighted_count",
                  "unreliable", "method"]
# The variance method of a result, shown on screen: design-based when the profile declared strata and PSUs.
TAYLOR = "taylor"
KISH_WILSON = "kish_wilson"


def z_value(level: float = 0.95) -> float:
    """Two-sided normal quantile for a confidence ``level`` (1.959964 for 0.95)."""
    return NormalDist().inv_cdf(0.5 + level / 2)


def kish_n_eff(weights: Iterable[float]) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` of a set of weights."""
    w = np.asarray(list(weights), dtype=float)
    return float(w.sum() ** 2 / (w**2).sum()) if len(w) and (w**2).sum() > 0 else 0.0


def wilson_interval(p: np.ndarray | float, n: np.ndarray | float, level: float = 0.95) -> tuple:
    """Wilson score interval for proportion ``p`` observed on ``n`` (effective) units."""
    z = z_value(level)
    p = np.asarray(p, dtype=float)
    n = np.asarray(n, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z / denom * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


def _as_list(by: str | Sequence[str] | None) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def weighted_proportion(frame: pd.DataFrame, value: str | pd.Series, *, weight: str = "weight",
                        by: str | Sequence[str] | None = None, level: float = 0.95, min_n: int = MIN_N,
                        max_cv: float = MAX_CV, psu: str | None = None,
                        strata: str | None = None) -> pd.DataFrame:
    """Weighted share of units with ``value == 1``, overall or per group of ``by``.

    ``value`` is a column name or a Series aligned with ``frame`` holding 1, 0 or NaN (NaN:
    unknown, left out of numerator and denominator). Rows whose weight or group is missing
    are left out. Returns one row per group with the ``by`` columns and ``estimate`` (a share
    in [0, 1]), ``ci_low``, ``ci_high``, ``se``, ``cv``, ``n`` (units with a known answer),
    ``n_eff``, ``weighted_n`` (sum of weights), ``weighted_count`` (sum of weights of units
    with y = 1, an estimated population total) and ``unreliable``.

    With ``psu`` (and optionally ``strata``) column names, ``se`` is the design-based
    linearised error of a stratified cluster sample (PSUs drawn with replacement within strata;
    groups estimated as domains of the whole design; a stratum with a single PSU adds nothing)
    and the interval uses the design's effective sample size ``p(1-p)/se^2`` (capped at ``n``).
    """
    keys = _as_list(by)
    y = frame[value] if isinstance(value, str) else value
    data = frame[keys].copy() if keys else pd.DataFrame(index=frame.index)
    data["_y"] = pd.to_numeric(y, errors="coerce").astype(float)
    data["_w"] = pd.to_numeric(frame[weight], errors="coerce").astype(float)
    design = None
    if psu is not None:
        design = pd.DataFrame({"_h": frame[strata].astype(str) if strata else "all", "_psu": frame[psu].astype(str)},
                              index=frame.index)[data["_w"].notna() & (data["_w"] > 0)]
        data["_h"], data["_psu"] = design["_h"], design["_psu"]
    data = data[data["_y"].notna() & data["_w"].notna() & (data["_w"] > 0)]
    if keys:
        data = data.dropna(subset=keys)
    data["_wy"] = data["_w"] * data["_y"]
    data["_w2"] = data["_w"] ** 2
    data["_w2y"] = data["_w2"] * data["_y"]
    data["_w2y2"] = data["_w2"] * data["_y"] ** 2
    sums = ["_w", "_wy", "_w2", "_w2y", "_w2y2"]
    if keys:
        agg = data.groupby(keys, sort=True, observed=True)[sums].sum()
        agg["n"] = data.groupby(keys, sort=True, observed=True)["_y"].size()
        agg = agg.reset_index()
    else:
        agg = pd.DataFrame([data[sums].sum()])
        agg["n"] = len(data)
    design_var = _design_variance(data, agg, keys, design) if design is not None else None
    return _finish(agg, keys, level, min_n, max_cv, design_var)


def _design_variance(data: pd.DataFrame, agg: pd.DataFrame, keys: list[str], design: pd.DataFrame) -> np.ndarray:
    """Stratified with-replacement PSU variance of each group's ratio ``p`` (Taylor linearisation).

    ``var = sum_h n_h/(n_h-1) * (sum_i z_hi^2 - (sum_i z_hi)^2 / n_h)`` with ``z_hi`` the sum over
    PSU i of ``w (y - p) / sum w``; ``n_h`` counts every PSU of stratum h in the whole design
    (PSUs without units of the group have z = 0), as for domain estimation.
    """
    n_h = design.groupby("_h")["_psu"].nunique()
    p = agg.set_index(keys)["_wy"] / agg.set_index(keys)["_w"] if keys else None
    sw = agg.set_index(keys)["_w"] if keys else None
    if keys:
        index = pd.MultiIndex.from_frame(data[keys]) if len(keys) > 1 else pd.Index(data[keys[0]])
        p_row = p.reindex(index).to_numpy()
        sw_row = sw.reindex(index).to_numpy()
    else:
        with np.errstate(divide="ignore", invalid="ignore"):  # no answered unit: p is NaN, shown as no data
            p_row = float(np.float64(agg["_wy"].iloc[0]) / np.float64(agg["_w"].iloc[0]))
        sw_row = float(agg["_w"].iloc[0])
    z = data[keys].copy() if keys else pd.DataFrame(index=data.index)
    z["_h"], z["_psu"] = data["_h"], data["_psu"]
    z["_z"] = data["_w"].to_numpy() * (data["_y"].to_numpy() - p_row) / sw_row
    per_psu = z.groupby([*keys, "_h", "_psu"], sort=False, observed=True)["_z"].sum().reset_index()
    per_psu["_z2"] = per_psu["_z"] ** 2
    per_h = per_psu.groupby([*keys, "_h"], sort=False, observed=True)[["_z", "_z2"]].sum().reset_index()
    nh = per_h["_h"].map(n_h).to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        term = np.where(nh > 1, nh / (nh - 1) * (per_h["_z2"] - per_h["_z"] ** 2 / nh), 0.0)
    per_h["_v"] = term
    if keys:
        total = per_h.groupby(keys, sort=True, observed=True)["_v"].sum()
        order = pd.MultiIndex.from_frame(agg[keys]) if len(keys) > 1 else pd.Index(agg[keys[0]])
        return total.reindex(order).fillna(0.0).to_numpy(dtype=float)
    return np.array([per_h["_v"].sum()], dtype=float)


def _finish(agg: pd.DataFrame, keys: list[str], level: float, min_n: int, max_cv: float,
            design_var: np.ndarray | None = None) -> pd.DataFrame:
    sw, swy, sw2, sw2y, sw2y2 = (agg[c].to_numpy(dtype=float) for c in ("_w", "_wy", "_w2", "_w2y", "_w2y2"))
    n = agg["n"].to_numpy(dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = swy / sw
        # sum w^2 (y - p)^2 expanded so it can be summed per group first.
        resid = sw2y2 - 2 * p * sw2y + p**2 * sw2
        var = np.where(n > 1, n / (n - 1) * np.maximum(resid, 0) / sw**2, np.nan)
        if design_var is not None:
            var = np.maximum(design_var, 0)
        se = np.sqrt(var)
        n_eff = sw**2 / sw2
        cv = np.where(p > 0, se / p, np.nan)
        # The interval's sample size: Kish's n_eff, or with a design the size whose binomial
        # variance equals the design variance (Korn & Graubard's effective sample size).
        n_ci = n_eff if design_var is None else np.where(var > 0, np.minimum(p * (1 - p) / var, n), n_eff)
    low, high = wilson_interval(p, n_ci, level)
    out = agg[keys].copy() if keys else pd.DataFrame(index=range(len(agg)))
    out["estimate"] = p
    out["ci_low"] = low
    out["ci_high"] = high
    out["se"] = se
    out["cv"] = cv
    out["n"] = n.astype(int)
    out["n_eff"] = n_eff
    out["weighted_n"] = sw
    out["weighted_count"] = swy
    # The reliability rule uses the variance actually used: the design's effective n with a design.
    n_rule = n_eff if design_var is None else n_ci
    out["unreliable"] = (n < min_n) | (np.nan_to_num(n_rule, nan=0.0) < min_n) | (np.nan_to_num(cv, nan=0.0) > max_cv)
    out["method"] = KISH_WILSON if design_var is None else TAYLOR
    return out.reset_index(drop=True)


def design_columns(frame: pd.DataFrame) -> dict[str, str]:
    """``psu``/``strata`` options for :func:`weighted_proportion` when every row carries its design.

    The stored microdata hold ``psu`` and ``stratum`` when the survey profile declared them; a
    frame mixing rows with and without a design (or without any) gets ``{}``: the Kish-Wilson
    fallback.
    """
    if "psu" not in frame.columns or frame.empty or frame["psu"].isna().any():
        return {}
    options = {"psu": "psu"}
    if "stratum" in frame.columns and frame["stratum"].notna().all():
        options["strata"] = "stratum"
    return options


def indicator(frame: pd.DataFrame, column: str, positive: Iterable[object], **options) -> pd.DataFrame:
    """Weighted share of units whose ``column`` is one of ``positive`` (missing answers left out).

    ``options`` are those of :func:`weighted_proportion` (``by``, ``weight``, ``level``...).
    """
    if column not in frame.columns:
        raise KeyError(f"the survey data has no item {column!r}")
    raw = frame[column]
    y = raw.isin(list(positive)).astype(float).where(raw.notna())
    return weighted_proportion(frame, y, **options)


def flatten_items(frame: pd.DataFrame, column: str = "items") -> pd.DataFrame:
    """Expand a column of item dicts (``SurveyResponse.items``) into one column per item."""
    items = pd.DataFrame.from_records([d or {} for d in frame[column]], index=frame.index)
    return pd.concat([frame.drop(columns=[column]), items], axis=1)


# --------------------------------------------------------------------------- victimisation


def victimisation_prevalence(persons: pd.DataFrame, crime: str | None = None, **options) -> pd.DataFrame:
    """Share of persons victimised (``victim_any``, or ``victim_<crime>``) in the reference period."""
    return indicator(persons, f"victim_{crime}" if crime else "victim_any", [1], **options)


def collapse_to_households(frame: pd.DataFrame, columns: Sequence[str], *, household: str = "household_key",
                           weight: str = "weight", by: Sequence[str] = ()) -> pd.DataFrame:
    """One row per household: each of ``columns`` is its maximum over members (1 if anyone was a
    victim), the weight the mean of the members' weights (an approximation used when a survey
    publishes no household weight), ``by`` columns taken from the first member."""
    agg = {c: "max" for c in columns} | {weight: "mean"} | {b: "first" for b in by}
    return frame.groupby(household, sort=False).agg(agg).reset_index()


def households_victimised(frame: pd.DataFrame, crime: str | None = None, *, household: str = "household_key",
                          **options) -> pd.DataFrame:
    """Share of households where at least one member (or the household) was victimised.

    ``frame`` holds households (one row each) or persons (several rows per household key:
    collapsed with :func:`collapse_to_households`).
    """
    column = f"victim_{crime}" if crime else "victim_any"
    if column not in frame.columns:
        raise KeyError(f"the survey data has no item {column!r}")
    weight = options.get("weight", "weight")
    if household in frame.columns and frame[household].notna().all() and frame[household].duplicated().any():
        keep = _as_list(options.get("by")) + [c for c in (options.get("psu"), options.get("strata")) if c]
        frame = collapse_to_households(frame, [column], household=household, weight=weight, by=keep)
    return indicator(frame, column, [1], **options)


def revictimisation(frame: pd.DataFrame, **options) -> pd.DataFrame:
    """Among victims (``times_victimised >= 1``), the share victimised twice or more."""
    if "times_victimised" not in frame.columns:
        raise KeyError("revictimisation needs the item 'times_victimised'")
    times = pd.to_numeric(frame["times_victimised"], errors="coerce")
    victims = frame[times >= 1]
    y = (times[times >= 1] >= 2).astype(float)
    return weighted_proportion(victims, y, **options)


# --------------------------------------------------------------------------- reporting

DARK_RULES = ("not_reported", "not_file_opened")
RULE_ALIASES = {"envipe": "not_file_opened", "inegi": "not_file_opened", "dane": "not_reported"}


@dataclass(frozen=True)
class ReportingDefinition:
    """How a statistics office defines its reporting rate and dark figure (from the survey profile).

    ``name`` is the figure's name on screen (i18n key ``survey.dark.<name>``: "cifra negra (INEGI)",
    "cifra oculta (DANE)"); ``dark_figure`` the rule: ``not_file_opened`` (INEGI: not reported, or
    reported without an investigation file opened, or unknown) or ``not_reported`` (DANE: not
    reported to any authority); ``exclude_crime_types`` are left out of the universe (INEGI leaves
    out vandalism, BPCOD 03); ``source`` cites the definition.
    """

    name: str = "not_reported"
    dark_figure: str = "not_reported"
    exclude_crime_types: tuple[str, ...] = ()
    source: str = ""


DEFAULT_DEFINITION = ReportingDefinition()


def parse_definition(spec: Mapping[str, Any] | None) -> ReportingDefinition:
    """A :class:`ReportingDefinition` from a profile's ``[definitions]`` table (None: the default)."""
    if not spec:
        return DEFAULT_DEFINITION
    unknown = set(spec) - {"name", "dark_figure", "exclude_crime_types", "source"}
    if unknown:
        raise ValueError(f"unknown key(s) {sorted(unknown)}")
    rule = str(spec.get("dark_figure", "not_reported"))
    if rule not in DARK_RULES:
        raise ValueError(f"dark_figure = {rule!r} must be one of {', '.join(DARK_RULES)}")
    exclude = spec.get("exclude_crime_types", ())
    if isinstance(exclude, str):
        exclude = (exclude,)
    return ReportingDefinition(str(spec.get("name", rule)), rule, tuple(str(c) for c in exclude),
                               str(spec.get("source", "")))


def _events_of(events: pd.DataFrame, crime_types: Iterable[str] | None) -> pd.DataFrame:
    if crime_types is None:
        return events
    return events[events["crime_type"].isin(list(crime_types))]


def reporting_universe(events: pd.DataFrame, definition: ReportingDefinition = DEFAULT_DEFINITION) -> pd.DataFrame:
    """The events the agency counts: all but ``definition.exclude_crime_types`` (INEGI: vandalism)."""
    if not definition.exclude_crime_types or "crime_type" not in events.columns:
        return events
    return events[~events["crime_type"].isin(list(definition.exclude_crime_types))]


def reporting_rate(events: pd.DataFrame, crime_types: Iterable[str] | None = None, *,
                   definition: ReportingDefinition = DEFAULT_DEFINITION, **options) -> pd.DataFrame:
    """Share of crimes (event rows; or victims' last crime) reported to an authority.

    The universe follows ``definition`` (events of excluded crime types left out); events whose
    reporting is unknown are left out. ``crime_types`` restricts the crime codes further.
    """
    return indicator(_events_of(reporting_universe(events, definition), crime_types), "reported", [1], **options)


def file_opened_rate(events: pd.DataFrame, crime_types: Iterable[str] | None = None, *,
                     definition: ReportingDefinition = DEFAULT_DEFINITION, **options) -> pd.DataFrame:
    """Share of ALL crimes of the universe for which an investigation file was opened (INEGI: 6.7% in 2020).

    Unknown counts as "no file", as INEGI does.
    """
    events = _events_of(reporting_universe(events, definition), crime_types)
    if "report_file_opened" not in events.columns:
        raise KeyError("the survey data has no item 'report_file_opened'")
    return weighted_proportion(events, (events["report_file_opened"] == 1).astype(float), **options)


def dark_figure(events: pd.DataFrame, definition: ReportingDefinition | str = DEFAULT_DEFINITION,
                crime_types: Iterable[str] | None = None, **options) -> pd.DataFrame:
    """Share of crimes that stay outside official records, by the agency's ``definition``.

    ``not_file_opened`` (INEGI's cifra negra): crimes not reported, plus those reported without
    an investigation file opened, plus those where that is unknown: ``1 - share(report_file_opened
    == 1)`` over the universe. ``not_reported`` (DANE's cifra oculta): crimes not reported to any
    authority, ``1 - reporting rate``. A string picks the rule with no universe exclusion.
    """
    if isinstance(definition, str):
        definition = RULE_ALIASES.get(definition, definition)
        if definition not in DARK_RULES:
            raise ValueError(f"unknown dark figure rule {definition!r} ({', '.join(DARK_RULES)})")
        definition = ReportingDefinition(definition, definition)
    events = _events_of(reporting_universe(events, definition), crime_types)
    if definition.dark_figure == "not_file_opened":
        if "report_file_opened" not in events.columns:
            raise KeyError("this dark figure needs 'report_file_opened'; use the rule 'not_reported'")
        y = 1.0 - (events["report_file_opened"] == 1).astype(float)  # unknown counts as dark, as INEGI does
        return weighted_proportion(events, y, **options)
    if "reported" not in events.columns:
        raise KeyError("the survey data has no item 'reported'")
    reported = events["reported"]
    return weighted_proportion(events, (reported == 0).astype(float).where(reported.notna()), **options)


# --------------------------------------------------------------------------- perception and trust


def insecurity_perception(frame: pd.DataFrame, scope: str = "city", **options) -> pd.DataFrame:
    """Share who feel unsafe in their ``scope``: "city" or "neighbourhood"."""
    if scope not in ("city", "neighbourhood"):
        raise ValueError(f"scope must be 'city' or 'neighbourhood', not {scope!r}")
    return indicator(frame, f"unsafe_{scope}", [1], **options)


def crime_rising_perception(frame: pd.DataFrame, **options) -> pd.DataFrame:
    """Share who think crime rose over the last 12 months (``crime_trend_past == 1``)."""
    return indicator(frame, "crime_trend_past", [1], **options)


def trust(frame: pd.DataFrame, institution: str = "police", levels: Iterable[int] = (1, 2),
          **options) -> pd.DataFrame:
    """Share who trust ``institution`` ("police" or "municipality") much or somewhat (``levels``)."""
    if institution not in ("police", "municipality"):
        raise ValueError(f"institution must be 'police' or 'municipality', not {institution!r}")
    return indicator(frame, f"trust_{institution}", list(levels), **options)
