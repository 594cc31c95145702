"""One entry point for every import: :func:`import_file`.

The command line (``python -m observatory ingest / boundaries import / boundaries population``) and
the analyst page's upload both call it, so a file goes through the same checks, the same audit
record and the same importer whichever way it arrives. It checks the kind and the options that kind
takes (one sentence naming the missing or unknown option), declares the audit record with
:func:`observatory.ingest.batches.audited` (written in the import's own transaction, see there) and
runs the kind's importer.

Light at import time: the importers (pandas, GeoPandas, SQLAlchemy models) load on the first call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from observatory.ingest.report import ImportFailed

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from observatory.ingest.report import ImportReport

# What a missing option is called in the sentence (the CLI's --flag and the page's field say the same).
_OPTION_NAMES = {"profile": "the profile", "layer": "the layer name", "id_field": "the id field",
                 "name_field": "the name field", "population_field": "the population field"}


@dataclass(frozen=True)
class ImportKind:
    """The options one kind of import needs and those it accepts besides."""

    required: tuple[str, ...]
    optional: tuple[str, ...]
    run: Callable[..., ImportReport]

    @property
    def options(self) -> tuple[str, ...]:
        return self.required + self.optional


def _incidents(kind: str) -> Callable[..., ImportReport]:
    def run(path: Path, engine: Engine | None, user_name: str | None, progress: bool,
            **options: Any) -> ImportReport:
        from observatory.ingest.incidents import ingest_incidents

        return ingest_incidents(path, source_kind=kind, engine=engine, user_name=user_name, progress=progress,
                                **options)
    return run


def _survey(path: Path, engine: Engine | None, user_name: str | None, progress: bool,
            **options: Any) -> ImportReport:
    from observatory.ingest.surveys import ingest_survey

    return ingest_survey(path, engine=engine, user_name=user_name, **options)


def _boundaries(path: Path, engine: Engine | None, user_name: str | None, progress: bool,
                **options: Any) -> ImportReport:
    from observatory.ingest.boundaries import import_boundaries

    return import_boundaries(path, engine=engine, user_name=user_name, **options)


def _population(path: Path, engine: Engine | None, user_name: str | None, progress: bool,
                **options: Any) -> ImportReport:
    from observatory.ingest.population import attach_population

    return attach_population(path, engine=engine, user_name=user_name, **options)


_INCIDENT_OPTIONS = ("rejects_path", "label", "max_rejected_share", "sheet")
IMPORT_KINDS: dict[str, ImportKind] = {
    "police": ImportKind(("profile",), _INCIDENT_OPTIONS, _incidents("police")),
    "complaint": ImportKind(("profile",), _INCIDENT_OPTIONS, _incidents("complaint")),
    "survey": ImportKind(("profile",), ("wave", "rejects_path", "territory"), _survey),
    "boundaries": ImportKind(("layer", "id_field", "name_field"),
                             ("population_field", "district_field", "crs", "level", "primary", "encoding",
                              "source_layer"), _boundaries),
    "population": ImportKind(("layer", "id_field", "population_field"), ("encoding", "sheet", "delimiter"),
                             _population),
}


def kind_options(kind: str) -> tuple[str, ...]:
    """The options :func:`import_file` accepts for ``kind`` (none for an unknown kind)."""
    spec = IMPORT_KINDS.get(kind)
    return spec.options if spec else ()


def _given(options: dict[str, Any]) -> dict[str, Any]:
    """The options with a value: None and blank text (an empty form field) mean "not given"."""
    out = {}
    for name, value in options.items():
        if isinstance(value, str):
            value = value.strip()
        if value is not None and value != "":
            out[name] = value
    return out


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def checked_options(kind: str, file_name: str, options: dict[str, Any]) -> dict[str, Any]:
    """``options`` with a value, checked against what ``kind`` needs; raises :class:`ImportFailed` with one
    sentence naming the file and the unknown kind, the missing option(s) or an option the kind does not take."""
    spec = IMPORT_KINDS.get(kind)
    if spec is None:
        raise ImportFailed(f"{file_name}: unknown import kind {kind!r}; the kinds are {', '.join(IMPORT_KINDS)}")
    given = _given(options)
    unknown = sorted(set(given) - set(spec.options))
    if unknown:
        raise ImportFailed(f"{file_name}: a {kind} import takes no option {_listed(unknown)}; its options are "
                           f"{', '.join(spec.options)}")
    missing = [name for name in spec.required if name not in given]
    if missing:
        verb = "need" if kind.endswith("s") else "needs"
        raise ImportFailed(f"{file_name}: {kind} {verb} {_listed([_OPTION_NAMES[n] for n in spec.required])} "
                           f"(missing: {_listed(missing)})")
    return given


def import_file(kind: str, path: str | Path, *, user_name: str | None, via: str, engine: Engine | None = None,
                file_name: str | None = None, progress: bool = False, **options: Any) -> ImportReport:
    """Import ``path`` as ``kind`` ("police", "complaint", "survey", "boundaries" or "population").

    ``options`` are the importer's keyword arguments for that kind (see :data:`IMPORT_KINDS`; None or blank
    means not given): police and complaint need ``profile`` (also ``label``, ``max_rejected_share``,
    ``sheet``, ``rejects_path``); survey ``profile`` (``wave``, ``territory``, ``rejects_path``); boundaries
    ``layer``, ``id_field``, ``name_field`` (``population_field``, ``source_layer``, ``encoding``,
    ``primary``, ...); population ``layer``, ``id_field``, ``population_field`` (``encoding``, ``sheet``).
    ``via`` says where the import came from ("cli", "upload"); the audit event names ``user_name``, else
    ``via``, with ``kind``, ``file`` (``file_name``, default ``path``: an upload's own name, not its
    temporary path), ``profile`` and ``via``. ``progress`` draws a progress bar where the importer has one.
    Returns the importer's :class:`ImportReport`; raises :class:`ImportFailed` (one sentence) for a wrong
    kind or option before anything is written, and whatever the importer raises.
    """
    from observatory.ingest.batches import audited

    shown = str(file_name or path)
    given = checked_options(kind, shown, options)
    with audited(user_name or via, kind=kind, file=shown, profile=str(given.get("profile", "")), via=via):
        return IMPORT_KINDS[kind].run(Path(path), engine, user_name, progress, **given)
