"""Limits: which due deliveries may go, given what was already sent.

Two kinds of limit apply, each a number of *messages* in a sliding window of
whole days ending now:

- a rule's own ``limits`` (``per_account`` / ``per_contact``): that rule's
  messages, on every channel and of every category, operational included;
- the fatigue policy (engine.delivery.policy): messages of every rule
  together, counting only what ``Fatigue.counts``: a counted channel (email
  and in-app by default: a nudge in the product is a message too), a category
  not exempt (``operational`` by default) and a contact as recipient (owner
  alerts are not messages to the customer). Exempt messages neither use nor
  are stopped by these budgets.

What is one message: one occurrence of one rule (``rule_id`` +
``occurrence``, i.e. one firing) reaching the account, or the contact. An
email and an in-app nudge of the same firing, or the same firing's email to
three admins, are one message to the account (and one to each contact), so a
rule with two actions under ``per_account: {max: 1, per: 30d}`` sends both.
A delivery whose occurrence already counts in a window (a sibling went out,
or is going out in this batch) passes that budget without using more of it.

What was sent: deliveries with status ``sent``, ``queued``, ``sending`` or
``unknown`` (it may have gone out), and ``deferred`` ones that were already
tried (a retry keeps its place), timed by ``sent_at``, else ``queued_at``.
Pending, deferred, skipped, suppressed, held-out and failed ones do not count.
A message counts in a window of N days while ``now - N days < its time``.
An in-app nudge counts in the fatigue policy's budgets from when the product
first showed it (its ``seen_at``), not from when it was stored: a nudge never
shown has not reached anyone. A rule's own limits count it from when it was
stored, so a rule does not store nudge after nudge while none is shown.

Decisions are set-wise: candidates are taken in order of priority (highest
first), then older ``due_at``, then lower id, and each one admitted uses the
budgets the later ones see. A candidate that would exceed a budget is
``skipped`` with a reason naming the limit and its window; the first limit
that stops it is named, rule limits before the policy, accounts before
contacts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from engine.delivery.policy import Policy
from engine.models import Delivery, Nudge
from engine.rules.schema import Limit, Limits
from engine.sqlutil import chunks

D = Delivery.__table__
N = Nudge.__table__
COUNTED_STATUSES = ("sent", "queued", "sending", "unknown")
BATCH = 500  # ids per IN (...), under SQLite's bound-parameter limit


@dataclass(frozen=True)
class Candidate:
    """A due delivery, as the limits see it."""

    id: int
    rule_id: str
    occurrence: str
    category: str
    priority: int
    channel: str
    account_id: int
    contact_id: int | None
    recipient: str
    due_at: datetime


@dataclass(frozen=True)
class Sent:
    """A delivery that counts as sent (or on its way), at ``at``."""

    rule_id: str
    occurrence: str
    category: str
    channel: str
    account_id: int
    contact_id: int | None
    at: datetime
    shown_at: datetime | None = None  # in_app: when the product first showed the nudge; None: not yet


@dataclass
class History:
    """What was sent to some accounts and contacts since ``since``."""

    sent: list[Sent] = field(default_factory=list)
    since: datetime | None = None


@dataclass(frozen=True)
class Decision:
    id: int
    status: Literal["send", "skipped"]
    reason: str | None = None  # for skipped: e.g. "limit: rule x per_account 1 per 30d"
    limit: str | None = None  # which one stopped it: rule.per_account, policy.per_contact, ...

    @property
    def go(self) -> bool:
        return self.status == "send"


# -- reading what was sent -----------------------------------------------------


def lookback(policy: Policy, rules_limits: Mapping[str, Limits], now: datetime) -> datetime:
    """The oldest time any of these limits looks at: the ``since`` for ``sent_counts``."""
    days = [limit.per for limit in _all_limits(policy, rules_limits.values())]
    return now - timedelta(days=max(days, default=0))


def sent_counts(
    session: Session,
    account_ids: Iterable[int],
    contact_ids: Iterable[int] = (),
    since: datetime | None = None,
) -> History:
    """Every counted delivery (see the module) of these accounts, or to these
    contacts, timed after ``since``: a few indexed queries for the whole
    batch, never one per delivery."""
    if since is None:
        raise ValueError("sent_counts needs since (see lookback)")
    columns = (D.c.id, D.c.rule_id, D.c.occurrence, D.c.category, D.c.channel, D.c.account_id, D.c.contact_id,
               D.c.sent_at, D.c.queued_at, N.c.seen_at)  # fmt: skip
    # A nudge stored before ``since`` and first shown after it still counts in the policy's budgets.
    after = or_(D.c.sent_at > since, and_(D.c.sent_at.is_(None), D.c.queued_at > since), N.c.seen_at > since)
    source = D.outerjoin(N, N.c.delivery_id == D.c.id)
    rows: dict[int, Sent] = {}
    for column, ids in ((D.c.account_id, account_ids), (D.c.contact_id, contact_ids)):
        for part in chunks(sorted(set(ids)), BATCH):
            # A message waiting to retry after a transient error keeps its place in the budget.
            retrying = and_(D.c.status == "deferred", D.c.attempts > 0)
            stmt = select(*columns).select_from(source).where(
                column.in_(part), or_(D.c.status.in_(COUNTED_STATUSES), retrying), after
            )
            for row in session.execute(stmt):
                at = row.sent_at or row.queued_at
                rows[row.id] = Sent(row.rule_id, row.occurrence, row.category, row.channel, row.account_id, row.contact_id,
                                    at, row.seen_at)  # fmt: skip
    return History(list(rows.values()), since)


# -- deciding ------------------------------------------------------------------

Touch = tuple[str, str]  # (rule_id, occurrence): one message


@dataclass
class _Budget:
    """One limit for one account or contact: the messages in it, by time."""

    limit: Limit
    reason: str
    name: str
    messages: dict[Touch, datetime] = field(default_factory=dict)

    def add(self, touch: Touch, at: datetime) -> None:
        if at > self.messages.get(touch, at - timedelta(seconds=1)):
            self.messages[touch] = at

    def admits(self, touch: Touch, now: datetime) -> bool:
        cutoff = now - timedelta(days=self.limit.per)
        if self.messages.get(touch, cutoff) > cutoff:
            return True  # this message already counts here: its siblings are free
        return sum(1 for at in self.messages.values() if at > cutoff) < self.limit.max


def apply_limits(
    candidates: Sequence[Candidate],
    history: History | Iterable[Sent],
    policy: Policy,
    rules_limits: Mapping[str, Limits],
    now: datetime,
) -> list[Decision]:
    """One Decision per candidate, in the order given. Pure: no database.

    ``rules_limits`` maps a rule id to its ``Limits`` (a rule missing from it
    has none). ``history`` is ``sent_counts`` for the candidates' accounts and
    contacts since ``lookback``; older entries are ignored.
    """
    sent = history.sent if isinstance(history, History) else list(history)
    budgets: dict[tuple, _Budget] = {}

    def budgets_of(rule_id: str, category: str, channel: str, account_id: int, contact_id: int | None, create: bool):
        found: list[_Budget] = []
        for key, limit, reason, name in _applicable(policy, rules_limits, rule_id, category, channel, account_id, contact_id):
            budget = budgets.get(key)
            if budget is None:
                if not create:
                    continue  # nothing to charge: no candidate is limited by it
                budget = budgets[key] = _Budget(limit, reason, name)
            found.append(budget)
        return found

    # Budgets exist only for what the candidates touch; history fills them.
    for c in candidates:
        budgets_of(c.rule_id, c.category, c.channel, c.account_id, c.contact_id, create=True)
    for s in sent:
        for budget in budgets_of(s.rule_id, s.category, s.channel, s.account_id, s.contact_id, create=False):
            at = s.at
            if s.channel == "in_app" and budget.name.startswith("policy."):
                if s.shown_at is None:
                    continue  # stored, never shown: it has not reached anyone yet
                at = s.shown_at
            budget.add((s.rule_id, s.occurrence), at)

    decisions: dict[int, Decision] = {}
    for c in sorted(candidates, key=lambda c: (-c.priority, c.due_at, c.id)):
        touch = (c.rule_id, c.occurrence)
        mine = budgets_of(c.rule_id, c.category, c.channel, c.account_id, c.contact_id, create=False)
        stop = next((b for b in mine if not b.admits(touch, now)), None)
        if stop is not None:
            decisions[c.id] = Decision(c.id, "skipped", stop.reason, stop.name)
            continue
        for budget in mine:
            budget.add(touch, now)
        decisions[c.id] = Decision(c.id, "send")
    return [decisions[c.id] for c in candidates]


def _applicable(policy: Policy, rules_limits: Mapping[str, Limits], rule_id: str, category: str, channel: str,
                account_id: int, contact_id: int | None):  # fmt: skip
    """(key, limit, reason, name) of every limit one delivery is under, in the order they are checked."""
    own = rules_limits.get(rule_id)
    if own is not None:
        if own.per_account is not None:
            yield (("rule", rule_id, "account", account_id), own.per_account,
                   _rule_reason(rule_id, "per_account", own.per_account), "rule.per_account")  # fmt: skip
        if own.per_contact is not None and contact_id is not None:
            yield (("rule", rule_id, "contact", contact_id), own.per_contact,
                   _rule_reason(rule_id, "per_contact", own.per_contact), "rule.per_contact")  # fmt: skip
    fatigue = policy.fatigue
    if fatigue is not None and fatigue.counts(category, channel, contact_id):
        if fatigue.per_account is not None:
            yield (("policy", "account", account_id), fatigue.per_account,
                   _policy_reason(fatigue.name, "account", fatigue.per_account), "policy.per_account")  # fmt: skip
        if fatigue.per_contact is not None:
            yield (("policy", "contact", contact_id), fatigue.per_contact,
                   _policy_reason(fatigue.name, "contact", fatigue.per_contact), "policy.per_contact")  # fmt: skip


def _rule_reason(rule_id: str, which: str, limit: Limit) -> str:
    return f"limit: rule {rule_id} {which} {limit.max} per {limit.per}d"


def _policy_reason(name: str, whom: str, limit: Limit) -> str:
    messages = "message" if limit.max == 1 else "messages"
    days = "day" if limit.per == 1 else f"{limit.per} days"
    return f"limit: at most {limit.max} {name} {messages} per {whom} per {days} (policy)"


def _all_limits(policy: Policy, limits: Iterable[Limits]) -> list[Limit]:
    found: list[Limit] = []
    if policy.fatigue is not None:
        found += [x for x in (policy.fatigue.per_account, policy.fatigue.per_contact) if x is not None]
    for own in limits:
        found += [x for x in (own.per_account, own.per_contact) if x is not None]
    return found
