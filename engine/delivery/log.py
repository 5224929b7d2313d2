"""The send log: deliveries by rule and status, and the latest ones with their reasons (CLI and admin)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.models import DELIVERY_STATUSES, Account, Delivery, RuleState

# Statuses that need someone's attention first, then the ones still moving.
ATTENTION_FIRST = ("unknown", "failed", "deferred", "pending", "queued", "sending")


@dataclass(frozen=True)
class LogRow:
    id: int
    at: datetime  # sent_at, else due_at
    status: str
    rule_id: str
    channel: str
    account: str  # external id
    recipient: str
    reason: str | None


def paused_rules(session: Session) -> list[tuple[str, str | None]]:
    """(rule id, why) of the paused rules: their messages wait (a tripped circuit breaker says so here)."""
    return [(r, why) for r, why in session.execute(
        select(RuleState.rule_id, RuleState.paused_reason).where(RuleState.paused.is_(True)).order_by(RuleState.rule_id)
    )]  # fmt: skip


def status_counts(session: Session) -> dict[str, dict[str, int]]:
    """rule id -> status -> deliveries, statuses in ATTENTION_FIRST order then the rest."""
    rows = session.execute(
        select(Delivery.rule_id, Delivery.status, func.count()).group_by(Delivery.rule_id, Delivery.status)
    ).all()
    by_rule: dict[str, dict[str, int]] = {}
    for rule_id, status, n in rows:
        by_rule.setdefault(rule_id, {})[status] = n
    order = {s: i for i, s in enumerate(ATTENTION_FIRST + tuple(s for s in DELIVERY_STATUSES if s not in ATTENTION_FIRST))}
    return {r: dict(sorted(c.items(), key=lambda kv: order.get(kv[0], 99))) for r, c in sorted(by_rule.items())}


def latest(session: Session, statuses: Sequence[str] = (), rule_id: str | None = None, limit: int = 50) -> list[LogRow]:
    """The newest deliveries first, optionally of some statuses and one rule."""
    unknown = [s for s in statuses if s not in DELIVERY_STATUSES]
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: expected one of {', '.join(DELIVERY_STATUSES)}")
    stmt = select(Delivery, Account.external_id).join(Account, Account.id == Delivery.account_id)
    if statuses:
        stmt = stmt.where(Delivery.status.in_(statuses))
    if rule_id:
        stmt = stmt.where(Delivery.rule_id == rule_id)
    rows = session.execute(stmt.order_by(Delivery.id.desc()).limit(limit)).all()
    return [LogRow(d.id, d.sent_at or d.due_at, d.status, d.rule_id, d.channel, account, d.recipient, d.reason)
            for d, account in rows]  # fmt: skip
