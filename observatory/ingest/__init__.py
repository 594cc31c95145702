"""Ingestion: files -> normalised rows -> database, with a report for every row.

:func:`import_file` is the one entry point the command line and the upload page use (kinds
police, complaint, survey, boundaries, population); it loads the importers on first call, so
importing this package stays cheap.
"""

from observatory.ingest.entry import import_file as import_file
