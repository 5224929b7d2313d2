"""The OpenAPI 3.1 description of the HTTP API, served at ``GET /api/v1/openapi.json``.

``docs/openapi.json`` is this same document written out by
``python -m web.api docs/openapi.json``; a test fails when the file, the
served document, the routes or the record tables in ``engine.ingest.records``
disagree. The description needs no API key, so it lives on its own blueprint.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from flask import Blueprint, Response

from engine.compliance.addresses import MAX_ADDRESS
from engine.ingest import fields as f
from engine.models import ROLES, SUPPRESSION_REASONS, TIERS
from engine.rules.validate import CATEGORY

public_bp = Blueprint("api_public", __name__, url_prefix="/api/v1")

VERSION = "1"

# -- record fields: what each parser in engine/ingest/fields.py accepts ----------------

NULL = {"type": "null"}
TEXT = {"type": ["string", "integer"], "minLength": 1, "maxLength": f.MAX_NAME}
TIMESTAMP = {
    "type": ["string", "number"],
    "description": "ISO 8601 date or date-time (UTC when it has no offset), or Unix time in seconds",
    "examples": ["2026-05-01T09:30:00Z"],
}
TIMEZONE = {"type": ["string", "null"], "description": "an IANA time zone", "examples": ["Asia/Tokyo"]}
LOCALE = {"type": ["string", "null"], "maxLength": 16, "pattern": f.LOCALE_RE.pattern, "examples": ["ja", "en-GB"]}
MAPPING = {
    "type": ["object", "string", "null"],
    "description": (
        f"a JSON object of at most {f.MAX_TRAITS_BYTES // 1024} KiB serialised, nested at most "
        f"{f.MAX_TRAITS_DEPTH} levels, without Infinity, NaN, NUL characters or unpaired surrogates; "
        "a string holding such an object is read as that object"
    ),
}


def _optional(schema: dict[str, Any]) -> dict[str, Any]:
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    return {**schema, "type": [*types, "null"]}


def _enum(options: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "enum": list(options), "description": "case-insensitive"}


IDENTIFIER = {**TEXT, "maxLength": f.MAX_ID, "description": "your id for it; stored as text"}
MONEY = {
    "type": ["number", "string", "null"],
    "minimum": 0,
    "exclusiveMaximum": 1_000_000_000_000,
    "description": "an amount of at least 0 and below 10^12, as a number or a numeric string; kept to 2 decimals",
}
EVENT_NAME = {"type": "string", "pattern": f.EVENT_NAME_RE.pattern}

ACCOUNT = {
    "id": IDENTIFIER,
    "name": TEXT,
    "plan": _optional({**TEXT, "maxLength": 100}),
    "mrr": {**MONEY, "description": "monthly recurring revenue; ARR is derived when absent. " + MONEY["description"]},
    "arr": {**MONEY, "description": "annual recurring revenue; MRR is derived when absent. " + MONEY["description"]},
    "tier": _enum(TIERS),
    "signup_at": _optional(TIMESTAMP),
    "renewal_at": _optional(TIMESTAMP),
    "owner": _optional(TEXT),
    "timezone": TIMEZONE,
    "locale": LOCALE,
    "traits": {**MAPPING, "description": MAPPING["description"] + "; keys merge into the stored traits, a key set to null is removed"},
    "changed_at": {
        "type": ["string", "null"],
        "format": "date-time",
        "description": (
            "when the owner, tier and plan in this record took effect: ISO 8601 with a timezone, "
            "at most 5 minutes ahead; default: now"
        ),
    },
}
CONTACT = {
    "id": IDENTIFIER,
    "account_id": {**IDENTIFIER, "description": "the account's id; an unknown one gets a stub account"},
    "email": {"type": ["string", "null"], "maxLength": 320, "format": "email"},
    "name": _optional(TEXT),
    "role": _enum(ROLES),
    "locale": LOCALE,
    "timezone": TIMEZONE,
    "traits": MAPPING,
    "last_seen_at": _optional(TIMESTAMP),
}
EVENT = {
    "id": {**IDENTIFIER, "description": "send one, so that a resent event is recognised as a duplicate"},
    "account_id": {**IDENTIFIER, "description": "the account's id; an unknown one gets a stub account"},
    "contact_id": _optional({**IDENTIFIER, "description": "the contact's id, if a person did it"}),
    "name": EVENT_NAME,
    "event": {**EVENT_NAME, "description": "another name for `name`"},
    "timestamp": {**TIMESTAMP, "description": TIMESTAMP["description"] + "; default: now"},
    "occurred_at": {**TIMESTAMP, "description": "another name for `timestamp`"},
    "time": {**TIMESTAMP, "description": "another name for `timestamp`"},
    "properties": MAPPING,
}
SUPPRESSION = {
    "address": {"type": ["string", "integer"], "maxLength": MAX_ADDRESS, "format": "email"},
    "reason": {"type": "string", "enum": list(SUPPRESSION_REASONS), "description": "case-insensitive"},
    "category": {"type": ["string", "null"], "pattern": CATEGORY.pattern, "description": "omitted or null: every category"},
    "source": _optional({**TEXT, "maxLength": 100, "description": "where the report came from; default: api"}),
}


def _record(title: str, properties: dict[str, Any], required: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "title": title,
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
        **extra,
    }


# Why a JSON Schema per field rather than one generated from the parsers: the
# parsers are code; a test checks that these tables name exactly their fields.
RECORDS = {
    "Account": _record("account", ACCOUNT, ["id"]),
    "Contact": _record("contact", CONTACT, ["id", "account_id"]),
    "Event": _record(
        "event", EVENT, ["account_id"], anyOf=[{"required": ["name"]}, {"required": ["event"]}]
    ),
    "Suppression": _record("suppression", SUPPRESSION, ["address", "reason"]),
}

# -- answers -------------------------------------------------------------------------

RECORD_ERROR = {
    "type": "object",
    "properties": {
        "index": {"type": "integer", "minimum": 0, "description": "the record's position in the array"},
        "field": {"type": ["string", "null"], "description": "the field at fault; null when the record as a whole is"},
        "reason": {"type": "string"},
        "id": {"type": ["string", "null"], "description": "the record's id, if it had one"},
    },
    "required": ["index", "field", "reason", "id"],
    "additionalProperties": False,
}
COUNT = {"type": "integer", "minimum": 0}
SCHEMAS: dict[str, Any] = {
    **RECORDS,
    "IngestResult": {
        "type": "object",
        "properties": {
            "accepted": {**COUNT, "description": "records stored or updated"},
            "duplicates": {**COUNT, "description": "events already known, or repeated within the batch"},
            "rejected": {"type": "array", "items": {"$ref": "#/components/schemas/RecordError"}},
        },
        "required": ["accepted", "duplicates", "rejected"],
        "additionalProperties": False,
    },
    "SuppressionResult": {
        "type": "object",
        "properties": {
            "accepted": {**COUNT, "description": "records now on the list, including those already there"},
            "rejected": {"type": "array", "items": {"$ref": "#/components/schemas/RecordError"}},
        },
        "required": ["accepted", "rejected"],
        "additionalProperties": False,
    },
    "RecordError": RECORD_ERROR,
    "Error": {
        "type": "object",
        "properties": {
            "error": {
                "type": "object",
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
                "required": ["code", "message"],
                "additionalProperties": False,
            }
        },
        "required": ["error"],
        "additionalProperties": False,
    },
    "Ping": {
        "type": "object",
        "properties": {
            "ok": {"const": True},
            "key": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "prefix": {"type": "string"}},
                "required": ["name", "prefix"],
                "additionalProperties": False,
            },
        },
        "required": ["ok", "key"],
        "additionalProperties": False,
    },
}


def _json(ref: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}


def _error(description: str, **headers: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description, "content": _json("Error")}
    if headers:
        answer["headers"] = {name: {"description": text, "schema": {"type": "string"}} for name, text in headers.items()}
    return answer


RESPONSES = {
    "BadRequest": _error("the body cannot be read: invalid_json, invalid_body, missing_field or unknown_fields"),
    "Unauthorized": _error(
        "missing_api_key, invalid_authorization or invalid_api_key", **{"WWW-Authenticate": 'Bearer realm="touchline"'}
    ),
    "TooLarge": _error("payload_too_large (TOUCHLINE_MAX_REQUEST_BYTES) or batch_too_large (TOUCHLINE_MAX_BATCH)"),
    "UnsupportedMediaType": _error("unsupported_media_type: the Content-Type is not application/json"),
    "RateLimited": _error(
        "rate_limited: this key's budget is used up, or this client address made too many failed authentications",
        **{"Retry-After": "seconds to wait"},
    ),
    "InternalError": _error("internal_error: a fault on the server, logged; safe to retry"),
    "Error": _error("any other error, such as not_found or method_not_allowed"),
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def _batch(kind: str, record: str, summary: str, result: str = "IngestResult") -> dict[str, Any]:
    """The POST operation of a batch endpoint taking ``{"<kind>": [<record>, ...]}``."""
    outcome = {"content": _json(result)}
    return {
        "post": {
            "operationId": f"post_{kind}",
            "summary": summary,
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                kind: {
                                    "type": "array",
                                    "items": {"$ref": f"#/components/schemas/{record}"},
                                    "description": "up to TOUCHLINE_MAX_BATCH records (default 1000)",
                                }
                            },
                            "required": [kind],
                            "additionalProperties": False,
                        }
                    }
                },
            },
            "responses": {
                "200": {"description": "every record was accepted (or was a duplicate)", **outcome},
                "207": {"description": "some records were rejected; the others were stored", **outcome},
                "422": {"description": "every record was rejected; nothing was stored", **outcome},
                "400": _ref("BadRequest"),
                "401": _ref("Unauthorized"),
                "413": _ref("TooLarge"),
                "415": _ref("UnsupportedMediaType"),
                "429": _ref("RateLimited"),
                "500": _ref("InternalError"),
                "default": _ref("Error"),
            },
        }
    }


@cache
def document() -> dict[str, Any]:
    """The OpenAPI document as plain data (shared: do not change it)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Touchline HTTP API",
            "version": VERSION,
            "description": "Accounts, contacts, usage events and suppressions, sent in batches. docs/api.md explains it.",
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "security": [{"apiKey": []}],
        "paths": {
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "get_openapi",
                    "summary": "this description of the API",
                    "security": [],
                    "responses": {"200": {"description": "an OpenAPI 3.1 document", "content": {"application/json": {"schema": {"type": "object"}}}}},
                }
            },
            "/api/v1/ping": {
                "get": {
                    "operationId": "ping",
                    "summary": "check the API key",
                    "responses": {
                        "200": {"description": "the key is valid", "content": _json("Ping")},
                        "401": _ref("Unauthorized"),
                        "429": _ref("RateLimited"),
                        "default": _ref("Error"),
                    },
                }
            },
            "/api/v1/accounts": _batch("accounts", "Account", "create or update accounts by id"),
            "/api/v1/contacts": _batch("contacts", "Contact", "create or update contacts by id"),
            "/api/v1/events": _batch("events", "Event", "store usage events"),
            "/api/v1/suppressions": _batch(
                "suppressions", "Suppression", "add addresses to the suppression list", result="SuppressionResult"
            ),
        },
        "components": {
            "securitySchemes": {
                "apiKey": {"type": "http", "scheme": "bearer", "description": "a key from `touchline api-keys create`"}
            },
            "schemas": SCHEMAS,
            "responses": RESPONSES,
        },
    }


@cache
def document_text() -> str:
    """The document as served and as written to docs/openapi.json, byte for byte."""
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"


@public_bp.get("/openapi.json")
def openapi_json() -> Response:
    return Response(document_text(), mimetype="application/json")

