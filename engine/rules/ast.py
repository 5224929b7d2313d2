"""The condition tree of a rule, as the validator produces it and the SQL
compiler and the Python evaluator consume it.

Semantics (the same in SQL and in Python; docs/rules.md states them for users):

- Two-valued logic. Every leaf is true or false; a leaf whose input is missing
  (NULL field, absent trait, no usage, no baseline) is **false**. ``all``,
  ``any`` and ``not`` then combine plain booleans, so ``not`` of a leaf over a
  missing value is true. ``exists`` is the way to ask about missing values.
- Numbers are IEEE doubles (Python float, SQL REAL/DOUBLE PRECISION). Money
  stored as NUMERIC is compared as a double.
- Time is counted in whole UTC days against a reference ``now``. ``today`` is
  the UTC date of ``now``. A window ``Window(start, end)`` covers the days
  ``today - start < day <= today - end``: ``in_last: 7d`` is ``Window(7, 0)``
  (the last seven days including today); ``between: [60d, 30d]`` is
  ``Window(60, 30)``.
- Relative dates compare the timestamp with ``now`` shifted by whole days:
  ``older_than: 7d`` is ``value <= now - 7 days``; ``newer_than: 30d`` is
  ``value > now - 30 days``; ``within_next: 60d`` is ``now <= value <= now + 60
  days``; ``after_next: 60d`` is ``value > now + 60 days``.
- Usage ``count``/``active_days``/``active_contacts`` of a window without usage are 0, not missing (no window: all days up to today); rollup days after today are ignored.
- ``Changed`` counts a change on the UTC day of its ``changed_at``, with the window rule above.
- Text compares case-sensitively, ordered by Unicode code point (not by the database locale).
- A trait compares only with a constant of its own JSON type (string, number, boolean), else false; ``exists`` means present and not JSON null.
- ``not_in`` holds when the value is present, has the type of some constant (any type for an empty list) and equals none of them.
- ``Received`` holds when the account has a delivery of that rule (and action) with status ``sent`` and a
  ``sent_at`` in ``now - within days < sent_at <= now`` (no ``within``: ``sent_at <= now``). It is a relative
  time, not a day window, so ``within: 1d`` means the last 24 hours. Deliveries of any other status, or
  without ``sent_at``, never count. Any recipient of the account counts, also in contact-level rules.
- Contact-level rules (``level: contact``) have a contact as their subject. ``contact.*`` leaves (fields
  and traits, with the rules above) read that contact's row of ``contacts``; every other leaf reads the
  contact's account: ``account.*`` fields, traits and changes, ``received``, and usage and trends, which
  are the account's rollups (``count`` is all the account's events, ``active_contacts`` its distinct
  contacts), the same for every contact of one account. A contact's own activity is
  ``contact.last_seen_at``. In account-level rules ``contact.*`` leaves are an error: the validator
  refuses them, and the compiler (without ``compile_contact_condition``) and the evaluator (without
  ``ContactFacts``) raise ValueError.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Union

Entity = Literal["account", "contact"]
CompareOp = Literal[
    "eq", "ne", "in", "not_in", "gt", "gte", "lt", "lte", "between", "exists", "contains", "starts_with"
]
NumberOp = Literal["eq", "ne", "gt", "gte", "lt", "lte", "between"]
UsageMetric = Literal["count", "active_days", "active_contacts", "days_since_last"]

# Account and contact columns a rule may name, with their kind.
ACCOUNT_FIELDS: dict[str, str] = {
    "external_id": "text", "name": "text", "plan": "text", "mrr": "number", "arr": "number",
    "tier": "text", "signup_at": "time", "renewal_at": "time", "owner": "text",
    "timezone": "text", "locale": "text", "created_at": "time",
}  # fmt: skip
CONTACT_FIELDS: dict[str, str] = {
    "external_id": "text", "email": "text", "name": "text", "role": "text",
    "locale": "text", "timezone": "text", "last_seen_at": "time", "created_at": "time",
}  # fmt: skip
CHANGE_FIELDS = ("owner", "tier", "plan")


@dataclass(frozen=True)
class FieldRef:
    """``account.tier``, ``contact.role``, ``account.traits.industry`` (trait=True)."""

    entity: Entity
    name: str
    trait: bool = False

    def __str__(self) -> str:
        return f"{self.entity}.{'traits.' if self.trait else ''}{self.name}"


@dataclass(frozen=True)
class Window:
    """Days ``today - start < day <= today - end`` (start > end >= 0)."""

    start: int
    end: int = 0


@dataclass(frozen=True)
class Compare:
    """A field compared with a constant. ``value`` is a tuple (or list) for in/not_in,
    a (low, high) pair for between (inclusive), a bool for exists."""

    field: FieldRef
    op: CompareOp
    value: Any


@dataclass(frozen=True)
class RelativeTime:
    """A timestamp field against ``now`` (any of the bounds may be None; all given must hold)."""

    field: FieldRef
    older_than: int | None = None
    newer_than: int | None = None
    within_next: int | None = None
    after_next: int | None = None


@dataclass(frozen=True)
class Usage:
    """An event metric of the account over a window, compared with a number.

    count: events in the window; active_days: days in the window with at least
    one event; active_contacts: distinct contacts with the event in the window;
    days_since_last: whole days from the last day with the event to today
    (window ignored; missing if never seen).
    """

    event: str
    metric: UsageMetric
    window: Window | None
    op: NumberOp
    value: float | tuple[float, float]


@dataclass(frozen=True)
class Trend:
    """Percent change of the event count between the last ``days`` days and the
    ``days`` before them: ``100 * (current - previous) / previous``. Missing
    (so false) when previous < min_baseline or previous == 0."""

    event: str
    days: int
    op: NumberOp
    value: float | tuple[float, float]
    min_baseline: float = 1.0


@dataclass(frozen=True)
class Changed:
    """The account field (owner, tier, plan) changed within the window (from account_changes)."""

    field: str
    window: Window


@dataclass(frozen=True)
class Received:
    """The account was sent an action of rule ``rule``: ``action`` is the action's template name
    (str), its 0-based index in the rule's actions (int) or None for any; ``within`` whole days
    (None: ever)."""

    rule: str
    action: str | int | None = None
    within: int | None = None


@dataclass(frozen=True)
class All:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Any_:
    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    item: Condition


Condition = Union[All, Any_, Not, Compare, RelativeTime, Usage, Trend, Changed, Received]
