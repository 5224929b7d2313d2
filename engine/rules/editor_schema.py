"""The JSON Schema (draft 2020-12) of a rule file, for editors to complete and
underline as an operator types. It is built from the same field lists as the
validator and shipped as docs/rule.schema.json (a test keeps the two equal);
engine.rules.validate stays the authority on what a rule may say.

    python -m engine.rules.editor_schema > docs/rule.schema.json
"""

from __future__ import annotations

import json
from typing import Any

from engine.rules import ast, conditions, validate
from engine.rules.segments import ID

REF = "#/$defs/"
EVENT = r"[A-Za-z0-9_.:\-]{1,100}"
NUMBER_OPS_DOC = "one of eq, ne, gt, gte, lt, lte, between"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def _one_of_keys(properties: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "minProperties": 1,
        "maxProperties": 1,
        "additionalProperties": False,
        "properties": properties,
    }


def _defs() -> dict[str, Any]:
    # in: [] is allowed (and false); not_in: [] holds for any present value.
    number_list = {"type": "array", "items": {"type": "number"}}
    text_list = {"type": "array", "items": {"type": "string"}}
    scalar = {"type": ["string", "number", "boolean"]}
    number_ops = {op: {"type": "number"} for op in ("eq", "ne", "gt", "gte", "lt", "lte")}
    number_ops["between"] = _ref("numberRange")
    # Traits order numbers as numbers and text by code point; true/false have no order.
    ordered = {"type": ["string", "number"]}
    trait_order_ops = {op: ordered for op in ("gt", "gte", "lt", "lte")}
    exists = {"type": "boolean", "description": "true: the value is present; false: it is missing"}
    return {
        "duration": {
            "type": "string",
            "pattern": r"^[0-9]{1,5}[dw]$",
            "description": "Whole days or weeks: 7d, 2w",
        },
        "numberRange": {
            "type": "array", "prefixItems": [{"type": "number"}, {"type": "number"}], "minItems": 2, "maxItems": 2,
            "description": "[low, high], both included",
        },
        "textRange": {
            "type": "array", "prefixItems": [{"type": "string"}, {"type": "string"}], "minItems": 2, "maxItems": 2,
            "description": "[low, high], both included, in code-point order",
        },
        "dayWindow": {
            "type": "array", "prefixItems": [_ref("duration"), _ref("duration")], "minItems": 2, "maxItems": 2,
            "description": "[older, newer], such as [60d, 30d]: from 60 days ago to 30 days ago",
        },
        "textCompare": {
            "anyOf": [
                {"type": "string", "description": "equal to this text"},
                _one_of_keys(
                    {"eq": {"type": "string"}, "ne": {"type": "string"}, "in": text_list, "not_in": text_list,
                     "exists": exists, "contains": {"type": "string"}, "starts_with": {"type": "string"}},
                    "one operator",
                ),
            ]
        },
        "numberCompare": {
            "anyOf": [
                {"type": "number", "description": "equal to this number"},
                _one_of_keys({**number_ops, "in": number_list, "not_in": number_list, "exists": exists}, "one operator"),
            ]
        },
        "traitCompare": {
            "anyOf": [
                scalar,
                _one_of_keys(
                    {"eq": scalar, "ne": scalar, **trait_order_ops,
                     "between": {"anyOf": [_ref("numberRange"), _ref("textRange")]},
                     "in": {"type": "array", "items": scalar}, "not_in": {"type": "array", "items": scalar}, "exists": exists,
                     "contains": {"type": "string"}, "starts_with": {"type": "string"}},
                    "one operator",
                ),
            ]
        },
        "timeCompare": {
            "type": "object",
            "description": "relative to now, in whole days; all given must hold (or exists alone)",
            "minProperties": 1,
            "additionalProperties": False,
            "properties": {
                "older_than": {**_ref("duration"), "description": "at or before now minus this"},
                "newer_than": {**_ref("duration"), "description": "after now minus this"},
                "within_next": {**_ref("duration"), "description": "between now and now plus this"},
                "after_next": {**_ref("duration"), "description": "after now plus this"},
                "exists": exists,
            },
        },
        "usage": {
            "type": "object",
            "description": f"a window (in_last or between) and {NUMBER_OPS_DOC}",
            "minProperties": 2,
            "additionalProperties": False,
            "properties": {
                "in_last": {**_ref("duration"), "description": "the last N days including today"},
                "between": {"anyOf": [_ref("dayWindow"), _ref("numberRange")],
                            "description": "[60d, 30d] is a window; [1, 5] compares the number"},
                **{op: schema for op, schema in number_ops.items() if op != "between"},
            },
        },
        "daysSinceLast": {
            "type": "object",
            "description": f"whole days since the last day with the event: {NUMBER_OPS_DOC}",
            "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
            "properties": number_ops,
        },
        "trend": {
            "type": "object",
            "description": "percent change of the count: last N days against the N days before",
            "required": ["over", "change_pct"],
            "additionalProperties": False,
            "properties": {
                "over": _ref("duration"),
                "change_pct": _one_of_keys(number_ops, NUMBER_OPS_DOC),
                "min_baseline": {"type": "number", "minimum": 0, "description": "fewest events in the earlier period (default 1)"},
            },
        },
        "changed": {
            "type": "object",
            "description": "the field changed within the window",
            "minProperties": 1, "maxProperties": 1, "additionalProperties": False,
            "properties": {"in_last": _ref("duration"), "between": _ref("dayWindow")},
        },
        "received": {
            "type": "object",
            "description": "the account was sent an action of a rule (status sent)",
            "required": ["rule"],
            "additionalProperties": False,
            "properties": {
                "rule": {"type": "string", "pattern": ID.pattern, "description": "the rule's id"},
                "action": {
                    "anyOf": [{"type": "string", "pattern": conditions.TEMPLATE.pattern},
                              {"type": "integer", "minimum": 0, "maximum": conditions.MAX_ACTION_INDEX}],
                    "description": "the action's template name, or its index (0 first); default any action",
                },
                "within": {**_ref("duration"), "description": "sent in the last N days (default: ever)"},
            },
        },
        "condition": _condition(),
        "goalCondition": _goal_condition(),
        "audience": {
            "type": "string",
            "pattern": r"^(role:[A-Za-z0-9_.\- ]{1,100}|contacts|owner|contact)$",
            "description": "role:<role> (such as role:admin), contacts, owner, or contact (level: contact rules)",
        },
        "limit": {
            "type": "object", "required": ["max", "per"], "additionalProperties": False,
            "properties": {"max": {"type": "integer", "minimum": 1, "maximum": validate.MAX_LIMIT}, "per": _ref("duration")},
        },
    }  # fmt: skip


def _condition() -> dict[str, Any]:
    properties: dict[str, Any] = {
        "all": {"type": "array", "minItems": 1, "items": _ref("condition"), "description": "every condition holds"},
        "any": {"type": "array", "minItems": 1, "items": _ref("condition"), "description": "at least one holds"},
        "not": {**_ref("condition"), "description": "the condition does not hold"},
        "segment": {"type": "string", "pattern": ID.pattern, "description": "a named segment from rules/segments/"},
        "received": _ref("received"),
    }
    kinds = {"text": "textCompare", "number": "numberCompare", "time": "timeCompare"}
    for entity, fields in conditions.FIELDS.items():
        for name, kind in fields.items():
            properties[f"{entity}.{name}"] = _ref(kinds[kind])
    for name in ast.CHANGE_FIELDS:
        properties[f"account.{name}.changed"] = _ref("changed")
    windowed = "|".join(m for m in conditions.USAGE_METRICS if m != "days_since_last")
    return {
        "type": "object",
        "description": "all, any, not, segment, received, or one field or event condition",
        "minProperties": 1,
        "maxProperties": 1,
        "properties": properties,
        "patternProperties": {
            r"^(account|contact)\.traits\.[A-Za-z0-9_\-]{1,100}$": _ref("traitCompare"),
            rf"^event\.{EVENT}\.({windowed})$": _ref("usage"),
            rf"^event\.{EVENT}\.days_since_last$": _ref("daysSinceLast"),
            rf"^event\.{EVENT}\.trend$": _ref("trend"),
        },
        "additionalProperties": False,
    }


def _action(channel: str) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "template": {"type": "string", "pattern": conditions.TEMPLATE.pattern, "description": "such as onboarding/stalled"},
        "to": _ref("audience"),
    }
    if channel in ("email", "in_app"):
        settings["variants"] = {
            "type": "array", "minItems": 2, "maxItems": validate.MAX_VARIANTS,
            "description": "an A/B test: each account gets one variant, by weight (engine.rules.variants)",
            "items": {
                "type": "object", "required": ["name"], "additionalProperties": False,
                "properties": {
                    "name": {"type": "string", "pattern": validate.VARIANT_NAME.pattern},
                    "weight": {"type": "integer", "minimum": 1, "maximum": 1000, "description": "its share; default 1"},
                    "template": {"type": "string", "pattern": conditions.TEMPLATE.pattern, "description": "else the action's"},
                },
            },
        }  # fmt: skip
    if channel == "in_app":
        settings["expires_in"] = {**_ref("duration"), "description": "how long the nudge stays visible"}
        settings["kind"] = {"enum": list(validate.NUDGE_KINDS), "description": "how the product shows it; default card"}
        settings["priority"] = {"type": "integer", "minimum": 0, "maximum": validate.MAX_PRIORITY,
                                "description": "higher is shown first; default 50"}  # fmt: skip
    if channel == "webhook":
        settings["url"] = {"type": "string", "pattern": validate.URL.pattern}
        settings["format"] = {"enum": list(validate.WEBHOOK_FORMATS), "description": "json (signed) or slack; else the instance's"}
    return {
        "type": "object",
        "required": [channel],
        "additionalProperties": False,
        "properties": {
            channel: {"type": "object", "required": ["template", "to"], "additionalProperties": False, "properties": settings}
        },
    }


def _goal() -> dict[str, Any]:
    # within and exactly one of event, leaves_segment, condition: two keys of these four.
    return {
        "type": "object", "required": ["within"], "minProperties": 2, "maxProperties": 2, "additionalProperties": False,
        "description": "what counts as success: within, and one of event, leaves_segment or condition",
        "properties": {
            "event": {"type": "string", "pattern": f"^{EVENT}$", "description": "an event of this name at the account"},
            "leaves_segment": {"const": True, "description": "the subject leaves the rule's segment"},
            "condition": {**_ref("goalCondition"), "description": "this account condition becomes true"},
            "within": {**_ref("duration"), "description": "days from the exposure (at most 90 are measured)"},
        },
    }  # fmt: skip


def _goal_condition() -> dict[str, Any]:
    """The condition language without contact fields: a goal is measured for the account."""
    cond = _condition()
    properties = {key: value for key, value in cond["properties"].items() if not key.startswith("contact.")}
    for key in ("all", "any", "not"):  # their items are goal conditions too
        properties[key] = json.loads(json.dumps(properties[key]).replace(REF + "condition", REF + "goalCondition"))
    patterns = {key.replace("^(account|contact)", "^account"): value for key, value in cond["patternProperties"].items()}
    return {**cond, "description": "a condition as in when, without contact fields", "properties": properties,
            "patternProperties": patterns}  # fmt: skip


def build() -> dict[str, Any]:
    weekday = "|".join(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))
    day_spec = rf"^({weekday})(-({weekday}))?(\s*,\s*({weekday})(-({weekday}))?)*$"
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Touchline rule",
        "description": "One rule per file, rules/<id>.yaml. See docs/rules.md.",
        "type": "object",
        "required": list(validate.REQUIRED),
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": ID.pattern, "description": "the file's name without .yaml"},
            "name": {"type": "string", "minLength": 1},
            "description": {"type": "string"},
            "owner": {"type": "string", "description": "who looks after this rule"},
            "category": {"type": "string", "pattern": validate.CATEGORY.pattern,
                         "description": "what a recipient can unsubscribe from (default general)"},
            "priority": {"type": "integer", "minimum": 0, "maximum": validate.MAX_PRIORITY},
            "enabled": {"type": "boolean"},
            "level": {"enum": list(validate.LEVELS), "description": "what the rule matches: accounts (default) or contacts"},
            "when": _ref("condition"),
            "trigger": {
                "anyOf": [
                    {"const": "on_enter"},
                    _one_of_keys({
                        "on_enter": {"type": ["null", "object"], "maxProperties": 0},
                        "while_matching": {"type": "object", "required": ["every"], "additionalProperties": False,
                                           "properties": {"every": _ref("duration")}},
                        "on_event": {"type": "object", "required": ["events"], "additionalProperties": False,
                                     "properties": {"events": {"type": "array", "minItems": 1,
                                                               "items": {"type": "string", "pattern": f"^{EVENT}$"}}}},
                    }, "when to fire"),
                ]
            },
            "schedule": {"type": "string", "description": "five-field cron (default */15 * * * *)"},
            "min_dwell": {**_ref("duration"), "description": "days in the segment before the rule fires (0d allowed)"},
            "actions": {
                "type": "array",
                "minItems": 1,
                "items": {"oneOf": [_action(channel) for channel in validate.CHANNELS]},
            },
            "limits": {
                "type": "object", "additionalProperties": False,
                "properties": {"per_account": _ref("limit"), "per_contact": _ref("limit")},
            },
            "holdout": {
                "anyOf": [{"type": "string", "pattern": r"^\s*[0-9]+(\.[0-9]+)?\s*%\s*$"},
                          {"type": "number", "minimum": 0, "maximum": 50}],
                "description": "percent kept back to measure the goal against: 0% to 50%",
            },
            "max_messages_per_cycle": {
                "type": "integer", "minimum": 1, "maximum": validate.MAX_MESSAGES_PER_CYCLE,
                "description": "circuit breaker: a cycle that would write more messages pauses the rule instead",
            },
            "goal": _goal(),
            "send_window": {
                "type": "object", "additionalProperties": False,
                "properties": {
                    "days": {"anyOf": [{"type": "string", "pattern": day_spec},
                                       {"type": "array", "items": {"enum": list(weekday.split("|"))}}]},
                    "hours": {"type": "string", "pattern": r"^[0-9]{2}:[0-9]{2}\s*-\s*[0-9]{2}:[0-9]{2}$"},
                    "timezone": {"type": "string", "description": "recipient (default), account, or a zone such as Asia/Tokyo"},
                },
            },
        },
        "$defs": _defs(),
    }  # fmt: skip


def dumps() -> str:
    return json.dumps(build(), indent=2, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    print(dumps(), end="")
