"""Accounts and the history of the account fields rules ask about."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Numeric, String, Text, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from engine.models.base import Base, utcnow

if TYPE_CHECKING:
    from engine.models.contact import Contact

TIERS = ("high", "low", "tech")
# Changes to these fields are kept in account_changes, so that a rule can ask
# "owner changed in the last 30 days" long after the change.
TRACKED_FIELDS = ("owner", "tier", "plan")


class Account(Base):
    __tablename__ = "accounts"
    __table_args__ = (
        CheckConstraint("tier IN ('high', 'low', 'tech')", name="tier"),
        # The admin's account list pages through external_id within each filter (engine.accounts.search).
        Index("ix_accounts_tier_external_id", "tier", "external_id"),
        Index("ix_accounts_plan_external_id", "plan", "external_id"),
        Index("ix_accounts_owner_external_id", "owner", "external_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    plan: Mapped[str | None] = mapped_column(String(100))
    mrr: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    arr: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    tier: Mapped[str] = mapped_column(String(8), default="tech", index=True)
    # Indexed: the incremental cycle finds the accounts a relative-time boundary moved past.
    signup_at: Mapped[datetime | None] = mapped_column(index=True)
    renewal_at: Mapped[datetime | None] = mapped_column(index=True)
    owner: Mapped[str | None] = mapped_column(String(255))
    timezone: Mapped[str | None] = mapped_column(String(64))
    locale: Mapped[str | None] = mapped_column(String(16))
    traits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Indexed: the incremental evaluation cycle asks what changed since its last look.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    # The effective time of the first account record that described it; empty
    # for a stub made by an event or contact, whose fields are placeholders:
    # its first description is its initial state, not a change.
    described_at: Mapped[datetime | None]
    # Per tracked field, the ISO 8601 time its first known value holds from,
    # where a dated record showed it to be earlier than described_at.
    history_starts: Mapped[dict[str, Any]] = mapped_column(default=dict)

    contacts: Mapped[list[Contact]] = relationship(back_populates="account", passive_deletes=True)
    changes: Mapped[list[AccountChange]] = relationship(
        back_populates="account", passive_deletes=True, order_by="AccountChange.changed_at"
    )

    def __repr__(self) -> str:
        return f"<Account {self.external_id!r} tier={self.tier}>"


# The account search matches ids and names by prefix, case-insensitively;
# text_pattern_ops lets LIKE 'x%' use them on PostgreSQL whatever the collation.
Index(
    "ix_accounts_external_id_lower",
    func.lower(Account.external_id).label("external_id_lower"),
    postgresql_ops={"external_id_lower": "text_pattern_ops"},
)
Index("ix_accounts_name_lower", func.lower(Account.name).label("name_lower"), postgresql_ops={"name_lower": "text_pattern_ops"})


class AccountChange(Base):
    __tablename__ = "account_changes"
    __table_args__ = (Index("ix_account_changes_lookup", "account_id", "field", "changed_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    field: Mapped[str] = mapped_column(String(32))
    old_value: Mapped[str | None] = mapped_column(Text)
    new_value: Mapped[str | None] = mapped_column(Text)
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(32), default="api")

    account: Mapped[Account] = relationship(back_populates="changes")
