"""``POST /api/v1/suppressions``: complaints and bounces reported by mail providers.

For a feedback-loop or ESP-webhook relay. As with ingest, the batch is
committed before the response is built, and a bad record is reported without
costing the good ones.
"""

from __future__ import annotations

from typing import Any

from flask import g, jsonify

from engine.compliance import (
    InvalidAddress, InvalidCategory, UnsubscribeNotAllowed, check_category, normalise_address, suppress,
)  # fmt: skip
from engine.compliance.addresses import MAX_ADDRESS
from engine.ingest import IngestResult, RecordError
from engine.ingest import fields as f
from engine.ingest.records import Kind
from engine.models import SUPPRESSION_REASONS
from web.api import bp
from web.api.body import read_batch
from web.api.ingest import status_for
from web.context import get_db, get_settings

DEFAULT_SOURCE = "api"


def _address(value: Any) -> str:
    value = f.text(value, max_len=MAX_ADDRESS)  # also refuses what no database stores
    try:
        return normalise_address(value)
    except InvalidAddress:
        raise f.FieldError(f"{value!r} is not an email address") from None


def _category(value: Any) -> str | None:
    if value is None or value == "":
        return None  # every category
    try:
        return check_category(value)
    except InvalidCategory as exc:
        raise f.FieldError(str(exc)) from None


SUPPRESSION = Kind(
    name="suppression",
    required=("address", "reason"),
    parsers={
        "address": _address,
        "reason": lambda v: f.choice(v, SUPPRESSION_REASONS),
        "category": _category,
        "source": lambda v: f.optional_text(v, max_len=100),
    },
)


@bp.post("/suppressions")
def suppressions():
    records = read_batch("suppressions", get_settings().max_batch)
    result = IngestResult()
    parsed: list[tuple[int, dict[str, Any]]] = []
    for index, raw in enumerate(records):
        clean, errors = SUPPRESSION.parse(index, raw)
        result.rejected.extend(errors)
        if clean is not None:
            parsed.append((index, clean))
    with get_db().session() as session:
        for index, rec in parsed:
            try:
                suppress(session, rec["address"], rec["reason"], rec.get("category"), rec.get("source") or DEFAULT_SOURCE,
                         actor=f"api_key:{g.api_key_prefix}")  # fmt: skip
            except UnsubscribeNotAllowed as exc:  # raised before anything is written
                result.rejected.append(RecordError(index, "category", str(exc)))
                continue
            result.accepted += 1
    result.rejected.sort(key=lambda e: e.index)
    body = {"accepted": result.accepted, "rejected": [e.as_dict() for e in result.rejected]}
    return jsonify(body), status_for(result, len(records))
