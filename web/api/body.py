"""Reading a batch request body, with an exact reason for every refusal."""

from __future__ import annotations

import json
from typing import Any

from flask import request

from engine.ingest.fields import json_type
from web.api.errors import ApiError


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON; send numbers as finite values or strings")


def read_json() -> Any:
    """The request's JSON document; ApiError (400/413/415) otherwise."""
    if not (request.mimetype == "application/json" or request.mimetype.endswith("+json")):
        got = request.content_type or "no Content-Type header"
        raise ApiError(415, "unsupported_media_type", f"send the body as 'Content-Type: application/json' (got {got})")
    raw = request.get_data(cache=False)  # raises RequestEntityTooLarge past MAX_CONTENT_LENGTH
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ApiError(400, "invalid_json", f"the body is not UTF-8: byte {raw[exc.start]:#04x} at position {exc.start}") from None
    if not text.strip():
        raise ApiError(400, "invalid_json", "the body is empty; expected a JSON object")
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, "invalid_json", f"invalid JSON at line {exc.lineno} column {exc.colno} (character {exc.pos}): {exc.msg}"
        ) from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "the JSON is nested too deeply") from None
    except ValueError as exc:  # NaN/Infinity, integers past Python's digit limit
        raise ApiError(400, "invalid_json", f"invalid JSON: {exc}") from None
    return document


def read_batch(kind: str, max_batch: int) -> list[Any]:
    """The list under ``kind`` in a ``{"<kind>": [...]}`` body."""
    document = read_json()
    if not isinstance(document, dict):
        raise ApiError(
            400, "invalid_body", f'expected a JSON object such as {{"{kind}": [...]}}, got {json_type(document)}'
        )
    unknown = sorted(k for k in document if k != kind)
    if unknown:
        names = ", ".join(repr(k) for k in unknown)
        raise ApiError(400, "unknown_fields", f"unknown top-level field(s) {names}; this endpoint takes only {kind!r}")
    if kind not in document:
        raise ApiError(400, "missing_field", f'the body has no {kind!r} field; expected {{"{kind}": [...]}}')
    records = document[kind]
    if not isinstance(records, list):
        raise ApiError(400, "invalid_body", f"{kind!r} must be an array of records, got {json_type(records)}")
    if len(records) > max_batch:
        raise ApiError(
            413,
            "batch_too_large",
            f"a batch holds at most {max_batch} records; this one has {len(records)}: split it into smaller batches",
        )
    return records

