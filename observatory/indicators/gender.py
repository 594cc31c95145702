"""Gender lens: violence against women from both sources, side by side.

* Recorded: sexual and domestic violence (the sensitive categories of ``observatory.taxonomy``)
  as counts and rates per 100,000 over the window, from the counts the viewer's query returned
  (for the public: the published, perturbed monthly counts; a withheld month makes the total
  NA, never a partial sum). Never points.
* Survey: victimisation and high fear of women and men with 95% intervals (design-based when the
  rows carry their design), and the women-minus-men difference with its interval
  (``survey_figures.change_between``: independent groups of respondents, a close approximation
  for domains of one design).
"""

from __future__ import annotations

import pandas as pd

from observatory.indicators import fear, survey
from observatory.indicators.rates import rate_per_100k
from observatory.indicators.survey_figures import change_between

GENDER_CATEGORIES = ("domestic_violence", "rape", "sexual_assault", "other_sexual")


def recorded_gender_violence(category_month: pd.DataFrame, population: float,
                             categories: tuple[str, ...] = GENDER_CATEGORIES) -> pd.DataFrame:
    """Per category of ``categories``: count over the window and rate per 100,000 (not annualised).

    ``category_month``: month, category, count (NA = withheld). A category with any withheld
    month gets an NA count and rate. Categories absent from the data count 0.
    """
    rows = []
    for code in categories:
        counts = category_month.loc[category_month["category"] == code, "count"]
        total = counts.sum(skipna=False) if len(counts) else 0
        total = None if pd.isna(total) else int(total)
        rows.append({"category": code, "count": total,
                     "rate": None if total is None else float(rate_per_100k(float(total), float(population)))})
    return pd.DataFrame(rows, columns=["category", "count", "rate"])


def survey_by_sex(persons: pd.DataFrame) -> pd.DataFrame:
    """Victimisation and high fear of women (F) and men (M), with the F - M difference.

    Output: indicator, sex ("F", "M" or "F-M"), estimate, ci_low, ci_high, se, n, unreliable,
    method, significant (F-M rows only). Indicators a survey did not ask are left out.
    """
    if persons.empty or "sex" not in persons or not persons["sex"].isin(["F", "M"]).any():
        return pd.DataFrame()
    rows = persons[persons["sex"].isin(["F", "M"])]
    design = survey.design_columns(rows)
    parts = []
    if "victim_any" in rows and rows["victim_any"].notna().any():
        parts.append(survey.victimisation_prevalence(rows, by="sex", **design).assign(indicator="victimisation"))
    high = fear.fear_index(rows, by="sex", **design)
    high = high[(high["fear_level"] == "high") & (high["n"] > 0)].drop(columns="fear_level")
    if len(high):
        parts.append(high.assign(indicator="fear_high"))
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    diffs = []
    for name, group in out.groupby("indicator", sort=False):
        by_sex = group.set_index("sex")
        if {"F", "M"} <= set(by_sex.index):
            diff = change_between(by_sex.loc["M"], by_sex.loc["F"])  # F minus M
            diffs.append({"indicator": name, "sex": "F-M", "estimate": diff["difference"],
                          "ci_low": diff["ci_low"], "ci_high": diff["ci_high"], "significant": diff["significant"],
                          "method": by_sex["method"].iloc[0]})
    out = pd.concat([out, pd.DataFrame(diffs)], ignore_index=True)
    return out.reindex(columns=["indicator", "sex", "estimate", "ci_low", "ci_high", "se", "n", "unreliable",
                                "method", "significant"])
