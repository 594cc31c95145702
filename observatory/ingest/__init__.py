"""Ingestion: files -> normalised rows -> database, with a report for every row."""
