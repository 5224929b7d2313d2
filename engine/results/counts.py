"""What the outcomes pass recorded, read back: per arm, the units whose window ended and how
many converted (engine.results.outcomes writes them; docs/results.md says how they are read)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.models import OUTCOME_ARMS, GoalOutcome, OutcomePass
from engine.results.outcomes import _aware
from engine.rules.sqlparts import DayOf

O = GoalOutcome.__table__
P = OutcomePass.__table__


class ArmCounts(NamedTuple):
    units: int  # outcomes whose window had ended by the last pass
    converted: int  # of those, the ones that reached the goal within their window


class DayCounts(NamedTuple):
    """Cumulative counts at the end of one UTC day (see ``daily_counts``)."""

    treated_n: int
    treated_x: int
    control_n: int
    control_x: int


def measured_until(session: Session) -> datetime | None:
    """When the last outcomes pass started: what it knew is complete up to then."""
    return _aware(session.scalar(select(func.max(P.c.started_at))))


def arm_counts(session: Session, rule_id: str, *, version_ids=None, since: datetime | None = None,
               ) -> dict[str, ArmCounts]:  # fmt: skip
    """Per arm (``treated``, ``control``): the rule's units and how many converted.

    A unit counts once its window has ended (by the last pass), converted or not: counting
    conversions as they happen while the rest is still open would overstate the rate, and
    most in the arm that converts sooner. ``version_ids``: only outcomes measured with
    these versions' goals; ``since``: only units exposed at or after it."""
    counts = {arm: ArmCounts(0, 0) for arm in OUTCOME_ARMS}
    until = measured_until(session)
    if until is None:
        return counts
    stmt = (
        select(O.c.arm, func.count(), func.count(O.c.converted_at))
        .where(*_settled(rule_id, until, version_ids, since))
        .group_by(O.c.arm)
    )
    for arm, units, converted in session.execute(stmt):
        counts[arm] = ArmCounts(units, converted)
    return counts


def daily_counts(session: Session, rule_id: str, days: int, *, version_ids=None) -> list[DayCounts]:
    """Cumulative counts at the end of each of the last ``days`` UTC days, oldest first; the
    last is the day of the last pass (counted up to that pass).

    A unit enters on the day its window ended, with its conversion, if any (the counting
    rule of ``arm_counts``): a day's figures are what was known complete that day, and
    never change with the units still open."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    until = measured_until(session)
    if until is None:
        return [DayCounts(0, 0, 0, 0)] * days
    last = until.date()
    first = last - timedelta(days=days - 1)
    day = DayOf(O.c.window_ends_at).label("day")
    stmt = (
        select(O.c.arm, day, func.count(), func.count(O.c.converted_at))
        .where(*_settled(rule_id, until, version_ids, None))
        .group_by(O.c.arm, day)
    )
    # Units settled before the first day are its starting point.
    per_day: dict[tuple[date, str], tuple[int, int]] = {}
    for arm, on, units, converted in session.execute(stmt):
        n, x = per_day.get((max(on, first), arm), (0, 0))
        per_day[(max(on, first), arm)] = (n + units, x + converted)
    out: list[DayCounts] = []
    totals = {arm: (0, 0) for arm in OUTCOME_ARMS}
    for k in range(days):
        on = first + timedelta(days=k)
        for arm in OUTCOME_ARMS:
            n, x = per_day.get((on, arm), (0, 0))
            totals[arm] = (totals[arm][0] + n, totals[arm][1] + x)
        out.append(DayCounts(*totals["treated"], *totals["control"]))
    return out


def _settled(rule_id: str, until: datetime, version_ids, since: datetime | None) -> list:
    where = [O.c.rule_id == rule_id, O.c.window_ends_at <= until]
    if version_ids is not None:
        where.append(O.c.rule_version_id.in_(list(version_ids)))
    if since is not None:
        where.append(O.c.exposed_at >= since)
    return where
