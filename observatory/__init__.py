"""Municipal crime observatory: ingestion, spatial analysis, indicators and dashboard."""

__version__ = "0.1.0"
