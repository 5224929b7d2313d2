"""In-app nudges: messages a contact sees inside the product, fetched by the product."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Text
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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # None: shown until dismissed.
    expires_at: Mapped[datetime | None]
    seen_at: Mapped[datetime | None]
    dismissed_at: Mapped[datetime | None]

    def __repr__(self) -> str:
        return f"<Nudge {self.id} delivery={self.delivery_id} contact={self.contact_id}>"
