"""Contacts: the people at an account who receive messages."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import ForeignKey, Index, String, func
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.sql.functions import FunctionElement

from engine.models.base import Base, utcnow

if TYPE_CHECKING:
    from engine.models.account import Account

ROLES = ("admin", "owner", "billing", "member", "viewer")


class email_domain(FunctionElement):  # noqa: N801 (reads as the SQL function it stands for)
    """The lower-cased part of an address after its '@' ('' without one): the admin's
    account search looks contacts up by domain through an index on this expression."""

    inherit_cache = True
    type = String()


@compiles(email_domain, "postgresql")
def _email_domain_pg(element, compiler, **kw):
    return f"split_part(lower({compiler.process(element.clauses, **kw)}), '@', 2)"


@compiles(email_domain, "sqlite")
def _email_domain_sqlite(element, compiler, **kw):
    address = compiler.process(element.clauses, **kw)
    return f"substr(lower({address}), instr({address}, '@') + 1)"


class Contact(Base):
    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    external_id: Mapped[str] = mapped_column(String(255), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    email: Mapped[str | None] = mapped_column(String(320), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(32), default="member")
    locale: Mapped[str | None] = mapped_column(String(16))
    timezone: Mapped[str | None] = mapped_column(String(64))
    traits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    last_seen_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Indexed: the incremental evaluation cycle asks what changed since its last look.
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)

    account: Mapped[Account] = relationship(back_populates="contacts")

    def __repr__(self) -> str:
        return f"<Contact {self.external_id!r} role={self.role}>"


# The admin's account search matches addresses and their domains by prefix,
# case-insensitively (engine.accounts.search); text_pattern_ops lets LIKE 'x%'
# use these indexes on PostgreSQL whatever the database's collation.
Index(
    "ix_contacts_email_lower",
    func.lower(Contact.email).label("email_lower"),
    postgresql_ops={"email_lower": "text_pattern_ops"},
)
Index(
    "ix_contacts_email_domain",
    email_domain(Contact.email).label("email_domain"),
    postgresql_ops={"email_domain": "text_pattern_ops"},
)
