"""Batch ingest endpoints and the key self-check.

The batch is committed before the response is built: a 2xx means every
accepted record is durably stored.
"""

from __future__ import annotations

import logging

from flask import Response, g, jsonify

from engine.ingest import UPSERTS, IngestResult
from engine.jobs.recheck import request_recheck
from web.api import bp
from web.api.body import read_batch
from web.context import get_db, get_settings


log = logging.getLogger(__name__)


def _ingest(kind: str) -> tuple[Response, int]:
    records = read_batch(kind, get_settings().max_batch)
    with get_db().session() as session:
        result = UPSERTS[kind](session, records)
    if result.new_events:
        _recheck(result)
    return jsonify(result.as_dict()), status_for(result, len(records))


def _recheck(result: IngestResult) -> None:
    """Ask for an on_event re-check of these accounts; the events are stored either way."""
    try:
        request_recheck(result.new_events, get_settings())
    except Exception:  # Redis down: the tick evaluates the rules on their schedule anyway
        log.warning("could not schedule the on_event re-check of %d accounts", len(result.new_events), exc_info=True)


def status_for(result: IngestResult, submitted: int) -> int:
    """200: nothing rejected; 207: some records rejected; 422: every record rejected."""
    if not result.rejected:
        return 200
    rejected = {e.index for e in result.rejected}
    return 422 if len(rejected) >= submitted else 207


@bp.post("/accounts")
def accounts():
    return _ingest("accounts")


@bp.post("/contacts")
def contacts():
    return _ingest("contacts")


@bp.post("/events")
def events():
    return _ingest("events")


@bp.get("/ping")
def ping():
    return jsonify(ok=True, key={"name": g.api_key_name, "prefix": g.api_key_prefix})
