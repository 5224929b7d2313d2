"""A validated rule, as the rest of the engine sees it.

The validator (engine.rules.validate) turns a rule file into these classes or
into a list of problems; nothing else builds them from user text. Durations
are whole days (ints); percentages are floats; the condition tree is
engine.rules.ast.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Union

from engine.rules.ast import Condition

Level = Literal["account", "contact"]
Channel = Literal["email", "in_app", "webhook"]

DEFAULT_SCHEDULE = "*/15 * * * *"
DEFAULT_CATEGORY = "general"
DEFAULT_PRIORITY = 0
MAX_HOLDOUT_PERCENT = 50.0
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class OnEnter:
    """Fire once when the account (or contact) enters the segment."""


@dataclass(frozen=True)
class WhileMatching:
    """Fire on entering, then again every ``every`` days while still matching."""

    every: int


@dataclass(frozen=True)
class OnEvent:
    """Fire when one of ``events`` arrives for a member of the segment."""

    events: tuple[str, ...]


Trigger = Union[OnEnter, WhileMatching, OnEvent]


@dataclass(frozen=True)
class Audience:
    """Who receives an action.

    ``role``: the account's contacts with that role (``role:admin``);
    ``contacts``: all of the account's contacts; ``owner``: the account's
    owner (a CSM alert); ``contact``: the matched contact (contact-level rules).
    """

    kind: Literal["role", "contacts", "owner", "contact"]
    role: str | None = None

    def __str__(self) -> str:
        return f"role:{self.role}" if self.kind == "role" else self.kind


@dataclass(frozen=True)
class Variant:
    """One arm of an A/B test of an action: its name, its share (weight) and, if other, its template."""

    name: str
    weight: int
    template: str | None = None  # None: the action's own template


@dataclass(frozen=True)
class Action:
    channel: Channel
    template: str
    to: Audience
    expires_in: int | None = None  # in_app: days the nudge stays visible
    kind: str | None = None  # in_app: banner, modal or card (else card)
    priority: int | None = None  # in_app: 0-100, higher shown first (else 50)
    url: str | None = None  # webhook: where to post (else the instance default)
    format: str | None = None  # webhook: json or slack (else the instance default)
    variants: tuple[Variant, ...] = ()  # an A/B test: each account gets one (engine.rules.variants)


@dataclass(frozen=True)
class Limit:
    max: int
    per: int  # days


@dataclass(frozen=True)
class Limits:
    per_account: Limit | None = None
    per_contact: Limit | None = None


GoalKind = Literal["event", "leave", "condition"]


@dataclass(frozen=True)
class Goal:
    """What a firing is judged by, within ``within`` days of its exposure (the first send, or
    for the holdout the firing; engine.results.outcomes). Exactly one of: ``event``, an event
    of that name at the account; ``leaves_segment``, the subject's stay in the rule's segment
    ending; ``condition``, an account-level condition of the rule language becoming true."""

    event: str | None
    within: int
    leaves_segment: bool = False
    condition: Condition | None = None

    def __post_init__(self) -> None:
        given = (self.event is not None) + self.leaves_segment + (self.condition is not None)
        if given != 1:
            raise ValueError(f"a goal is exactly one of event, leaves_segment or condition: {self!r}")

    @property
    def kind(self) -> GoalKind:
        if self.condition is not None:
            return "condition"
        return "leave" if self.leaves_segment else "event"


@dataclass(frozen=True)
class SendWindow:
    """Local days and hours a message may go out. ``days`` are 0 (Monday) to 6;
    hours are minutes after midnight, ``start <= minute < end``.
    ``timezone`` is ``recipient``, ``account`` or an IANA zone name."""

    days: frozenset[int] = frozenset(range(7))
    start_minute: int = 0
    end_minute: int = 24 * 60
    timezone: str = "recipient"


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    when: Condition
    actions: tuple[Action, ...]
    description: str = ""
    owner: str | None = None
    category: str = DEFAULT_CATEGORY
    priority: int = DEFAULT_PRIORITY
    enabled: bool = True
    level: Level = "account"
    trigger: Trigger = field(default_factory=OnEnter)
    schedule: str = DEFAULT_SCHEDULE
    min_dwell: int = 0
    limits: Limits = field(default_factory=Limits)
    holdout: float = 0.0  # percent, 0 to 50
    goal: Goal | None = None
    send_window: SendWindow | None = None
    # The circuit breaker's ceiling: more messages than this in one cycle pause
    # the rule instead (None: the default ceiling, engine.rules.firing).
    max_messages_per_cycle: int | None = None
    source: str = ""  # the file it came from


@dataclass(frozen=True)
class Segment:
    """A named, reusable condition (rules/segments/<id>.yaml)."""

    id: str
    when: Condition
    description: str = ""
    uses_contact: bool = False  # names contact fields: only for contact-level rules
    source: str = ""
