"""The outbox: one row per message to send, written before any job is enqueued."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigIntPK, utcnow

DELIVERY_STATUSES = (
    "pending", "queued", "sending", "sent", "deferred", "suppressed",
    "held_out", "skipped", "failed", "unknown", "test",
)  # fmt: skip
# A test send (engine.delivery.testsend): sent once to the person who asked, never by the
# pipeline, and never counted with the messages sent to customers.
TEST = "test"


class Delivery(Base):
    """One action for one recipient on one occurrence of a rule.

    ``dedupe_key`` is (rule, action, recipient, occurrence) under a unique
    constraint: however often a cycle runs, or two run at once, a message is
    written once.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        Index("ix_deliveries_status_due", "status", "due_at"),
        # The rule condition "received" looks up one account's sends of one rule in a time range.
        Index("ix_deliveries_account_rule_sent", "account_id", "rule_id", "sent_at"),
        # What a rule wrote since a time (the circuit breaker, on every on_event re-check);
        # with id, also the send log's keyset pages of one rule.
        Index("ix_deliveries_rule_created", "rule_id", "created_at", "id"),
        # The send log (engine.delivery.log): newest first by (created_at, id), alone or
        # within one status, account, recipient or channel, so no page or capped count scans.
        Index("ix_deliveries_created", "created_at", "id"),
        Index("ix_deliveries_status_created", "status", "created_at", "id"),
        Index("ix_deliveries_account_created", "account_id", "created_at", "id"),
        Index("ix_deliveries_recipient_created", "recipient", "created_at", "id"),
        Index("ix_deliveries_channel_created", "channel", "created_at", "id"),
        # One rule's rows of one status: its pages and its capped counts by status.
        Index("ix_deliveries_rule_status_created", "rule_id", "status", "created_at", "id"),
        # The same for a channel: a rare one (webhooks) would otherwise walk a whole status to count.
        Index("ix_deliveries_channel_status_created", "channel", "status", "created_at", "id"),
        # What was sent since a time: the outcomes pass (engine.results.outcomes). Partial: only
        # sent rows carry an entry, so the outbox's other writes pay nothing for it.
        Index("ix_deliveries_sent_at", "sent_at", sqlite_where=text("sent_at IS NOT NULL"),
              postgresql_where=text("sent_at IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    rule_id: Mapped[str] = mapped_column(String(100))
    rule_version_id: Mapped[int] = mapped_column(ForeignKey("rule_versions.id"))
    action_index: Mapped[int]
    channel: Mapped[str] = mapped_column(String(16))
    template: Mapped[str] = mapped_column(String(255))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    recipient: Mapped[str] = mapped_column(String(320))
    occurrence: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)
    explanation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    due_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the message went out (status 'sent'); None until then.
    sent_at: Mapped[datetime | None]
    # Copied from the rule when the row is written: what a recipient can
    # unsubscribe from (and whether a lost send may be retried), and who wins
    # when a fatigue budget is short.
    category: Mapped[str] = mapped_column(String(40), default="general", server_default="general")
    priority: Mapped[int] = mapped_column(default=0, server_default="0")
    # The A/B variant the account got when its rule has a tested action (engine.rules.variants);
    # None for a rule without variants and for the held-out (control) rows.
    variant: Mapped[str | None] = mapped_column(String(40))
    # The sending pipeline: attempts so far, the claim's lease, the job that
    # carries the row, and what the provider said.
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")
    queued_at: Mapped[datetime | None]
    job_id: Mapped[str | None] = mapped_column(String(100))
    lease_until: Mapped[datetime | None]
    message_id: Mapped[str | None] = mapped_column(String(255))
    provider_response: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
