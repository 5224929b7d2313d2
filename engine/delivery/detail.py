"""One delivery, all there is to know about it: the admin's delivery page and ``touchline deliveries show``.

Everything shown is read from what was stored when it happened: the status
changes (engine.models.DeliveryEvent), the explanation written when the rule
fired, and the message exactly as handed over (engine.delivery.record). The
verdicts of the gates are derived from those; nothing is re-evaluated now.
"""

from __future__ import annotations

import email
import email.policy
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.delivery.engagement import Engagements, engagements_of
from engine.delivery.holdout import GLOBAL_REASON_PREFIX
from engine.inapp.nudges import NudgeState, nudge_state
from engine.delivery.record import StoredMessage, stored_messages
from engine.models import Account, Contact, Delivery, DeliveryEvent, RuleVersion
from engine.models.delivery import TEST
from engine.templates.context import _rule_name


@dataclass(frozen=True)
class StatusChange:
    at: datetime
    status: str
    reason: str | None
    attempts: int
    job_id: str | None
    detail: str | None  # the provider's answer this change brought, if any


@dataclass(frozen=True)
class ExplanationLine:
    """One condition of the rule as it was evaluated when the rule fired."""

    depth: int  # 0 for the rule's top condition, 1 for its children...
    condition: str
    held: bool | None
    saw: Any = None
    has_value: bool = False  # a leaf that recorded the value it saw (which may be None)


@dataclass(frozen=True)
class Explanation:
    at: str | None  # when the rule fired (ISO 8601, as stored)
    lines: list[ExplanationLine]


@dataclass(frozen=True)
class Verdict:
    """What one check decided: ``passed``, ``stopped``, ``waited`` or ``not_reached``."""

    check: str  # holdout, suppression, window, limit
    outcome: str
    text: str


@dataclass(frozen=True)
class SentMessage:
    """A message as handed over on one attempt, parsed for reading; ``raw`` is exactly what went out."""

    attempt: int
    at: datetime
    channel: str
    raw: bytes
    headers: list[tuple[str, str]]
    subject: str | None
    text: str | None
    html: str | None


@dataclass(frozen=True)
class AccountRef:
    id: int
    external_id: str
    name: str


@dataclass(frozen=True)
class ContactRef:
    id: int | None
    external_id: str | None
    name: str | None
    address: str


@dataclass(frozen=True)
class RuleRef:
    rule_id: str
    version_id: int
    version: int | None
    name: str | None


@dataclass(frozen=True)
class DeliveryDetail:
    delivery: Delivery  # the row, read in full
    account: AccountRef | None
    contact: ContactRef
    rule: RuleRef
    history: list[StatusChange]
    explanation: Explanation | None
    verdicts: list[Verdict]
    messages: list[SentMessage] = field(default_factory=list)  # usually one; oldest attempt first
    # Its tracked links followed and its open pixel loaded (docs/channels.md, "Click tracking and opens").
    engagements: Engagements = field(default_factory=Engagements)
    # An in-app message: its nudge as the product reported it (seen, clicked, dismissed, snoozed).
    nudge: NudgeState | None = None

    @property
    def message(self) -> SentMessage | None:
        """The message as last handed over."""
        return self.messages[-1] if self.messages else None

    @property
    def is_test(self) -> bool:
        return self.delivery.status == TEST


def delivery_detail(session: Session, delivery_id: int) -> DeliveryDetail | None:
    """Delivery ``delivery_id`` with its account, contact, rule version, history, explanation,
    verdicts, the message as sent and its clicks and opens; None if there is no such delivery."""
    delivery = session.get(Delivery, delivery_id)
    if delivery is None:
        return None
    account = session.get(Account, delivery.account_id)
    contact = session.get(Contact, delivery.contact_id) if delivery.contact_id is not None else None
    version = session.get(RuleVersion, delivery.rule_version_id)
    history = [
        StatusChange(e.at, e.status, e.reason, e.attempts, e.job_id, e.detail)
        for e in session.scalars(
            select(DeliveryEvent).where(DeliveryEvent.delivery_id == delivery_id).order_by(DeliveryEvent.id)
        )
    ]
    return DeliveryDetail(
        delivery=delivery,
        account=AccountRef(account.id, account.external_id, account.name) if account is not None else None,
        contact=ContactRef(contact.id, contact.external_id, contact.name, delivery.recipient)
        if contact is not None
        else ContactRef(None, None, None, delivery.recipient),
        rule=RuleRef(delivery.rule_id, delivery.rule_version_id, version.version if version else None,
                     _rule_name(version.id, version.content) if version else None),  # fmt: skip
        history=history,
        explanation=explanation_of(delivery.explanation),
        verdicts=verdicts(delivery, history),
        messages=[parse_message(m) for m in stored_messages(session, delivery_id)],
        engagements=engagements_of(session, delivery_id),
        nudge=nudge_state(session, delivery_id) if delivery.channel == "in_app" else None,
    )


def explanation_of(stored: dict[str, Any] | None) -> Explanation | None:
    """The stored explanation (``{"at", "tree"}``, see engine.rules.firing.compact) as lines, depth first."""
    if not stored or not isinstance(stored.get("tree"), dict):
        return None
    lines: list[ExplanationLine] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        lines.append(ExplanationLine(depth, str(node.get("if", "")), node.get("ok"), node.get("saw"), "saw" in node))
        for child in node.get("of") or ():
            if isinstance(child, dict):
                walk(child, depth + 1)

    walk(stored["tree"], 0)
    return Explanation(stored.get("at"), lines)


def verdicts(delivery: Delivery, history: list[StatusChange]) -> list[Verdict]:
    """The holdout (the program's global holdout, else the rule's), suppression, send window and
    limit checks, as the status history shows them."""
    statuses = {c.status for c in history} | {delivery.status}
    if delivery.status == TEST:
        text = "a test send: no check applies, it went only to the person who asked for it"
        return [Verdict(check, "not_reached", text) for check in ("holdout", "suppression", "window", "limit")]
    gated = bool(statuses & {"queued", "sending", "sent", "unknown"})  # it passed the dispatch's gates at least once
    reasons = [c.reason or "" for c in history]
    out = []
    program = [r for c in history if c.status == "skipped" and (r := c.reason or "").startswith(GLOBAL_REASON_PREFIX)]
    if delivery.status == "skipped" and (delivery.reason or "").startswith(GLOBAL_REASON_PREFIX):
        program.append(delivery.reason or "")
    if program:  # drawn before the rule's own group: the program's control group (engine.rules.firing)
        out.append(Verdict("holdout", "stopped", program[-1]))
    elif "held_out" in statuses:
        out.append(Verdict("holdout", "stopped", _last(history, "held_out") or "in the rule's control group"))
    else:
        out.append(Verdict("holdout", "passed", "not in the rule's control group"))
    if "suppressed" in statuses:
        out.append(Verdict("suppression", "stopped", _last(history, "suppressed") or "suppressed"))
    else:
        out.append(Verdict("suppression", "passed" if gated else "not_reached",
                           "the address was not suppressed" if gated else "not checked yet"))  # fmt: skip
    windows = [r for r in reasons if r.startswith("send window:")]
    closed = [r for c in history if c.status == "skipped" and (r := c.reason or "") and "window" in r]
    if closed:
        out.append(Verdict("window", "stopped", closed[-1]))
    elif windows:
        out.append(Verdict("window", "passed" if gated else "waited", windows[-1]))
    else:
        out.append(Verdict("window", "passed" if gated else "not_reached",
                           "inside its send window (or none)" if gated else "not checked yet"))  # fmt: skip
    limits = [c.reason or "" for c in history if c.status == "skipped" and (c.reason or "").startswith("limit")]
    if limits:
        out.append(Verdict("limit", "stopped", limits[-1]))
    else:
        out.append(Verdict("limit", "passed" if gated else "not_reached",
                           "within the rule's limits and the fatigue policy" if gated else "not checked yet"))  # fmt: skip
    return out


def _last(history: list[StatusChange], status: str) -> str | None:
    found = [c.reason for c in history if c.status == status and c.reason]
    return found[-1] if found else None


def parse_message(stored: StoredMessage) -> SentMessage:
    """Headers, subject, text and HTML of a stored message, for reading (``raw`` stays as it went out)."""
    raw = stored.content
    if stored.channel == "email":
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        headers = [(name, str(value)) for name, value in parsed.items()]
        text = html = None
        for part in parsed.walk():
            if part.is_multipart():
                continue
            kind = part.get_content_type()
            if kind == "text/plain" and text is None:
                text = part.get_content()
            elif kind == "text/html" and html is None:
                html = part.get_content()
        return SentMessage(stored.attempt, stored.at, stored.channel, raw, headers, parsed.get("Subject"), text, html)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        doc = None
    if stored.channel == "in_app" and isinstance(doc, dict):
        headers = [("Title", str(doc.get("title", "")))] + ([("Expires", str(doc["expires_at"]))] if doc.get("expires_at") else [])
        return SentMessage(stored.attempt, stored.at, stored.channel, raw, headers, doc.get("title"),
                           doc.get("body_text") or None, doc.get("body_html") or None)  # fmt: skip
    # A webhook: its body, pretty-printed when it is JSON.
    body = json.dumps(doc, ensure_ascii=False, indent=2) if doc is not None else raw.decode("utf-8", "replace")
    subject = doc.get("subject") if isinstance(doc, dict) else None
    return SentMessage(stored.attempt, stored.at, stored.channel, raw, [], subject, body, None)
