"""Text normalisation shared by every importer: accent- and case-insensitive keys."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")
_PUNCT = re.compile(r"[^\w\s./-]")


def fold(text: object) -> str:
    """Return a matching key: no accents, lower case, single spaces, trimmed.

    ``fold("  Álvaro   Obregón ") == "alvaro obregon"``; ``None`` and NaN give ``""``.
    """
    if text is None or (isinstance(text, float) and text != text):
        return ""
    decomposed = unicodedata.normalize("NFKD", str(text))
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped.replace("\r", " ")).strip().casefold()


def label_key(text: object) -> str:
    """Key for crime labels: :func:`fold` plus punctuation other than ``. / -`` removed."""
    return _SPACES.sub(" ", _PUNCT.sub(" ", fold(text))).strip()
