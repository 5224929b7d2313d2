"""What the nudge API reads and records for one contact (docs/inapp.md).

Active nudges: not expired, not dismissed, not snoozed, their rule not paused,
their contact not unsubscribed from the rule's category, and within the
policy's in-app cap (``in_app: shown_per_account``), which counts nudges by
when they were first shown. Events are recorded once per (nudge, type) with the
server's time; a repeated ``snoozed`` moves the snooze.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

import nh3
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from engine.compliance.suppressions import suppression_for
from engine.delivery.policy import NO_POLICY, Policy
from engine.models import NUDGE_EVENT_TYPES, Contact, Delivery, Nudge, NudgeEvent, RuleState

MAX_SNOOZE = timedelta(days=30)
MAX_LISTED = 50
POLL_AFTER = 60  # seconds: nudges are written by cycles and on_event re-checks, not by the second
# The body is the product's page's content: an allow-list, no script, no handler, no style.
ALLOWED_TAGS = {"p", "br", "strong", "em", "b", "i", "u", "a", "ul", "ol", "li", "code", "span", "div", "h3", "h4", "blockquote"}
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "span": {"lang"}, "div": {"lang"}, "p": {"lang"}}
URL_SCHEMES = {"http", "https", "mailto"}
WITHDRAWN_BY = ("unsubscribed", "complained")  # a bounced address says nothing about the product's page


class NudgeNotFound(LookupError):
    """No such nudge for this contact (another contact's is not found either)."""


class BadEvent(ValueError):
    pass


@dataclass(frozen=True)
class NudgeView:
    id: int
    kind: str
    priority: int
    title: str
    body_html: str
    body_text: str
    cta: dict[str, str] | None
    locale: str | None
    created_at: str
    expires_at: str | None
    seen: bool
    clicked: bool


@dataclass(frozen=True)
class NudgeList:
    nudges: list[NudgeView]
    unread: int
    etag: str

    def as_json(self) -> dict[str, Any]:
        return {"nudges": [asdict(n) for n in self.nudges], "unread": self.unread, "poll_after": POLL_AFTER}


def sanitise(html: str) -> str:
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES, url_schemes=URL_SCHEMES,
                     link_rel="noopener noreferrer", strip_comments=True)  # fmt: skip


def safe_url(url: str | None) -> str | None:
    url = (url or "").strip()
    return url if url.lower().startswith(("https://", "http://")) and not any(c.isspace() for c in url) else None


def _iso(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def active_nudges(session: Session, contact_id: int, account_id: int, now: datetime, policy: Policy = NO_POLICY) -> NudgeList:
    rows = session.execute(
        select(Nudge, Delivery.category)
        .join(Delivery, Delivery.id == Nudge.delivery_id)
        .outerjoin(RuleState, RuleState.rule_id == Delivery.rule_id)
        .where(
            Nudge.contact_id == contact_id,
            Nudge.dismissed_at.is_(None),
            (Nudge.expires_at.is_(None)) | (Nudge.expires_at > now),
            (Nudge.snoozed_until.is_(None)) | (Nudge.snoozed_until <= now),
            RuleState.paused.is_not(True),
        )
        .order_by(Nudge.priority.desc(), Nudge.created_at.desc(), Nudge.id.desc())
        .limit(MAX_LISTED)
    ).all()
    email = session.scalar(select(Contact.email).where(Contact.id == contact_id))
    withdrawn: dict[str, bool] = {}
    for category in {c for _, c in rows}:
        withdrawn[category] = bool(email) and suppression_for(session, email, category) in WITHDRAWN_BY
    nudges = [n for n, category in rows if not withdrawn[category]]
    cap = policy.in_app_shown_per_account
    if cap is not None and any(n.seen_at is None for n in nudges):
        shown = session.scalar(
            select(func.count()).select_from(Nudge)
            .where(Nudge.account_id == account_id, Nudge.seen_at >= now - timedelta(days=cap.per))
        )  # fmt: skip
        if shown >= cap.max:  # the account's people have had their share: only what each has already seen
            nudges = [n for n in nudges if n.seen_at is not None]
    views = [
        NudgeView(
            id=n.id, kind=n.kind, priority=n.priority, title=n.title, body_html=sanitise(n.body_html or ""),
            body_text=n.body_text or "", locale=n.locale, created_at=_iso(n.created_at), expires_at=_iso(n.expires_at),
            cta={"label": n.cta_label, "url": url} if n.cta_label and (url := safe_url(n.cta_url)) else None,
            seen=n.seen_at is not None, clicked=n.clicked_at is not None,
        )  # fmt: skip
        for n in nudges
    ]
    unread = sum(1 for v in views if not v.seen)
    digest = hashlib.sha256(json.dumps([asdict(v) for v in views] + [unread], sort_keys=True).encode()).hexdigest()
    return NudgeList(views, unread, f'"{digest[:32]}"')


@dataclass(frozen=True)
class Recorded:
    nudge_id: int
    type: str
    at: datetime  # the first report's time
    first: bool


def record_event(
    session: Session, contact_id: int, nudge_id: int, event_type: str, now: datetime, until: datetime | None = None
) -> Recorded:
    """Record what the product reported of one of the contact's nudges; once per (nudge, type)."""
    if event_type not in NUDGE_EVENT_TYPES:
        raise BadEvent(f"type must be one of {', '.join(NUDGE_EVENT_TYPES)}, not {event_type!r}")
    if event_type == "snoozed":
        if until is None:
            raise BadEvent("a snoozed event needs until: the time to show the nudge again (ISO 8601 with a zone)")
        if until <= now or until > now + MAX_SNOOZE:
            raise BadEvent("until must be in the future and at most 30 days ahead")
    elif until is not None:
        raise BadEvent(f"until is only for snoozed, not {event_type}")
    nudge = session.scalar(select(Nudge).where(Nudge.id == nudge_id, Nudge.contact_id == contact_id))
    if nudge is None:
        raise NudgeNotFound(f"no nudge {nudge_id} for this contact")
    existing = session.scalar(select(NudgeEvent).where(NudgeEvent.nudge_id == nudge_id, NudgeEvent.type == event_type))
    first = existing is None
    at = existing.at if existing is not None else now
    if first:
        try:
            with session.begin_nested():
                session.add(NudgeEvent(nudge_id=nudge_id, type=event_type, at=now))
        except IntegrityError:  # the same report from another tab, at the same moment
            first = False
            at = session.scalar(select(NudgeEvent.at).where(NudgeEvent.nudge_id == nudge_id, NudgeEvent.type == event_type))
    column = {"seen": "seen_at", "clicked": "clicked_at", "dismissed": "dismissed_at"}.get(event_type)
    if column is not None and getattr(nudge, column) is None:
        setattr(nudge, column, at)
    if event_type == "snoozed":
        nudge.snoozed_until = until
    return Recorded(nudge_id, event_type, at, first)


@dataclass(frozen=True)
class NudgeState:
    """What the product reported of one delivery's nudge, for the admin's delivery page."""

    id: int
    kind: str
    priority: int
    locale: str | None
    expires_at: datetime | None
    seen_at: datetime | None
    clicked_at: datetime | None
    dismissed_at: datetime | None
    snoozed_until: datetime | None

    @property
    def engagement(self) -> str | None:
        return engagement_of(self.seen_at, self.clicked_at, self.dismissed_at)


def engagement_of(seen_at: datetime | None, clicked_at: datetime | None, dismissed_at: datetime | None) -> str | None:
    """The furthest the person went: clicked, else dismissed, else seen; None while not shown."""
    if clicked_at is not None:
        return "clicked"
    if dismissed_at is not None:
        return "dismissed"
    return "seen" if seen_at is not None else None


def nudge_state(session: Session, delivery_id: int) -> NudgeState | None:
    n = session.scalar(select(Nudge).where(Nudge.delivery_id == delivery_id))
    if n is None:
        return None
    return NudgeState(n.id, n.kind, n.priority, n.locale, n.expires_at, n.seen_at, n.clicked_at, n.dismissed_at, n.snoozed_until)
