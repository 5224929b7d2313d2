"""Alerts to the people who run Touchline (not to customers): a rule the circuit breaker paused,
or a rule whose results show it hurts (engine.results.harm).

The alert goes to the rule's ``owner`` and every active admin user by email,
and to the instance's webhook (TOUCHLINE_WEBHOOK_URL, Slack-compatible when
TOUCHLINE_WEBHOOK_FORMAT is ``slack``), whichever of the two is set up. It is
sent straight from the tick, not through the outbox: it is about the outbox's
own rule being stopped, is operational, and must not wait behind the send
window or the fatigue policy. A channel that fails is logged; the pause
itself never depends on the alert getting through.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from engine.db import Database
from engine.delivery.message import OutgoingMessage
from engine.models import User
from engine.rules.schema import Rule
from engine.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class AlertReport:
    sent: list[str]  # "email to a@x", "webhook"
    failed: list[str]  # the same, with the error

    def as_dict(self) -> dict[str, list[str]]:
        return {"sent": self.sent, "failed": self.failed}


def recipients(db: Database, rule: Rule) -> list[str]:
    """The rule's owner, then the active admins, each address once."""
    with db.read_session() as session:
        admins = list(session.scalars(select(User.email).where(User.role == "admin", User.active.is_(True))
                                      .order_by(User.id)))  # fmt: skip
    by_lower: dict[str, str] = {}  # the first spelling of each address
    for address in [rule.owner, *admins]:
        if address:
            by_lower.setdefault(address.lower(), address)
    return list(by_lower.values())


def circuit_breaker_message(settings: Settings, rule: Rule, reason: str, to: str) -> OutgoingMessage:
    from engine.delivery.compose import message_domain

    subject = f"Touchline paused rule {rule.id}: circuit breaker"
    text = (
        f"The rule {rule.id} ({rule.name}) was about to send more messages in one cycle than it may, "
        f"so it was paused and nothing was sent.\n\n{reason}\n\n"
        f"See who it would contact: touchline plan {rule.id}\n"
        f"Resume it once the condition is right: touchline rules resume {rule.id}\n\n"
        f"Send log: {settings.public_url.rstrip('/')}/sendlog/"
    )
    stamp = int(time.time())
    return OutgoingMessage(
        delivery_id=0,
        to_addr=to,
        subject=subject,
        text=text,
        message_id=f"<touchline.alert.{rule.id}.{stamp}@{message_domain(settings)}>",
        data={"alert": "circuit_breaker", "rule": rule.id, "reason": reason},
    )


def alert_circuit_breaker(db: Database, settings: Settings, rule: Rule, reason: str) -> AlertReport:
    """Tell the rule's owner and the admins that ``rule`` was paused; never raises."""
    return send_alert(db, settings, rule, "circuit-breaker", lambda to: circuit_breaker_message(settings, rule, reason, to))


def harm_message(settings: Settings, rule: Rule, reasons: list[str], to: str) -> OutgoingMessage:
    from engine.delivery.compose import message_domain

    listed = "\n".join(f"- {r}" for r in reasons)
    text = (
        f"The results of rule {rule.id} ({rule.name}) say it hurts the accounts it reaches:\n\n{listed}\n\n"
        f"It keeps running: pausing it is your decision.\n"
        f"Results: {settings.public_url.rstrip('/')}/admin/results/{rule.id}\n"
        f"Or: touchline results {rule.id}\n"
        f"Pause it: touchline rules pause {rule.id} --reason \"...\"\n"
    )
    return OutgoingMessage(
        delivery_id=0,
        to_addr=to,
        subject=f"Touchline: rule {rule.id} may be hurting its accounts",
        text=text,
        message_id=f"<touchline.alert.harm.{rule.id}.{int(time.time())}@{message_domain(settings)}>",
        data={"alert": "harm", "rule": rule.id, "reasons": reasons},
    )


def alert_harm(db: Database, settings: Settings, rule: Rule, reasons: list[str]) -> AlertReport:
    """Tell the rule's owner and the admins that its results show harm; never raises."""
    return send_alert(db, settings, rule, "harm", lambda to: harm_message(settings, rule, reasons, to))


def send_alert(db: Database, settings: Settings, rule: Rule, what: str,
               message: Callable[[str], OutgoingMessage]) -> AlertReport:  # fmt: skip
    """Send ``message(address)`` to the rule's owner and the admins by email, and once to the
    webhook, whichever is set up; never raises (each failure is in the report and logged)."""
    from engine.delivery.channels import ChannelConfigError, config_from_settings, get_channel

    report = AlertReport([], [])
    try:
        addresses = recipients(db, rule)
    except Exception as exc:  # noqa: BLE001 -- the alert is best effort; what it reports on stands
        log.exception("rule %s: alert recipients not read", rule.id)
        report.failed.append(f"recipients: {exc}")
        addresses = []
    targets: list[tuple[str, list[str]]] = []
    if settings.smtp_url and addresses:
        targets.append(("email", addresses))
    if settings.webhook_url:
        targets.append(("webhook", [addresses[0] if addresses else "admins"]))
    for name, to in targets:
        try:
            channel = get_channel(name, config_from_settings(name, settings))
        except ChannelConfigError as exc:
            report.failed.append(f"{name}: {exc}")
            continue
        try:
            with channel:
                for address in to:
                    label = f"email to {address}" if name == "email" else "webhook"
                    result = channel.send(message(address))
                    if result.status == "sent":
                        report.sent.append(label)
                    else:
                        report.failed.append(f"{label}: {result.provider_response}")
        except Exception as exc:  # noqa: BLE001 -- as above
            log.exception("rule %s: %s alert not sent", rule.id, name)
            report.failed.append(f"{name}: {type(exc).__name__}: {exc}")
    if not targets:
        report.failed.append("no channel set up for alerts (TOUCHLINE_SMTP_URL, TOUCHLINE_WEBHOOK_URL)")
    for failure in report.failed:
        log.error("rule %s: %s alert not delivered: %s", rule.id, what, failure)
    return report
