"""Recompute: measure every firing of a rule again, with the goal of its active version.

A changed goal never rewrites past results by itself: each firing is measured with the goal
of the version that fired it, and the results read only the versions sharing the active
goal (engine.results.report). Recomputing is the explicit way to read the rule's whole
history against the new goal: every earlier version's ``outcome_goals`` row takes the
active version's goal (``goal_version_id`` says whose, ``recomputed_at`` when), the rule's
outcomes are deleted, and a full outcomes pass makes them again from the deliveries and
events. One audit row says who did it and which goals were replaced.

What a full pass can know: an event goal and a leave goal are measured again in full (the
events and the stays' exits are stored). A condition goal can only be found true at a
pass, now: windows that ended before the recompute stay unconverted (docs/results.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from engine.audit import record
from engine.db import Database
from engine.models import GoalOutcome, OutcomeGoal, RuleState, RuleVersion, utcnow
from engine.results.goals import record_goals
from engine.results.outcomes import PassReport, measure

OG = OutcomeGoal.__table__
GOAL_COLUMNS = ("goal_kind", "goal_event", "goal_condition", "window_days")


class NothingToRecompute(ValueError):
    """The rule is unknown, or its active version has no goal."""


@dataclass(frozen=True)
class RecomputeReport:
    rule_id: str
    version: int  # the active version, whose goal every firing is now measured with
    versions_moved: tuple[int, ...]  # the earlier versions whose goal was replaced
    outcomes_deleted: int
    measured: PassReport


def recompute(db: Database, rule_id: str, *, actor: str, now: datetime | None = None) -> RecomputeReport:
    """Measure every firing of ``rule_id`` with its active version's goal; audited as ``actor``."""
    now = now or utcnow()
    with db.session() as session:
        record_goals(session, now)  # a version applied since the last pass has its row
        active_id, number, goal = _active_goal(session, rule_id)
        rows = session.execute(
            select(OG, RuleVersion.version).join(RuleVersion, RuleVersion.id == OG.c.rule_version_id)
            .where(OG.c.rule_id == rule_id, OG.c.rule_version_id != active_id).order_by(RuleVersion.version)
        ).all()  # fmt: skip
        moved = [row for row in rows if tuple(row._mapping[c] for c in GOAL_COLUMNS) != goal or row.goal_version_id]
        session.execute(
            update(OG).where(OG.c.rule_id == rule_id, OG.c.rule_version_id != active_id)
            .values(**dict(zip(GOAL_COLUMNS, goal)), goal_version_id=active_id, recomputed_at=now)
        )  # fmt: skip
        deleted = session.execute(delete(GoalOutcome).where(GoalOutcome.rule_id == rule_id)).rowcount
        before = {f"version {row.version}": _describe(row._mapping) for row in moved}
        record(session, actor=actor, action="recompute_results", object_type="rule", object_id=rule_id,
               before=before or None, after={"goal": _describe(dict(zip(GOAL_COLUMNS, goal))), "version": number},
               summary=f"results recomputed with version {number}'s goal: {deleted:,} outcomes measured again")  # fmt: skip
    # Every delivery and event of the rule is read again, with the goals just written.
    report = measure(db, now, full=True)
    return RecomputeReport(rule_id, number, tuple(row.version for row in moved), deleted, report)


def _active_goal(session: Session, rule_id: str) -> tuple[int, int, tuple]:
    state = session.get(RuleState, rule_id)
    if state is None:
        raise NothingToRecompute(f"no rule {rule_id!r}: apply it first (touchline apply)")
    version = session.get(RuleVersion, state.active_version_id)
    mine = session.execute(select(*(OG.c[c] for c in GOAL_COLUMNS)).where(OG.c.rule_version_id == version.id)).first()
    if mine is None or mine.goal_kind is None:
        raise NothingToRecompute(f"rule {rule_id} (version {version.version}) has no goal to measure its firings with")
    return version.id, version.version, tuple(mine)


def _describe(goal) -> str:
    if goal["goal_kind"] is None:
        return "no goal"
    what = {"event": goal["goal_event"], "leave": "leaves the segment"}.get(goal["goal_kind"], goal["goal_condition"])
    return f"{what} within {goal['window_days']} days"
