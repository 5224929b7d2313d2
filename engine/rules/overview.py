"""Every applied rule at a glance: the admin's rules list and ``touchline rules list``.

One ``RuleSummary`` per applied rule: what it is (name, category, trigger),
its state (active, paused with the reason, or tripped by the circuit breaker),
its active version and who applied it when, when the cycle last evaluated it,
how many subjects are in its segment now, and what it wrote in the last 7 days
(sent, held out, skipped).

Three reads, however many rules: the states with their versions, one grouped
count of open memberships, and one grouped count of deliveries over the
(rule_id, created_at) index, so the list stays fast on millions of deliveries.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.models import Delivery, SegmentMembership
from engine.rules.schema import OnEnter, OnEvent, Rule, WhileMatching
from engine.rules.versions import active_versions, validate_content

WINDOW = timedelta(days=7)
# The statuses the list counts; others (pending, queued, failed, test...) are the send log's business.
COUNTED = ("sent", "held_out", "skipped")
# The circuit breaker pauses a rule with a reason starting so (engine.rules.firing.CircuitBreakerTripped).
TRIPPED_PREFIX = "circuit breaker:"

State = Literal["active", "paused", "tripped"]


@dataclass(frozen=True)
class RuleSummary:
    rule_id: str
    name: str
    category: str
    trigger: str  # as written in a rule: on_enter, while_matching every 7d, on_event: a, b
    state: State
    paused_reason: str | None
    version: int
    author: str
    applied_at: datetime
    last_evaluated_at: datetime | None
    in_segment: int  # open memberships: accounts, or contacts for a contact-level rule
    level: str
    sent: int  # deliveries written in the last 7 days, by their status now
    held_out: int
    skipped: int
    valid: bool = True  # False when the stored version no longer validates (name and trigger unknown)


def trigger_text(rule: Rule) -> str:
    trigger = rule.trigger
    if isinstance(trigger, WhileMatching):
        return f"while_matching every {trigger.every}d"
    if isinstance(trigger, OnEvent):
        return "on_event: " + ", ".join(trigger.events)
    assert isinstance(trigger, OnEnter)
    return "on_enter"


def state_of(paused: bool, reason: str | None) -> State:
    if not paused:
        return "active"
    return "tripped" if (reason or "").startswith(TRIPPED_PREFIX) else "paused"


def delivery_counts(session: Session, rule_ids: list[str], now: datetime) -> dict[tuple[str, str], int]:
    """(rule id, status) -> deliveries written in ``[now - 7 days, now]``; one grouped query.

    ``rule_id IN (...)`` with the ``created_at`` range is what lets the
    (rule_id, created_at) index drive it, rather than a scan of every delivery.
    """
    if not rule_ids:
        return {}
    stmt = (
        select(Delivery.rule_id, Delivery.status, func.count())
        .where(
            Delivery.rule_id.in_(rule_ids),
            Delivery.created_at >= now - WINDOW,
            Delivery.created_at <= now,
            Delivery.status.in_(COUNTED),
        )
        .group_by(Delivery.rule_id, Delivery.status)
    )
    return {(rule_id, status): n for rule_id, status, n in session.execute(stmt)}


def segment_sizes(session: Session) -> dict[str, int]:
    """Rule id -> open memberships (the partial unique index on open stays answers it)."""
    stmt = (
        select(SegmentMembership.rule_id, func.count())
        .where(SegmentMembership.exited_at.is_(None))
        .group_by(SegmentMembership.rule_id)
    )
    return {rule_id: n for rule_id, n in session.execute(stmt)}


def rules_overview(session: Session, now: datetime) -> list[RuleSummary]:
    """One summary per applied rule, by rule id."""
    active = active_versions(session)
    ids = sorted(active)
    counts = delivery_counts(session, ids, now)
    sizes = segment_sizes(session)
    summaries: list[RuleSummary] = []
    for rule_id in ids:
        state, version = active[rule_id]
        rule = validate_content(version.content, f"{rule_id}.yaml (version {version.version})", rule_id).rule
        summaries.append(
            RuleSummary(
                rule_id=rule_id,
                name=rule.name if rule else rule_id,
                category=rule.category if rule else "",
                trigger=trigger_text(rule) if rule else "",
                state=state_of(state.paused, state.paused_reason),
                paused_reason=state.paused_reason if state.paused else None,
                version=version.version,
                author=version.author,
                applied_at=version.created_at,
                last_evaluated_at=state.last_evaluated_at,
                in_segment=sizes.get(rule_id, 0),
                level=rule.level if rule else "account",
                sent=counts.get((rule_id, "sent"), 0),
                held_out=counts.get((rule_id, "held_out"), 0),
                skipped=counts.get((rule_id, "skipped"), 0),
                valid=rule is not None,
            )
        )
    return summaries
