"""In-app nudges: sending one is storing it for the product to fetch.

Idempotent on the delivery id: a retried send finds its nudge already stored
and reports it sent, without a second row.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from engine.delivery.channels.base import Channel, SendResult
from engine.delivery.message import OutgoingMessage, clean_header_text
from engine.models import Nudge

if TYPE_CHECKING:
    from engine.db import Database
    from engine.settings import Settings


def store_nudge(session: Session, message: OutgoingMessage) -> SendResult:
    """Insert the nudge for ``message`` in the caller's transaction (so the
    send job can store it and mark its delivery sent in one commit).

    Checks first, inserts second: the unique delivery_id still stops a
    concurrent second writer, whose commit then fails and is retried.
    """
    if message.account_id is None or message.contact_id is None:
        return SendResult("permanent", "an in-app nudge needs the account and the contact it is for")
    existing = session.scalar(select(Nudge.id).where(Nudge.delivery_id == message.delivery_id))
    if existing is not None:
        return SendResult("sent", f"nudge {existing} already stored")  # its content was kept when it was stored
    nudge = Nudge(
        delivery_id=message.delivery_id,
        account_id=message.account_id,
        contact_id=message.contact_id,
        # A title is shown on one line in the product, like a subject.
        title=clean_header_text(message.subject),
        body_html=message.html,
        body_text=message.text,
        expires_at=message.expires_at,
        kind=message.kind,
        priority=message.priority,
        cta_label=message.cta_label or None,
        cta_url=message.cta_url or None,
        locale=message.locale,
    )
    session.add(nudge)
    session.flush()
    return SendResult("sent", f"nudge {nudge.id} stored", content=nudge_content(nudge))


def nudge_content(nudge: Nudge) -> bytes:
    """The nudge as stored, as JSON: what the delivery record keeps of an in-app message."""
    expires = nudge.expires_at.isoformat() if nudge.expires_at is not None else None
    return json.dumps({"title": nudge.title, "body_text": nudge.body_text, "body_html": nudge.body_html,
                       "expires_at": expires, "kind": nudge.kind, "priority": nudge.priority,
                       "cta": {"label": nudge.cta_label, "url": nudge.cta_url} if nudge.cta_label else None,
                       "locale": nudge.locale}, ensure_ascii=False).encode("utf-8")  # fmt: skip


class InAppChannel(Channel):
    name = "in_app"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["database_url"],
        "properties": {"database_url": {"type": "string", "minLength": 1}},
    }
    settings_variables = {"database_url": "TOUCHLINE_DATABASE_URL"}

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self._db: Database | None = None

    @classmethod
    def config_from_settings(cls, settings: Settings) -> dict[str, Any]:
        return {"database_url": settings.database_url}

    def open(self) -> None:
        from engine.db import get_database

        self._db = get_database(self.config["database_url"])

    def send(self, message: OutgoingMessage) -> SendResult:
        """Store the nudge in a transaction of its own. On SQLite, do not call
        this while holding a write transaction of your own (it would wait for
        it); use ``store_nudge(session, message)`` inside it instead."""
        if self._db is None:
            self.open()
        assert self._db is not None
        try:
            with self._db.session() as session:
                return store_nudge(session, message)
        except IntegrityError as err:
            # Either a concurrent send of the same delivery won the unique
            # key, or the delivery, account or contact is gone.
            with self._db.read_session() as session:
                stored = session.scalar(select(Nudge.id).where(Nudge.delivery_id == message.delivery_id))
            if stored is not None:
                return SendResult("sent", f"nudge {stored} already stored")
            return SendResult("permanent", f"could not store the nudge: {_reason(err)}")
        except SQLAlchemyError as err:
            return SendResult("transient", f"could not store the nudge: {_reason(err)}")


def _reason(err: SQLAlchemyError) -> str:
    return " ".join(str(getattr(err, "orig", None) or err).split())[:500]
