"""Clicks and opens: which tracked link a click leads to, recording it, and reading them back.

A click token (engine.delivery.tracking) names a delivery and a URL, under a signature. It
leads somewhere only when that very token is a tracking link of the delivery's message as
stored when it went out (delivery_messages, any attempt): the token was made from a link of
that message, so the redirect can only go to a URL that was in it. A token signed for a URL
the message did not hold, or for another delivery, leads nowhere, whoever signed it.

Recording is one INSERT in a transaction of its own (``record``), after the target was
found; the tracking routes redirect even when it fails (web/tracking).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from engine.compliance import OPERATIONAL
from engine.db import Database
from engine.delivery.record import StoredMessage, stored_messages
from engine.delivery.tracking import TRACKED_LINK, ClickToken, safe_target
from engine.models import Delivery, DeliveryEngagement

E = DeliveryEngagement.__table__
D = Delivery.__table__
# Rows listed on a delivery's page (all are counted).
MAX_SHOWN = 200
USER_AGENT_CHARS = 300
ADDRESS_CHARS = 64


@dataclass(frozen=True)
class Target:
    """Where a click goes, and what recording it needs."""

    delivery_id: int
    account_id: int
    url: str
    sent_at: datetime | None


def tracked_tokens(stored: StoredMessage) -> set[str]:
    """The tokens of the tracking links in a stored email (its HTML and text parts, decoded)."""
    from engine.delivery.detail import parse_message

    if stored.channel != "email":
        return set()
    message = parse_message(stored)
    found: set[str] = set()
    for part in (message.html, message.text):
        if part:
            found.update(token.rstrip(".") for token in TRACKED_LINK.findall(part))
    return found


def click_target(session: Session, link: ClickToken, token: str) -> Target | None:
    """Where the click token ``token`` (read as ``link``) leads: its URL, when the token is a
    tracking link of the message stored for its delivery; None otherwise."""
    if not safe_target(link.url):
        return None
    row = session.execute(
        select(D.c.account_id, D.c.sent_at, D.c.channel, D.c.category).where(D.c.id == link.delivery_id)
    ).first()
    if row is None or row.channel != "email" or row.category == OPERATIONAL:
        return None
    token = token.rstrip(".")
    for stored in stored_messages(session, link.delivery_id):
        if token in tracked_tokens(stored):
            return Target(link.delivery_id, row.account_id, link.url, row.sent_at)
    return None


def pixel_target(session: Session, delivery_id: int) -> Target | None:
    """The delivery an open pixel reports on; None if it is gone, or not email that may carry one."""
    row = session.execute(
        select(D.c.account_id, D.c.sent_at, D.c.channel, D.c.category).where(D.c.id == delivery_id)
    ).first()
    if row is None or row.channel != "email" or row.category == OPERATIONAL:
        return None
    return Target(delivery_id, row.account_id, "", row.sent_at)


def record(db: Database, target: Target, kind: str, at: datetime, method: str, user_agent: str | None,
           address: str | None, flagged: str | None) -> None:  # fmt: skip
    """One row for one request: a single INSERT, nothing read or updated, so a request repeated
    or made twice at once only adds its own row."""
    values = {
        "delivery_id": target.delivery_id, "account_id": target.account_id, "kind": kind,
        "url": target.url if kind == "click" else None, "at": at, "method": method.upper()[:8],
        "user_agent": (user_agent or "").strip()[:USER_AGENT_CHARS] or None,
        "address": (address or "")[:ADDRESS_CHARS] or None, "flagged": flagged,
    }  # fmt: skip
    with db.transaction() as conn:
        conn.execute(insert(E).values(values))


@dataclass(frozen=True)
class Engagement:
    id: int
    kind: str  # click, open
    url: str | None
    at: datetime
    method: str
    user_agent: str | None
    address: str | None
    flagged: str | None  # why it looks like a scanner; None: a person

    @property
    def human(self) -> bool:
        return self.flagged is None


@dataclass(frozen=True)
class Engagements:
    """A delivery's clicks and opens: counted all, the newest MAX_SHOWN listed."""

    clicks: int = 0  # people's clicks
    flagged_clicks: int = 0
    opens: int = 0
    flagged_opens: int = 0
    rows: tuple[Engagement, ...] = ()  # newest first

    @property
    def total(self) -> int:
        return self.clicks + self.flagged_clicks + self.opens + self.flagged_opens

    @property
    def more(self) -> int:
        """Rows counted but not listed."""
        return self.total - len(self.rows)


def engagements_of(session: Session, delivery_id: int, limit: int = MAX_SHOWN) -> Engagements:
    counts = {
        (kind, flagged): n
        for kind, flagged, n in session.execute(
            select(E.c.kind, E.c.flagged.is_not(None), func.count())
            .where(E.c.delivery_id == delivery_id)
            .group_by(E.c.kind, E.c.flagged.is_not(None))
        )
    }
    if not counts:
        return Engagements()
    rows = session.execute(
        select(E.c.id, E.c.kind, E.c.url, E.c.at, E.c.method, E.c.user_agent, E.c.address, E.c.flagged)
        .where(E.c.delivery_id == delivery_id)
        .order_by(E.c.at.desc(), E.c.id.desc())
        .limit(limit)
    )
    return Engagements(
        clicks=counts.get(("click", False), 0), flagged_clicks=counts.get(("click", True), 0),
        opens=counts.get(("open", False), 0), flagged_opens=counts.get(("open", True), 0),
        rows=tuple(Engagement(*row) for row in rows),
    )  # fmt: skip
