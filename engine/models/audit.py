"""The audit log: who changed what and when, with the object before and after.

Append-only: the app has no update or delete path, and migration 0013 adds triggers
so the database itself refuses UPDATE and DELETE on ``audit_log``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, String
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigIntPK, utcnow

__all__ = ["AUDIT_OBJECT_TYPES", "AuditEntry"]

AUDIT_OBJECT_TYPES = ("rule", "segment", "template", "user", "api_key", "suppression", "setting", "test_send")

# None is SQL NULL ("no before": a creation), not the JSON value null.
AuditJSON = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        CheckConstraint(
            "object_type IN (" + ", ".join(f"'{t}'" for t in AUDIT_OBJECT_TYPES) + ")", name="object_type"
        ),
        # The page and the CLI read newest first, optionally for one actor or one object.
        Index("ix_audit_log_at_id", "at", "id"),
        Index("ix_audit_log_actor_at", "actor", "at"),
        Index("ix_audit_log_object", "object_type", "object_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(400))  # user:<email>, cli:<os user>, api_key:<prefix>, recipient:<address>
    action: Mapped[str] = mapped_column(String(50))
    object_type: Mapped[str] = mapped_column(String(20))
    object_id: Mapped[str] = mapped_column(String(400))
    summary: Mapped[str | None] = mapped_column(String(1000))
    before: Mapped[Any] = mapped_column(AuditJSON, nullable=True)
    after: Mapped[Any] = mapped_column(AuditJSON, nullable=True)
