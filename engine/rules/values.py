"""Which constants a field can be compared with, shared by the SQL and Python paths.

The validator should already refuse these mistakes; checking again here keeps a
hand-built or stale tree from being read differently by the two paths.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from engine.rules.ast import ACCOUNT_FIELDS, CONTACT_FIELDS, Compare, RelativeTime

ORDER_OPS = frozenset({"gt", "gte", "lt", "lte"})
TEXT_OPS = frozenset({"contains", "starts_with"})
# The constant kinds each account or contact column kind accepts.
_COLUMN_KINDS = {"text": {"string"}, "number": {"number"}, "time": set()}
ENTITY_FIELDS = {"account": ACCOUNT_FIELDS, "contact": CONTACT_FIELDS}


def constant_kind(value: Any) -> str:
    """'string' | 'number' | 'boolean' for a rule constant (bool first: it is an int in Python)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    raise ValueError(f"unsupported rule constant {value!r}")


def json_kind(value: Any) -> str | None:
    """The JSON type of a stored trait value, named like constant_kind (None when absent)."""
    if value is None:
        return None
    if isinstance(value, (bool, int, float, str)):
        return constant_kind(value)
    return "array" if isinstance(value, list) else "object"


def _constants(cond: Compare) -> list[Any]:
    if cond.op in ("in", "not_in"):
        return list(cond.value)
    if cond.op == "between":
        return list(cond.value)
    return [cond.value]


def check_field(cond: Compare | RelativeTime) -> None:
    """Refuse a field/op/constant combination neither path can evaluate.

    The evaluator asks once per account and leaf, so a condition found good
    is remembered (conditions are immutable; one holding a list is checked
    every time)."""
    try:
        _check_once(cond)
    except TypeError as exc:
        if "unhashable" not in str(exc):
            raise
        _check(cond)


@lru_cache(maxsize=4096)
def _check_once(cond: Compare | RelativeTime) -> None:
    _check(cond)


def _check(cond: Compare | RelativeTime) -> None:
    ref = cond.field
    fields = ENTITY_FIELDS.get(ref.entity)
    if fields is None:
        raise ValueError(f"{ref}: unknown entity {ref.entity!r}")
    if not ref.trait and ref.name not in fields:
        raise ValueError(f"{ref}: unknown {ref.entity} field")
    if isinstance(cond, RelativeTime):
        if ref.trait or fields[ref.name] != "time":
            raise ValueError(f"{ref}: relative dates need a date-time field")
        return
    if cond.op == "exists":
        return
    kinds = [constant_kind(v) for v in _constants(cond)]
    allowed = {"string", "number", "boolean"} if ref.trait else _COLUMN_KINDS[fields[ref.name]]
    if any(k not in allowed for k in kinds):
        raise ValueError(f"{ref} {cond.op}: cannot compare with {cond.value!r}")
    if cond.op in TEXT_OPS and kinds != ["string"]:
        raise ValueError(f"{ref} {cond.op}: needs a text constant")
    if (cond.op in ORDER_OPS or cond.op == "between") and "boolean" in kinds:
        raise ValueError(f"{ref} {cond.op}: true/false have no order")
    if cond.op == "between" and kinds[0] != kinds[1]:
        raise ValueError(f"{ref} between: both bounds must be of one type")
