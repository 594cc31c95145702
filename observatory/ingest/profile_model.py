"""The base of every import profile's data model (incident and survey profiles).

Profiles are pydantic models so that each key's type and allowed values are declared once, beside
the key, rather than checked by hand. Errors keep the style users already know from the README and
``--help``: ``"profile <source>: <key>: <what is wrong>"``, one sentence naming the file and the key.

A model's own validators raise ``ValueError("...")`` with a complete sentence; :func:`explain` turns the
first pydantic error into that style (pydantic prefixes custom messages with "Value error, ", which is
dropped). The callers raise their own ``ImportFailed`` subclass with the result.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError


class ProfileModel(BaseModel):
    """Frozen, closed (unknown keys are errors) and strict about types a TOML file can confuse."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True,
                              str_strip_whitespace=False, validate_default=True)


def _location(loc: tuple[Any, ...]) -> str:
    """``("columns", "category", 0)`` -> ``"columns.category[0]"``: the key as the user wrote it."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def explain(exc: ValidationError, where: str) -> str:
    """One sentence for the first error of ``exc``: ``"<where>: <key>: <message>"``.

    A message that already names its key (our validators' sentences) is not prefixed twice, and an
    error on the whole model (an empty location) has no key part.
    """
    first = exc.errors(include_url=False)[0]
    message = str(first.get("msg", "invalid value"))
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    key = _location(tuple(first.get("loc", ())))
    if first.get("type") == "extra_forbidden":
        message = "unknown key"
    top = key.split(".")[0]  # "[values.victim_sex] must be..." names the key "values" already
    if not key or message.startswith((key, f"[{top}]", f"[{top}.")):
        return f"{where}: {message}"
    return f"{where}: {key}: {message}"
