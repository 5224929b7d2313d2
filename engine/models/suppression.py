"""Who must not be mailed: unsubscribes, bounces and complaints, per category or for all."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, utcnow

SUPPRESSION_REASONS = ("unsubscribed", "bounced", "complained")
# The category of a suppression that covers every category. A sentinel rather
# than NULL: NULLs are never equal, so UNIQUE (address, NULL) would let an
# address be suppressed "for all" any number of times on both backends.
ALL_CATEGORIES = "*"


class Suppression(Base):
    """One reason not to send to ``address`` in ``category`` (``'*'``: every category).

    One row per (address, category): a stronger reason (complained > bounced >
    unsubscribed) replaces a weaker one. ``address`` is stored lower-case.
    """

    __tablename__ = "suppressions"
    __table_args__ = (
        UniqueConstraint("address", "category", name="uq_suppressions_address_category"),
        CheckConstraint("reason IN ('unsubscribed', 'bounced', 'complained')", name="reason"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320))
    category: Mapped[str] = mapped_column(String(50))
    reason: Mapped[str] = mapped_column(String(16))
    # Where it came from: "one-click", "unsubscribe-page", "preferences", "delivery <id>" (a hard bounce), ...
    source: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<Suppression {self.address} {self.category} {self.reason}>"


class CategoryRejoin(Base):
    """A category a recipient came back to after unsubscribing from all.

    Leaving all is kept as one ``'*'`` row, so categories added later stay
    unsent; a row here is the exception, for one category, that the recipient
    chose on the preference page.
    """

    __tablename__ = "category_rejoins"
    __table_args__ = (UniqueConstraint("address", "category", name="uq_category_rejoins_address_category"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    address: Mapped[str] = mapped_column(String(320))
    category: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
