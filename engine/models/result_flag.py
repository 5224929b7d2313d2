"""Flags raised on a rule by its results: a play that hurts (engine.results.harm)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base

FLAG_KINDS = ("conversion", "unsubscribes")


class ResultFlag(Base):
    """One kind of harm seen on one rule: raised when its results first show it, cleared when
    they no longer do, raised again (with a new alert) if it comes back.

    ``alerted_at`` / ``alert`` say whether and to whom the owner's alert went. Pausing the
    rule stays a person's decision: a flag never changes the rule.
    """

    __tablename__ = "result_flags"
    __table_args__ = (CheckConstraint("kind IN ('conversion', 'unsubscribes')", name="kind"),)

    rule_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    reason: Mapped[str] = mapped_column(Text)
    flagged_at: Mapped[datetime]
    alerted_at: Mapped[datetime | None]
    alert: Mapped[str | None] = mapped_column(Text)  # "email to a@x; webhook", or what failed
    cleared_at: Mapped[datetime | None]  # None while the harm shows
