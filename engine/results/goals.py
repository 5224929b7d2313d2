"""The goal of each rule version, read once from its stored content into ``outcome_goals``.

A version's content never changes, so its goal is read (validated as the cycle reads
it) the first time the outcomes pass sees the version, and from then on the pass joins
deliveries to this table in SQL instead of parsing rules. A row holds the goal's kind
(``event``, ``leave`` or ``condition``), the event's name for an event goal, a line of
text for a condition goal (for people), and the window. The one thing SQL cannot hold is
a condition to evaluate: ``goal_conditions`` reads it again from the versions' content,
for the versions with outcomes still waiting on one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from engine.models import OutcomeGoal, RuleVersion
from engine.rules.ast import All, Any_, Condition, Not
from engine.rules.evaluate import describe
from engine.rules.schema import Goal
from engine.rules.versions import validate_content
from engine.sqlutil import chunks, insert_for

log = logging.getLogger(__name__)

# A goal's window is its `within`, but never longer than this: a result should not
# wait a quarter of a year for its last units.
MAX_WINDOW_DAYS = 90

OG = OutcomeGoal.__table__


def goal_of(content: str, rule_id: str, version: int) -> Goal | None:
    """The goal of a stored version; None without one, or if the content no longer validates."""
    result = validate_content(content, f"{rule_id}.yaml (version {version})", rule_id)
    if result.rule is None:
        log.error("rule %s version %d no longer validates; its firings get no goal outcomes: %s",
                  rule_id, version, "; ".join(str(p) for p in result.problems))  # fmt: skip
        return None
    return result.rule.goal


def window_days(goal: Goal) -> int:
    return min(goal.within, MAX_WINDOW_DAYS)


def condition_text(cond: Condition) -> str:
    """A condition on one line, each leaf as an explanation reads it (segments are spelt out)."""
    match cond:
        case All(items):
            return "all of (" + "; ".join(condition_text(c) for c in items) + ")"
        case Any_(items):
            return "any of (" + "; ".join(condition_text(c) for c in items) + ")"
        case Not(item):
            return f"not ({condition_text(item)})"
    return describe(cond)


def record_goals(session: Session, now: datetime) -> int:
    """Read the goal of every rule version not read yet; how many were read."""
    versions = session.execute(
        select(RuleVersion.id, RuleVersion.rule_id, RuleVersion.version, RuleVersion.content)
        .where(~exists().where(OG.c.rule_version_id == RuleVersion.id))
        .order_by(RuleVersion.id)
    ).all()
    rows = []
    for version_id, rule_id, number, content in versions:
        goal = goal_of(content, rule_id, number)
        rows.append({
            "rule_version_id": version_id, "rule_id": rule_id, "read_at": now,
            "goal_kind": goal.kind if goal else None, "goal_event": goal.event if goal else None,
            "goal_condition": condition_text(goal.condition) if goal and goal.condition is not None else None,
            "window_days": window_days(goal) if goal else None,
        })  # fmt: skip
    # Two passes at once read the same versions: the second one's rows are the same, and dropped.
    stmt = insert_for(session, OG).on_conflict_do_nothing(index_elements=["rule_version_id"])
    for part in chunks(rows, 500):
        session.execute(stmt, part)
    return len(rows)


def goal_conditions(session: Session, version_ids: Iterable[int]) -> dict[int, Condition]:
    """The goal condition of each of these versions that has one (validated as the cycle reads
    rules: with the segments stored in the content, so as it was applied)."""
    found: dict[int, Condition] = {}
    for part in chunks(sorted(set(version_ids)), 500):
        # A recomputed version's goal is a later version's: its condition is read from there.
        sources = select(func.coalesce(OG.c.goal_version_id, OG.c.rule_version_id)).where(OG.c.rule_version_id.in_(part))
        rows = session.execute(
            select(RuleVersion.id, RuleVersion.rule_id, RuleVersion.version, RuleVersion.content)
            .where(RuleVersion.id.in_(sources))
        ).all()  # fmt: skip
        goals = {}
        for version_id, rule_id, number, content in rows:
            goal = goal_of(content, rule_id, number)
            if goal is not None and goal.condition is not None:
                goals[version_id] = goal.condition
        for version_id, goal_version in session.execute(select(OG.c.rule_version_id, OG.c.goal_version_id)
                                                        .where(OG.c.rule_version_id.in_(part))):  # fmt: skip
            cond = goals.get(goal_version or version_id)
            if cond is not None:
                found[version_id] = cond
    return found
