"""Fear-of-crime index after Fundación Paz Ciudadana (Chile), with a documented, replaceable scoring.

Paz Ciudadana combines two blocks of questions into low / medium / high fear:

1. three perception items: crime in the area is more / the same / less than 12 months ago
   (``crime_trend_past``), more / equally / less violent (``crime_violence_trend``), and will
   rise / stay / fall in the next 12 months (``crime_trend_future``);
2. how often the respondent fears being robbed in four situations (``fear_leaving_home``,
   ``fear_coming_home_dusk``, ``fear_walking_alone``, ``fear_home_night``; 1 never, 2 sometimes,
   3 often, 4 always).

Its published thresholds were not found, so the default scoring here (``DEFAULT_CONFIG``) is
our own and documented in ``docs/indicators-survey.md``: each of the seven items scores one point
when the answer is the fearful one (perception: "more", "more violent", "will rise"; situation:
fear "often" or "always"), giving a score from 0 to 7; 0-2 is low, 3-4 medium, 5-7 high fear.
Respondents must answer at least ``min_answered`` of the items; with fewer than all, the score
is rescaled to the full range (score x items / answered) before the thresholds apply.

A city with another questionnaire passes its own config: ``items`` maps each item name to a
dict from answer code to points, ``thresholds`` gives the lowest score of "medium" and "high".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from observatory.indicators.survey import weighted_proportion
from observatory.vocabulary import FEAR_LEVELS as LEVELS

DEFAULT_CONFIG: dict[str, Any] = {
    "items": {
        "crime_trend_past": {1: 1, 2: 0, 3: 0},
        "crime_violence_trend": {1: 1, 2: 0, 3: 0},
        "crime_trend_future": {1: 1, 2: 0, 3: 0},
        "fear_leaving_home": {1: 0, 2: 0, 3: 1, 4: 1},
        "fear_coming_home_dusk": {1: 0, 2: 0, 3: 1, 4: 1},
        "fear_walking_alone": {1: 0, 2: 0, 3: 1, 4: 1},
        "fear_home_night": {1: 0, 2: 0, 3: 1, 4: 1},
    },
    "thresholds": {"medium": 3, "high": 5},
    "min_answered": 6,
}


def _config(config: Mapping[str, Any] | None) -> dict[str, Any]:
    merged = dict(DEFAULT_CONFIG) | dict(config or {})
    if not merged["items"]:
        raise ValueError("the fear index needs at least one item")
    thresholds = merged["thresholds"]
    if not thresholds["medium"] <= thresholds["high"]:
        raise ValueError("thresholds: 'medium' must not exceed 'high'")
    if not 1 <= merged["min_answered"] <= len(merged["items"]):
        raise ValueError(f"min_answered must be between 1 and {len(merged['items'])}")
    return merged


def fear_scores(frame: pd.DataFrame, config: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Per respondent: ``answered`` items, ``score`` (rescaled to all items) and ``fear_level``.

    Items absent from ``frame`` count as unanswered; answer codes not in the config too.
    ``fear_level`` is "low", "medium", "high", or None with too few answers. Indexed like ``frame``.
    """
    cfg = _config(config)
    points = []
    for item, scores in cfg["items"].items():
        column = frame[item] if item in frame.columns else pd.Series(np.nan, index=frame.index)
        codes = pd.to_numeric(column, errors="coerce")
        points.append(codes.map({float(k): float(v) for k, v in scores.items()}))
    table = pd.concat(points, axis=1)
    answered = table.notna().sum(axis=1)
    raw = table.sum(axis=1, min_count=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        score = raw * len(cfg["items"]) / answered
    enough = answered >= cfg["min_answered"]
    score = score.where(enough)
    labels = np.select(
        [~enough, score >= cfg["thresholds"]["high"], score >= cfg["thresholds"]["medium"]],
        [None, "high", "medium"], default="low",
    )
    level = pd.Series(labels, index=frame.index, dtype=object)
    return pd.DataFrame({"answered": answered, "score": score, "fear_level": level}, index=frame.index)


def fear_index(frame: pd.DataFrame, config: Mapping[str, Any] | None = None, *,
               by: str | Sequence[str] | None = None, **options) -> pd.DataFrame:
    """Weighted shares of low, medium and high fear, overall or by group, with 95% intervals.

    Returns the columns of :func:`observatory.indicators.survey.weighted_proportion` plus
    ``fear_level``: one row per group and level. Respondents with too few answers are left out.
    """
    levels = fear_scores(frame, config)["fear_level"]
    parts = []
    for level in LEVELS:
        y = (levels == level).astype(float).where(levels.notna())
        result = weighted_proportion(frame, y, by=by, **options)
        result.insert(0, "fear_level", level)
        parts.append(result)
    return pd.concat(parts, ignore_index=True)
