"""Importing accounts, contacts and events from CSV and NDJSON files (plain or gzip)."""

from engine.importer.report import ImportSummary, Rejection
from engine.importer.run import DEFAULT_BATCH, import_file
from engine.importer.sources import FORMATS, ImportInputError

__all__ = ["DEFAULT_BATCH", "FORMATS", "ImportInputError", "ImportSummary", "Rejection", "import_file"]
