"""Test sends: a rule's message (or a template) composed for a real account as the pipeline
would, and sent by email to the person asking, never to the customer.

A rule's test send is a delivery row with status ``test``: the dispatcher,
the sweeper and the send job never pick that status up, limits and counts
leave it out, and the row keeps the message as sent (engine.delivery.record)
and its history, so its page shows what went out. A template's test send has
no rule, so no delivery row (a delivery belongs to a rule version): the audit
trail records it, with the SMTP answer. Both are in the audit trail
(``test_send``, action ``send``).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import update
from sqlalchemy.orm import Session

from engine.audit import record
from engine.db import Database
from engine.delivery.message import AddressError, OutgoingMessage, parse_addr_spec
from engine.delivery.preview import Draft, PreviewError, compose_draft, find_account, preview_rule_action, preview_template
from engine.delivery.record import store_message
from engine.models import Delivery, utcnow
from engine.models.delivery import TEST
from engine.settings import Settings

SUBJECT_MARK = "[Test] "
TEST_HEADER = "X-Touchline-Test"


class TestSendError(ValueError):
    """The test send cannot be made (no such rule, account or action; a bad address); nothing was sent."""

    __test__ = False  # not a pytest class


@dataclass(frozen=True)
class TestSendResult:
    __test__ = False

    sent: bool
    to_address: str
    subject: str | None
    provider_response: str  # the SMTP server's answer, or why nothing was sent
    delivery_id: int | None = None  # the test row (a rule's test send)
    message_id: str | None = None
    error: str | None = None  # the render problem (file:line: part: reason), if it could not be composed


@contextmanager
def _transaction(session_or_db: Session | Database) -> Iterator[Session]:
    """The caller's session as it is (it commits), or a transaction of the database's own."""
    if isinstance(session_or_db, Session):
        yield session_or_db
        session_or_db.flush()
    else:
        with session_or_db.session() as session:
            yield session


def send_test(session_or_db: Session | Database, settings: Settings, *, rule_id: str, account_id: str,
              to_address: str, actor: str, action_index: int = 0) -> TestSendResult:  # fmt: skip
    """Action ``action_index`` of rule ``rule_id`` (its active version) composed for account
    ``account_id`` (external id) and sent to ``to_address`` by email, subject marked as a test.

    Raises TestSendError for a bad request; a render problem or the SMTP server's refusal is in
    the result (and on the test row). Given a Database, the row and the audit entry commit before
    the message goes out, and the outcome after; given a Session, all of it is in the caller's
    transaction."""
    address = _address(to_address)
    now = utcnow()
    with _transaction(session_or_db) as session:
        try:
            preview, draft = preview_rule_action(session, settings, rule_id=rule_id, account_id=account_id,
                                                 action_index=action_index, recipient=address)  # fmt: skip
        except PreviewError as exc:
            raise TestSendError(str(exc)) from None
        row = Delivery(
            dedupe_key=f"test|{uuid.uuid4().hex}", rule_id=draft.rule_id, rule_version_id=draft.rule_version_id,
            action_index=action_index, channel=draft.channel, template=draft.template, account_id=draft.account_id,
            contact_id=draft.contact_id, recipient=address, occurrence=f"test:{now:%Y-%m-%dT%H:%M:%S}",
            status=TEST, reason=f"test send by {actor}: sending", category=draft.category, due_at=now,
            created_at=now, updated_at=now,
        )  # fmt: skip
        session.add(row)
        session.flush()
        record(session, actor=actor, action="send", object_type="test_send", object_id=str(row.id),
               after={"rule": rule_id, "action": action_index + 1, "account": account_id, "to": address,
                      "template": draft.template, "delivery": row.id},
               summary=f"test send of rule {rule_id} for account {account_id} to {address}")  # fmt: skip
        draft = dataclasses.replace(draft, id=row.id)
        composed = compose_draft(session, settings, draft, now=now)
        delivery_id = row.id
    if composed.message is None:
        error = (composed.error or preview.error or "could not be composed").removeprefix("not sent: ")
        _finish(session_or_db, delivery_id, f"test send by {actor}: not sent: {error}", None, None, None)
        return TestSendResult(False, address, None, f"not sent: {error}", delivery_id, error=error)
    message = _as_test(composed.message, address, f"rule {rule_id}, account {account_id}")
    result = _send(settings, message)
    outcome = "accepted" if result.status == "sent" else "not accepted"
    _finish(session_or_db, delivery_id, f"test send by {actor}: {outcome}: {result.provider_response}",
            result, message.message_id, utcnow())  # fmt: skip
    return TestSendResult(result.status == "sent", address, message.subject, result.provider_response, delivery_id,
                          message.message_id or None)  # fmt: skip


def send_test_template(session_or_db: Session | Database, settings: Settings, *, template: str, account_id: str,
                       to_address: str, actor: str, locale: str | None = None,
                       category: str = "general") -> TestSendResult:  # fmt: skip
    """``template`` composed for account ``account_id`` (its first admin's data) in ``locale``
    (else theirs) and sent to ``to_address``, subject marked as a test; recorded in the audit trail."""
    address = _address(to_address)
    with _transaction(session_or_db) as session:
        try:
            find_account(session, account_id)
            preview = preview_template(session, settings, template=template, account_id=account_id, locale=locale,
                                       category=category, recipient=address)  # fmt: skip
        except PreviewError as exc:
            raise TestSendError(str(exc)) from None
    if preview.message is None:
        return TestSendResult(False, address, None, f"not sent: {preview.error}", error=preview.error)
    message = _as_test(preview.message, address, f"template {template}, account {account_id}")
    result = _send(settings, message)
    with _transaction(session_or_db) as session:
        record(session, actor=actor, action="send", object_type="test_send", object_id=f"template:{template}",
               after={"template": template, "locale": preview.locale, "account": account_id, "to": address,
                      "subject": message.subject, "sent": result.status == "sent", "answer": result.provider_response},
               summary=f"test send of template {template} ({preview.locale}) for account {account_id} to {address}")  # fmt: skip
    return TestSendResult(result.status == "sent", address, message.subject, result.provider_response)


def _address(to_address: str) -> str:
    try:
        return parse_addr_spec(to_address or "")
    except AddressError as exc:
        raise TestSendError(f"cannot send a test to {to_address!r}: {exc}") from None


def _as_test(message: OutgoingMessage, address: str, what: str) -> OutgoingMessage:
    """Addressed to the tester alone (no customer's name on it), its subject marked."""
    return dataclasses.replace(message, to_addr=address, to_name="", subject=SUBJECT_MARK + message.subject,
                               headers={**message.headers, TEST_HEADER: what})  # fmt: skip


def _send(settings: Settings, message: OutgoingMessage):
    from engine.delivery.channels import ChannelConfigError, SendResult, config_from_settings, get_channel

    try:
        channel = get_channel("email", config_from_settings("email", settings))
    except ChannelConfigError as exc:
        return SendResult("transient", f"not sent: email is not set up: {exc}")
    with channel:
        return channel.send(message)


def _finish(session_or_db, delivery_id: int, reason: str, result, message_id: str | None, at) -> None:
    values: dict = {"reason": reason[:2000], "updated_at": at or utcnow()}
    if result is not None:
        values.update(provider_response=result.provider_response[:2000], message_id=message_id or None, attempts=1)
        if result.status == "sent":
            values["sent_at"] = at
    with _transaction(session_or_db) as session:
        session.execute(update(Delivery).where(Delivery.id == delivery_id, Delivery.status == TEST).values(**values))
        if result is not None and result.content is not None:
            store_message(session, delivery_id, 1, "email", result.content, values["updated_at"])


__all__ = ["TestSendError", "TestSendResult", "send_test", "send_test_template"]
