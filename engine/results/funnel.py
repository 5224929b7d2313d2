"""A rule's funnel, in accounts (the unit of analysis): from firing to sending, engagement and
unsubscribing, per arm and A/B variant. Read set-wise from the deliveries; docs/results.md.

An account is in an arm by its rows: ``control`` when they were held out, else the variant
they carry (None for a rule without variants: the treated arm). Rows that went nowhere
because the account had no recipient are counted as fired, in no arm: the holdout is drawn
after that, so counting them would make the treated arm look larger than it was drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.orm import Session

from engine.models import Delivery, DeliveryEngagement, Nudge, Suppression
from engine.results.outcomes import PlusDays
from engine.rules.firing import NO_RECIPIENT

D = Delivery.__table__
CONTROL = "control"
# The reason that the firing writes for a hard bounce (engine.delivery.batch).
BOUNCE_REASON = "hard bounce%"
# Rows of an account in the program-wide holdout: never part of one rule's experiment.
GLOBAL_HOLDOUT_REASON = "global holdout%"


@dataclass(frozen=True)
class Funnel:
    """Accounts at each step; ``arm`` is ``control``, a variant's name, or None (treated, no variants)."""

    arm: str | None
    assigned: int = 0  # accounts with a recipient, in this arm
    sent: int = 0  # with a message handed to the mail server or stored for the product
    delivered: int = 0  # sent and not bounced (email), or seen in the product (in-app)
    bounced: int = 0  # a hard bounce
    opened: int = 0  # an email opened (a pixel load, when open tracking is on: a floor, docs/delivery.md)
    clicked: int = 0  # a link clicked or a nudge's call to action, by a person
    clicked_flagged: int = 0  # with a click that looks like a mail scanner's (not counted in clicked)
    unsubscribed: int = 0  # unsubscribed or complained about the rule's category within the goal window

    def as_dict(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}


@dataclass(frozen=True)
class Fired:
    """The rule-level head of the funnel."""

    accounts: int = 0  # accounts the rule fired for (in the period, with the goal's versions)
    no_recipient: int = 0  # of those, with nobody to send to


def funnel(session: Session, rule_id: str, version_ids: list[int], *, window_days: int | None,
           since: datetime | None = None, until: datetime | None = None) -> tuple[Fired, dict[str | None, Funnel]]:  # fmt: skip
    """The rule's funnel over its rows written by ``version_ids`` (created in ``[since, until)``)."""
    where = [D.c.rule_id == rule_id, D.c.rule_version_id.in_(version_ids), D.c.status != "test",
             ~(and_(D.c.status == "skipped", D.c.reason.like(GLOBAL_HOLDOUT_REASON)))]  # fmt: skip
    if since is not None:
        where.append(D.c.created_at >= since)
    if until is not None:
        where.append(D.c.created_at < until)

    fired = session.execute(
        select(func.count(func.distinct(D.c.account_id)),
               func.count(func.distinct(case((D.c.recipient == NO_RECIPIENT, D.c.account_id)))))
        .where(*where)
    ).one()  # fmt: skip

    arm = case((D.c.status == "held_out", CONTROL), else_=D.c.variant).label("arm")

    def flag(condition, name: str):
        return func.max(case((condition, 1), else_=0)).label(name)

    e = DeliveryEngagement.__table__
    human_click = exists().where(e.c.delivery_id == D.c.id, e.c.kind == "click", e.c.flagged.is_(None))
    flagged_click = exists().where(e.c.delivery_id == D.c.id, e.c.kind == "click", e.c.flagged.is_not(None))
    human_open = exists().where(e.c.delivery_id == D.c.id, e.c.kind == "open", e.c.flagged.is_(None))
    n = Nudge.__table__
    seen = exists().where(n.c.delivery_id == D.c.id, n.c.seen_at.is_not(None))
    nudge_click = exists().where(n.c.delivery_id == D.c.id, n.c.clicked_at.is_not(None))
    s = Suppression.__table__
    exposed = case((D.c.status == "held_out", D.c.created_at), else_=D.c.sent_at)
    left = [s.c.address == func.lower(D.c.recipient), s.c.category.in_([D.c.category, "*"]),
            s.c.reason.in_(["unsubscribed", "complained"]), s.c.created_at >= exposed]  # fmt: skip
    if window_days:
        left.append(s.c.created_at < PlusDays(exposed, window_days))
    unsubscribed = and_(or_(D.c.status == "held_out", D.c.status == "sent"), exists().where(*left))
    sent = D.c.status == "sent"
    # Per account and arm first (one sort of the rule's rows), then counted per arm: a
    # COUNT(DISTINCT ..) per step would sort the rows once per step.
    steps = (
        flag(sent, "sent"),
        flag(and_(sent, or_(D.c.channel != "in_app", seen)), "delivered"),
        flag(and_(D.c.status == "suppressed", D.c.reason.like(BOUNCE_REASON)), "bounced"),
        flag(and_(sent, human_open), "opened"),
        flag(and_(sent, or_(human_click, nudge_click)), "clicked"),
        flag(and_(sent, flagged_click), "clicked_flagged"),
        flag(unsubscribed, "unsubscribed"),
    )
    per_account = (
        select(arm, *steps).where(*where, D.c.recipient != NO_RECIPIENT).group_by(D.c.account_id, arm).subquery("a")
    )
    names = [c.name for c in steps]
    stmt = select(per_account.c.arm, func.count(), *(func.sum(per_account.c[k]) for k in names)).group_by(per_account.c.arm)
    return Fired(*fired), {row[0]: Funnel(row[0], *(int(v or 0) for v in row[1:])) for row in session.execute(stmt)}
