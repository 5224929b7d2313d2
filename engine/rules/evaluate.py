"""The rule condition evaluated for one account (or, for a contact-level rule, one
contact) in Python, with an explanation.

It must agree with the SQL compiler on every account (a property test checks
it); both follow the semantics in engine/rules/ast.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from engine.rules.ast import (
    ACCOUNT_FIELDS,
    CHANGE_FIELDS,
    CONTACT_FIELDS,
    All,
    Any_,
    Changed,
    Compare,
    Condition,
    FieldRef,
    Not,
    Received,
    RelativeTime,
    Trend,
    Usage,
    Window,
)
from engine.rules.days import day_start, trend_windows, utc_today, window_days
from engine.rules.facts import AccountFacts, ContactFacts
from engine.rules.values import check_field, constant_kind, json_kind

# An account-level rule's subject, or a contact-level rule's (its contact and that contact's account).
Facts = AccountFacts | ContactFacts

_OPS = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "gte": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "lte": lambda a, b: a <= b,
}


@dataclass
class ExplainNode:
    """One condition, the value it looked at (None when missing) and whether it held."""

    text: str
    value: Any
    held: bool
    children: list[ExplainNode] = field(default_factory=list)


def evaluate(cond: Condition, facts: Facts, now: datetime) -> bool:
    match cond:
        case All(items):
            return all(evaluate(c, facts, now) for c in items)
        case Any_(items):
            return any(evaluate(c, facts, now) for c in items)
        case Not(item):
            return not evaluate(item, facts, now)
    return _leaf(cond, facts, now)[1]


def explain(cond: Condition, facts: Facts, now: datetime) -> ExplainNode:
    match cond:
        case All(items) | Any_(items):
            children = [explain(c, facts, now) for c in items]
            held = (all if isinstance(cond, All) else any)(c.held for c in children)
            return ExplainNode("all of" if isinstance(cond, All) else "any of", None, held, children)
        case Not(item):
            child = explain(item, facts, now)
            return ExplainNode("not", None, not child.held, [child])
    value, held = _leaf(cond, facts, now)
    return ExplainNode(describe(cond), value, held)


def describe(cond: Condition) -> str:
    """A one-line reading of a leaf, close to how the YAML spells it."""
    match cond:
        case Compare(field=ref, op=op, value=value):
            return f"{ref} {op} {value!r}"
        case RelativeTime(field=ref):
            bounds = ("older_than", "newer_than", "within_next", "after_next")
            return f"{ref} " + " ".join(f"{b}: {getattr(cond, b)}d" for b in bounds if getattr(cond, b) is not None)
        case Usage(event=e, metric=m, window=w, op=op, value=v):
            return f"{m} of {e!r}{_window_text(w)} {op} {v!r}"
        case Trend(event=e, days=d, op=op, value=v, min_baseline=mb):
            return f"trend of {e!r} over {d}d (baseline >= {mb:g}) {op} {v!r}"
        case Changed(field=f, window=w):
            return f"account.{f} changed{_window_text(w)}"
        case Received(rule=r, action=a, within=w):
            what = "any action" if a is None else f"action {a}" if isinstance(a, int) else repr(a)
            return f"received {what} of rule {r!r}" + (f" within {w}d" if w is not None else "")
    return repr(cond)


def _window_text(window: Window | None) -> str:
    if window is None:
        return ""
    if window.end == 0:
        return f" in last {window.start}d"
    return f" between {window.start}d and {window.end}d ago"


# -- leaves: each returns (value seen, held) ------------------------------------


def _leaf(cond: Condition, facts: Facts, now: datetime) -> tuple[Any, bool]:
    match cond:
        case Compare():
            return _compare(cond, facts)
        case RelativeTime():
            return _relative_time(cond, facts, now)
    if isinstance(facts, ContactFacts):
        facts = facts.account  # usage, trends, changes and deliveries are the contact's account's
    match cond:
        case Usage():
            value = _usage_metric(cond, facts, utc_today(now))
            return value, _number_op(value, cond.op, cond.value)
        case Trend():
            value = _trend_percent(cond, facts, utc_today(now))
            return value, _number_op(value, cond.op, cond.value)
        case Changed():
            return _changed(cond, facts, utc_today(now))
        case Received():
            return _received(cond, facts, now)
    raise TypeError(f"not a rule condition: {cond!r}")


def _number_op(value: float | None, op: str, constant: Any) -> bool:
    if value is None:
        return False
    if op == "between":
        low, high = constant
        return float(low) <= value <= float(high)
    return _OPS[op](value, float(constant))


def _record(ref: FieldRef, facts: Facts) -> tuple[dict[str, Any], dict[str, Any], dict[str, str]]:
    """(fields, traits, field kinds) of the entity ``ref`` names: the contact or the account."""
    if ref.entity == "contact":
        if not isinstance(facts, ContactFacts):
            raise ValueError(f"{ref}: contact fields need a contact-level rule (ContactFacts)")
        return facts.fields, facts.traits, CONTACT_FIELDS
    account = facts.account if isinstance(facts, ContactFacts) else facts
    return account.fields, account.traits, ACCOUNT_FIELDS


def _field_value(cond: Compare, facts: Facts) -> tuple[Any, str | None]:
    """(value, kind) of the field; kind None when missing, 'time' for timestamps."""
    ref = cond.field
    fields, traits, kinds = _record(ref, facts)
    if ref.trait:
        value = traits.get(ref.name)
        return value, json_kind(value)
    value = fields.get(ref.name)
    if value is None:
        return None, None
    return value, {"text": "string", "number": "number", "time": "time"}[kinds[ref.name]]


def _scalar(value: Any, kind: str | None, op: str, constant: Any) -> bool:
    if kind != constant_kind(constant):
        return False  # missing, or a value of another type: never matches
    if kind == "number":
        value, constant = float(value), float(constant)
    if op == "contains":
        return constant in value
    if op == "starts_with":
        return value.startswith(constant)
    return _OPS[op](value, constant)


def _compare(cond: Compare, facts: Facts) -> tuple[Any, bool]:
    check_field(cond)
    value, kind = _field_value(cond, facts)
    op, constant = cond.op, cond.value
    if op == "exists":
        return value, (kind is not None) == bool(constant)
    if op == "in":
        return value, any(_scalar(value, kind, "eq", c) for c in constant)
    if op == "not_in":
        kinds = {constant_kind(c) for c in constant}
        typed = kind is not None and (kind in kinds or not kinds)
        return value, typed and not any(_scalar(value, kind, "eq", c) for c in constant)
    if op == "between":
        low, high = constant
        return value, _scalar(value, kind, "gte", low) and _scalar(value, kind, "lte", high)
    return value, _scalar(value, kind, op, constant)


def _relative_time(cond: RelativeTime, facts: Facts, now: datetime) -> tuple[Any, bool]:
    check_field(cond)
    value = _record(cond.field, facts)[0].get(cond.field.name)
    if value is None:
        return None, False
    checks = []
    if cond.older_than is not None:
        checks.append(value <= now - timedelta(days=cond.older_than))
    if cond.newer_than is not None:
        checks.append(value > now - timedelta(days=cond.newer_than))
    if cond.within_next is not None:
        checks.append(now <= value <= now + timedelta(days=cond.within_next))
    if cond.after_next is not None:
        checks.append(value > now + timedelta(days=cond.after_next))
    return value, all(checks)


def _days(window: Window | None, today: date):
    """A predicate on days: inside the window (all days up to today when None)."""
    if window is None:
        return lambda day: day <= today
    after, upto = window_days(window, today)
    return lambda day: after < day <= upto


def _event_count(facts: AccountFacts, event: str, window: Window | None, today: date) -> int:
    inside = _days(window, today)
    return sum(n for (name, day), n in facts.usage.items() if name == event and inside(day))


def _usage_metric(cond: Usage, facts: AccountFacts, today: date) -> float | None:
    inside = _days(cond.window, today)
    if cond.metric == "count":
        return float(_event_count(facts, cond.event, cond.window, today))
    if cond.metric == "active_days":
        return float(sum(1 for (e, d), n in facts.usage.items() if e == cond.event and n > 0 and inside(d)))
    if cond.metric == "active_contacts":
        seen = set().union(*(ids for (e, d), ids in facts.contacts.items() if e == cond.event and inside(d)))
        return float(len(seen))
    if cond.metric == "days_since_last":
        days = [d for (e, d), n in facts.usage.items() if e == cond.event and n > 0 and d <= today]
        return float((today - max(days)).days) if days else None
    raise ValueError(f"unknown usage metric {cond.metric!r}")


def _trend_percent(cond: Trend, facts: AccountFacts, today: date) -> float | None:
    current_w, previous_w = trend_windows(cond.days)
    current = _event_count(facts, cond.event, current_w, today)
    previous = _event_count(facts, cond.event, previous_w, today)
    if previous == 0 or previous < cond.min_baseline:
        return None
    # Same operations in the same order as the SQL, so both round alike.
    return 100.0 * float(current - previous) / float(previous)


def _changed(cond: Changed, facts: AccountFacts, today: date) -> tuple[Any, bool]:
    if cond.field not in CHANGE_FIELDS:
        raise ValueError(f"changed: {cond.field!r} is not tracked (only {', '.join(CHANGE_FIELDS)})")
    after, upto = window_days(cond.window, today)
    low, high = day_start(after + timedelta(days=1)), day_start(upto + timedelta(days=1))
    times = [t for f, t in facts.changes if f == cond.field and low <= t < high]
    return (max(times) if times else None), bool(times)


def _received(cond: Received, facts: AccountFacts, now: datetime) -> tuple[Any, bool]:
    """(latest matching sent_at or None, whether there is one)."""
    if cond.rule not in facts.sent_rules:
        raise ValueError(f"the facts hold no deliveries of rule {cond.rule!r}; load them with rules=rules_of(condition)")
    since = now - timedelta(days=cond.within) if cond.within is not None else None
    times = [
        at
        for rule, index, template, at in facts.sent
        if rule == cond.rule
        and (cond.action is None or (template if isinstance(cond.action, str) else index) == cond.action)
        and at <= now
        and (since is None or at > since)
    ]
    return (max(times) if times else None), bool(times)
