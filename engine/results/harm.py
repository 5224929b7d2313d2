"""Plays that hurt: each rule's results reviewed after the outcomes pass, a flag raised on the
rule when they show harm, and its owner (and the admins) alerted once per flag.

Harm is what engine.results.report calls it: the daily, always-valid verdict says treated
accounts convert less than control, or they unsubscribe far more. A flag stays until the
results stop showing it (cleared), and a harm that comes back raises it, and alerts, again.
Nothing here pauses a rule: that stays a person's decision. Raising and clearing a flag
are audited on the rule, by ``system``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.audit import SYSTEM_ACTOR, record
from engine.db import Database
from engine.delivery.alerts import AlertReport, alert_harm
from engine.models import ResultFlag, RuleState, RuleVersion, utcnow
from engine.results.report import RuleResults, all_results
from engine.rules.versions import validate_content
from engine.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class HarmReview:
    raised: list[str] = field(default_factory=list)  # "rule: kind"
    cleared: list[str] = field(default_factory=list)
    alerts: dict[str, AlertReport] = field(default_factory=dict)  # rule id -> what its alert did

    def as_dict(self) -> dict:
        return {"raised": self.raised, "cleared": self.cleared,
                "alerts": {k: v.as_dict() for k, v in self.alerts.items()}}  # fmt: skip


def review_harm(db: Database, settings: Settings, now: datetime | None = None, *,
                alert: Callable[..., AlertReport] = alert_harm) -> HarmReview:  # fmt: skip
    """Raise and clear flags from every rule's results now; alert the owners of new ones."""
    now = now or utcnow()
    review = HarmReview()
    with db.read_session() as session:
        results = all_results(session)
    for r in results:
        raised = _update_flags(db, r, now, review)
        if raised:
            rule = _rule(db, r.rule_id)
            reasons = [reason for kind, reason in zip(r.harm.kinds, r.harm.reasons) if kind in raised]
            report = alert(db, settings, rule, reasons) if rule else AlertReport([], ["the rule no longer validates"])
            review.alerts[r.rule_id] = report
            with db.session() as session:
                for kind in raised:
                    flag = session.get(ResultFlag, (r.rule_id, kind))
                    flag.alerted_at = utcnow() if report.sent else None
                    flag.alert = "; ".join(report.sent + [f"failed: {f}" for f in report.failed])[:2000]
    return review


@dataclass(frozen=True)
class Standing:
    """A rule with harm flagged now: the kinds, and since when (its oldest standing flag)."""

    rule_id: str
    kinds: tuple[str, ...]
    since: datetime


def standing(session: Session) -> list[Standing]:
    """The rules flagged now, oldest flag first: the dashboard's list (one small query)."""
    by_rule: dict[str, list[ResultFlag]] = {}
    for flag in open_flags(session):
        by_rule.setdefault(flag.rule_id, []).append(flag)
    return [Standing(rule_id, tuple(f.kind for f in flags), flags[0].flagged_at) for rule_id, flags in by_rule.items()]


def open_flags(session: Session) -> list[ResultFlag]:
    """The flags standing now, oldest first: what the dashboard shows."""
    return list(session.scalars(select(ResultFlag).where(ResultFlag.cleared_at.is_(None))
                                .order_by(ResultFlag.flagged_at, ResultFlag.rule_id)))  # fmt: skip


def _update_flags(db: Database, r: RuleResults, now: datetime, review: HarmReview) -> list[str]:
    """Raise, refresh and clear the rule's flags in one transaction; the kinds newly raised."""
    harm = dict(zip(r.harm.kinds, r.harm.reasons)) if r.harm else {}
    raised = []
    with db.session() as session:
        flags = {f.kind: f for f in session.scalars(select(ResultFlag).where(ResultFlag.rule_id == r.rule_id))}
        for kind, reason in harm.items():
            flag = flags.get(kind)
            if flag is not None and flag.cleared_at is None:
                flag.reason = reason  # still standing: the latest figures, no new alert
                continue
            if flag is None:
                flag = ResultFlag(rule_id=r.rule_id, kind=kind)
                session.add(flag)
            flag.reason, flag.flagged_at, flag.cleared_at, flag.alerted_at, flag.alert = reason, now, None, None, None
            record(session, actor=SYSTEM_ACTOR, action="flag_harm", object_type="rule", object_id=r.rule_id,
                   after={"kind": kind, "reason": reason}, summary=f"results show harm ({kind}): {reason}")  # fmt: skip
            raised.append(kind)
            review.raised.append(f"{r.rule_id}: {kind}")
        for kind, flag in flags.items():
            if flag.cleared_at is None and kind not in harm:
                flag.cleared_at = now
                record(session, actor=SYSTEM_ACTOR, action="clear_harm", object_type="rule", object_id=r.rule_id,
                       before={"kind": kind, "reason": flag.reason}, summary=f"results no longer show harm ({kind})")  # fmt: skip
                review.cleared.append(f"{r.rule_id}: {kind}")
    return raised


def _rule(db: Database, rule_id: str):
    with db.read_session() as session:
        version = session.scalar(select(RuleVersion).join(RuleState, RuleState.active_version_id == RuleVersion.id)
                                 .where(RuleState.rule_id == rule_id))  # fmt: skip
        if version is None:
            return None
        return validate_content(version.content, f"{rule_id}.yaml", rule_id).rule
