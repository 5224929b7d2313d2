"""The record of each delivery: its status changes, and the message exactly as it went out."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigIntPK


class DeliveryEvent(Base):
    """One status change of a delivery (append-only).

    Written by the database itself (triggers of migration 0016) in the statement
    that changes the delivery: an INSERT of a delivery, and an UPDATE that
    changes its status, reason or job. So every writer, the prepared statements
    of the send path included, records its change in the same transaction and
    without a round trip of its own.
    """

    __tablename__ = "delivery_events"
    __table_args__ = (Index("ix_delivery_events_delivery_id", "delivery_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("deliveries.id", ondelete="CASCADE"))
    at: Mapped[datetime]  # the delivery's updated_at (created_at for its first status): the pipeline's clock
    status: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    job_id: Mapped[str | None] = mapped_column(String(100))
    # The provider's answer, when this change brought a new one (an acceptance: "250 OK ...").
    detail: Mapped[str | None] = mapped_column(Text)


class DeliveryMessage(Base):
    """The message as it was handed to the provider, once per attempt that handed one over.

    ``content`` is zlib-compressed: for email the exact bytes of the MIME message
    given to the SMTP server after DATA (headers included, before dot-stuffing);
    for a webhook the request body; for an in-app nudge its stored fields as JSON.
    """

    __tablename__ = "delivery_messages"

    delivery_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True)
    attempt: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    at: Mapped[datetime]
    channel: Mapped[str] = mapped_column(String(16))
    size: Mapped[int]  # bytes before compression
    content: Mapped[bytes] = mapped_column(LargeBinary)
