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

# -- results: RuleResults.as_dict() (engine/results/report.py) ---------------------------


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"oneOf": [schema, NULL]}


def _object(properties: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    found = {"type": "object", "properties": properties, "required": list(properties), "additionalProperties": False}
    return {**found, "description": description} if description else found


def _schema(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1, "description": "a share, 0 to 1; null without accounts"}
DIFFERENCE = {"type": ["number", "null"], "minimum": -1, "maximum": 1, "description": "treated rate minus control rate (0.05: +5 points)"}
P_VALUE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
ALPHA = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}
VERDICT = {"type": "string", "enum": ["better", "worse", "no_evidence", "not_enough_data"]}
FUNNEL = _object({
    "arm": {"type": ["string", "null"], "description": "control, a variant's name, or null: every treated account"},
    **{step: {**COUNT, "description": text} for step, text in (
        ("assigned", "accounts with a recipient, in this arm"),
        ("sent", "with a message handed to the mail server or stored for the product"),
        ("delivered", "sent and not bounced (email), or seen in the product (in-app)"),
        ("bounced", "with a hard bounce"),
        ("opened", "with an email opened (a floor: pixel loads)"),
        ("clicked", "with a link or call to action clicked by a person"),
        ("clicked_flagged", "with a click that looks like a mail scanner's (not in clicked)"),
        ("unsubscribed", "unsubscribed or complained about the rule's category within the goal window"),
    )},
}, "accounts at each step of one arm")  # fmt: skip
COMPARISON = _object({
    "treated_n": COUNT, "treated_x": COUNT, "control_n": COUNT, "control_x": COUNT, "alpha": ALPHA,
    "enough": {"type": "boolean"}, "code": VERDICT, "verdict": {"type": "string"},
    "method": {"type": "string"}, "treated_rate": RATE, "control_rate": RATE, "uplift_abs": DIFFERENCE,
    "uplift_abs_low": DIFFERENCE, "uplift_abs_high": DIFFERENCE,
    "uplift_rel": {"type": ["number", "null"], "description": "treated rate / control rate - 1; null when the control rate is 0"},
    "uplift_rel_low": {"type": ["number", "null"]}, "uplift_rel_high": {"type": ["number", "null"]},
    "p_value": P_VALUE, "test": {"type": ["string", "null"], "enum": ["boschloo", "fisher", "z_pooled", None]},
}, "the fixed-horizon comparison: to be read once, at the end of a campaign")  # fmt: skip
SEQUENTIAL = _object({
    "days": COUNT, "alpha": ALPHA, "tuning_n": {"type": "integer", "minimum": 1}, "enough": {"type": "boolean"},
    "code": VERDICT, "verdict": {"type": "string"}, "treated_rate": RATE, "control_rate": RATE,
    "uplift_abs": DIFFERENCE, "low": DIFFERENCE, "high": DIFFERENCE, "p_value": P_VALUE,
    "decided_on_day": {"type": ["integer", "null"], "minimum": 1}, "drift": {"type": "boolean"},
    "method": {"type": "string"},
    "series": {"type": "array", "description": "one per day of `days`: [treated rate, control rate, interval low, interval high]",
               "items": {"type": "array", "prefixItems": [RATE, RATE, DIFFERENCE, DIFFERENCE], "minItems": 4, "maxItems": 4}},
}, "the daily verdict: an always-valid interval, safe to read every day")  # fmt: skip
ARM = _object({
    "name": {"type": ["string", "null"], "description": "null: every treated account; else the variant's name"},
    "funnel": _schema("Funnel"), "units": {**COUNT, "description": "accounts whose goal window has ended"},
    "converted": COUNT, "open": {**COUNT, "description": "accounts still in their goal window"}, "alpha": ALPHA,
    "sequential": _schema("SequentialResult"), "fixed": _schema("Comparison"),
    "more": _nullable(_object({"treated": COUNT, "control": COUNT, "uplift_abs": DIFFERENCE, "text": {"type": "string"}},
                              "accounts still needed to detect `detect`")),
}, "one treated group (every treated account, or a variant) against the control group")  # fmt: skip
RULE_RESULTS = _object({
    "rule_id": {"type": "string"}, "name": {"type": "string"}, "owner": {"type": ["string", "null"]},
    "category": {"type": "string"}, "holdout": {"type": "number", "minimum": 0, "maximum": 100},
    "paused": {"type": "boolean"},
    "goal": _nullable(_object({
        "text": {"type": "string"}, "active_version": {"type": "integer"},
        "versions": {"type": "array", "items": {"type": "integer"}, "description": "the versions whose outcomes are read"},
        "other_goal_units": {**COUNT, "description": "outcomes measured against another goal: left out"},
        "recomputed_at": {"type": ["string", "null"], "format": "date-time",
                          "description": "when earlier versions were measured again with this goal (touchline results recompute)"},
    })),
    "measured_until": {"type": ["string", "null"], "format": "date-time", "description": "the last outcomes pass"},
    "fired": _object({"accounts": COUNT, "no_recipient": COUNT}), "control": _schema("Funnel"),
    "control_units": COUNT, "control_converted": COUNT, "control_open": COUNT,
    "overall": _nullable(_schema("ArmResult")), "variants": {"type": "array", "items": _schema("ArmResult")},
    "srm": _nullable(_object({
        "observed": {"type": "object", "additionalProperties": COUNT},
        "expected": {"type": "object", "additionalProperties": {"type": "number"}},
        "p_value": P_VALUE, "statistic": {"type": ["number", "null"]},
        "method": {"type": "string", "enum": ["chi_square", "exact_binomial", "none"]}, "mismatch": {"type": "boolean"},
    }, "the split as drawn against the split the rule asks for")),
    "unsubscribes": _nullable(_schema("Comparison")),
    "harm": _nullable(_object({
        "kinds": {"type": "array", "items": {"type": "string", "enum": ["conversion", "unsubscribes"]}, "minItems": 1,
                  "description": "conversion: treated accounts convert less; unsubscribes: they unsubscribe far more"},
        "reasons": {"type": "array", "items": {"type": "string"}, "minItems": 1, "description": "one per kind, in words"},
    }, "the play hurts: set when its results show harm")),
    "code": {"type": "string", "enum": [*VERDICT["enum"], "no_goal"]},
    "headline": {"type": "string", "description": "the verdict in words, with what it still needs"},
    "days": {"type": "array", "items": {"type": "string", "format": "date"}},
    "detect": {"type": "number", "description": "the uplift `more` plans for, as a share (0.05: +5 points)"},
    "notes": {"type": "array", "items": {"type": "string"}},
}, "one rule's results against its holdout: docs/results.md")  # fmt: skip


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
    "Funnel": FUNNEL,
    "Comparison": COMPARISON,
    "SequentialResult": SEQUENTIAL,
    "ArmResult": ARM,
    "RuleResults": RULE_RESULTS,
    "ResultsList": _object({"results": {"type": "array", "items": _schema("RuleResults")}}),
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
            "description": "Accounts, contacts, usage events and suppressions, sent in batches; campaign results read back. docs/api.md explains it.",
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
            "/api/v1/results": {
                "get": {
                    "operationId": "list_results",
                    "summary": "every applied rule's results against its holdout, in rule id order",
                    "description": "As of the last outcomes pass (every 5 minutes): computed once per pass.",
                    "responses": {
                        "200": {"description": "the results", "content": _json("ResultsList")},
                        "401": _ref("Unauthorized"),
                        "429": _ref("RateLimited"),
                        "default": _ref("Error"),
                    },
                }
            },
            "/api/v1/results/{rule_id}": {
                "get": {
                    "operationId": "get_results",
                    "summary": "one rule's results: funnel, daily and fixed-horizon verdicts, variants, checks",
                    "parameters": [
                        {"name": "rule_id", "in": "path", "required": True, "schema": {"type": "string"}},
                        {"name": "variant", "in": "query", "required": False, "schema": {"type": "string"},
                         "description": "only this A/B variant against the control group"},
                        {"name": "detect", "in": "query", "required": False,
                         "schema": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 100, "default": 5},
                         "description": "the uplift, in percentage points, that `more` plans for (3: +3 points)"},
                    ],
                    "responses": {
                        "200": {"description": "the rule's results", "content": _json("RuleResults")},
                        "400": _error("invalid_parameter (detect) or unknown_variant; the message says what to send"),
                        "401": _ref("Unauthorized"),
                        "404": _error("unknown_rule: no rule with this id has been applied"),
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

