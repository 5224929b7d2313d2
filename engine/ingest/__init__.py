"""Ingest of accounts, contacts and events from the API and from files."""

from engine.ingest.records import KINDS, IngestResult, RecordError
from engine.ingest.service import (
    UPSERTS,
    account_ids,
    purge_expired_events,
    track_events,
    upsert_accounts,
    upsert_contacts,
)

__all__ = [
    "KINDS",
    "UPSERTS",
    "account_ids",
    "IngestResult",
    "RecordError",
    "purge_expired_events",
    "track_events",
    "upsert_accounts",
    "upsert_contacts",
]
