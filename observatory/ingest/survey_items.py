"""Old import path of the canonical survey items, kept for callers: they live in
:mod:`observatory.ingest.surveys.items`."""

from observatory.ingest.surveys.items import (
    AGE_BANDS,
    CATEGORY_CODES,
    FEAR_SITUATIONS,
    ITEMS,
    PERCEPTION_TRENDS,
    UNITS,
    Item,
    age_group,
    check_value,
    victim_item,
)

__all__ = ["AGE_BANDS", "CATEGORY_CODES", "FEAR_SITUATIONS", "ITEMS", "PERCEPTION_TRENDS", "UNITS", "Item",
           "age_group", "check_value", "victim_item"]
