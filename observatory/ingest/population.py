"""Attaching population to a boundary layer: kept at this path for the CLI, the upload page and the
incident importer; the code lives with the rest of the boundary import, in
:mod:`observatory.ingest.boundaries.population`."""

from observatory.ingest.boundaries.population import (
    LISTED,
    attach_population,
    missing_population_warning,
    read_population,
)

__all__ = ["LISTED", "attach_population", "missing_population_warning", "read_population"]
