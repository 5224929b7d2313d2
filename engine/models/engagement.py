"""What recipients did with an email: the tracked links they followed, and the open pixel loaded."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigIntPK

ENGAGEMENT_KINDS = ("click", "open")


class DeliveryEngagement(Base):
    """One request for a delivery's tracking link (``click``) or open pixel (``open``), append-only.

    Written with one INSERT by the public tracking routes (web/tracking), never updated: a
    request repeated or made twice at once adds its own row and changes nothing else.
    ``flagged`` says why the request looks like a link scanner rather than a person (a HEAD
    request, a known scanner's user agent, seconds after the message was sent); flagged rows
    are kept, shown apart and not counted as people's clicks (engine.delivery.engagement).
    """

    __tablename__ = "delivery_engagements"
    __table_args__ = (
        CheckConstraint("kind IN ('click', 'open')", name="kind"),
        # A delivery's page, and an account's timeline (without a join through the deliveries).
        Index("ix_delivery_engagements_delivery_at", "delivery_id", "at"),
        Index("ix_delivery_engagements_account_at", "account_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("deliveries.id", ondelete="CASCADE"))
    # The delivery's account, copied when recorded (the account page reads by it).
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    url: Mapped[str | None] = mapped_column(Text)  # the link's original target; None for an open
    at: Mapped[datetime]
    method: Mapped[str] = mapped_column(String(8))
    user_agent: Mapped[str | None] = mapped_column(String(300))  # cut to 300 characters
    address: Mapped[str | None] = mapped_column(String(64))  # the client's IP address, as the app sees it
    flagged: Mapped[str | None] = mapped_column(String(200))  # why it looks like a scanner; None: a person
