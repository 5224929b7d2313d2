"""In-app nudges: messages a contact sees inside the product, fetched by the product."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigIntPK, utcnow


class Nudge(Base):
    """One in-app message for one contact, written when its delivery is sent.

    ``delivery_id`` is unique: sending the same delivery again (a retried job)
    finds the row already there and writes nothing.
    """

    __tablename__ = "nudges"
    __table_args__ = (
        # The product asks for one contact's current nudges, newest first.
        Index("ix_nudges_contact_created", "contact_id", "created_at"),
        # The in-app cap counts an account's nudges first seen in a window.
        Index("ix_nudges_account_seen", "account_id", "seen_at"),
        CheckConstraint("kind IN ('banner', 'modal', 'card')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        BigIntPK,  # the type of deliveries.id
        ForeignKey("deliveries.id", ondelete="CASCADE"),
        unique=True,
    )
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text, default="")
    body_text: Mapped[str] = mapped_column(Text, default="")
    # How the product shows it (the rule's action says): a banner, a modal, or a card in a list;
    # higher priority first.
    kind: Mapped[str] = mapped_column(String(10), default="card", server_default="card")
    priority: Mapped[int] = mapped_column(default=50, server_default="50")
    # The template's call to action (its cta_label and cta_url blocks), if any.
    cta_label: Mapped[str | None] = mapped_column(Text)
    cta_url: Mapped[str | None] = mapped_column(Text)
    locale: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # None: shown until dismissed.
    expires_at: Mapped[datetime | None]
    # The first time of each event the product reported (engine.inapp.nudges).
    seen_at: Mapped[datetime | None]
    clicked_at: Mapped[datetime | None]
    dismissed_at: Mapped[datetime | None]
    snoozed_until: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<Nudge {self.id} delivery={self.delivery_id} contact={self.contact_id}>"


NUDGE_EVENT_TYPES = ("seen", "clicked", "dismissed", "snoozed")


class NudgeEvent(Base):
    """What the product reported of a nudge: one row per (nudge, type), the first report's time."""

    __tablename__ = "nudge_events"
    __table_args__ = (
        UniqueConstraint("nudge_id", "type", name="uq_nudge_events_nudge_type"),
        CheckConstraint("type IN ('seen', 'clicked', 'dismissed', 'snoozed')", name="type"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    nudge_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("nudges.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(10))
    at: Mapped[datetime] = mapped_column(default=utcnow)
