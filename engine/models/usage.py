"""Raw events and the daily rollups rule evaluation reads instead of them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigIntPK, DayNumber, utcnow


class Event(Base):
    """A tracked product event. Kept for the retention period only.

    Deliberately no secondary index: nothing reads raw events set-wise (rules
    read the rollups), and each index costs about a third of ingest
    throughput. Retention purges walk the primary key in ranges instead.
    """

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # The client's id for the event; re-sending it is a no-op.
    external_id: Mapped[str] = mapped_column(String(255), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime]
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    properties: Mapped[dict[str, Any]] = mapped_column(default=dict)


class DailyUsage(Base):
    """Per (account, event name, UTC day): event count and distinct active contacts.

    Maintained incrementally on ingest; rules never scan raw events.

    The key is event-major, (event_name, account_id, day), and on SQLite the
    table is clustered on it (WITHOUT ROWID): rule evaluation computes all
    metrics of one event in one ordered range scan grouped by account
    (engine.rules.metrics), and one account's rows are still one probe per event.
    """

    __tablename__ = "daily_usage"
    __table_args__ = (PrimaryKeyConstraint("event_name", "account_id", "day"), {"sqlite_with_rowid": False})

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    event_name: Mapped[str] = mapped_column(String(100))
    day: Mapped[date] = mapped_column(DayNumber)
    count: Mapped[int] = mapped_column(Integer, default=0)
    active_contacts: Mapped[int] = mapped_column(Integer, default=0)


class DailyContactActivity(Base):
    """Which contacts were active per (account, event name, day).

    Lets ``DailyUsage.active_contacts`` be maintained exactly on ingest: a
    contact only counts when its row here is new.
    """

    __tablename__ = "daily_contact_activity"
    __table_args__ = (
        PrimaryKeyConstraint("event_name", "account_id", "day", "contact_id"),
        {"sqlite_with_rowid": False},
    )

    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    event_name: Mapped[str] = mapped_column(String(100))
    day: Mapped[date] = mapped_column(DayNumber)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
