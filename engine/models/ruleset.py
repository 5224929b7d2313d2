"""Applied rule versions, their live state, and who is in each rule's segment."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, utcnow


class RuleVersion(Base):
    """One applied version of a rule file: what was activated, by whom, from which commit."""

    __tablename__ = "rule_versions"
    __table_args__ = (
        UniqueConstraint("rule_id", "version", name="uq_rule_versions_rule_id_version"),
        CheckConstraint("origin IN ('file', 'admin')", name="origin"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[int]
    content: Mapped[str] = mapped_column(Text)
    content_hash: Mapped[str] = mapped_column(String(64))
    author: Mapped[str] = mapped_column(String(255))
    git_commit: Mapped[str | None] = mapped_column(String(40))
    # Where the content came from: 'file' (touchline apply, with git_commit when the
    # folder is a repository) or 'admin' (edited, rolled back or restored there;
    # author is the user). Applying files over an 'admin' version is drift.
    origin: Mapped[str] = mapped_column(String(10), default="file", server_default="file")
    comment: Mapped[str | None] = mapped_column(Text)  # why: required from the admin
    restored_from: Mapped[int | None]  # a rollback: the version number whose content this one restores
    diff: Mapped[str | None] = mapped_column(Text)
    # Messages `touchline plan` predicted when this version was applied: the
    # circuit breaker's default ceiling is far above it (engine.rules.firing).
    predicted_messages: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RuleState(Base):
    """The live state of a rule: which version is active and whether it is paused."""

    __tablename__ = "rule_states"

    rule_id: Mapped[str] = mapped_column(String(100), primary_key=True)
    active_version_id: Mapped[int] = mapped_column(ForeignKey("rule_versions.id"))
    paused: Mapped[bool] = mapped_column(default=False)
    paused_reason: Mapped[str | None] = mapped_column(Text)
    # When the evaluation cycle last ran this rule; with the rule's cron it says when it is due.
    last_evaluated_at: Mapped[datetime | None]
    # The last full evaluation (every account) and the version it evaluated:
    # incremental evaluations only re-check what changed since (engine.rules.changes).
    last_full_at: Mapped[datetime | None]
    full_version_id: Mapped[int | None]
    # What the last evaluation had seen: wall-clock time and the highest event id.
    data_seen_at: Mapped[datetime | None]
    event_watermark: Mapped[int | None] = mapped_column(BigInteger)
    # Bumped by every write of this rule's memberships: a writer whose matches
    # were read before another write recomputes them under the row lock.
    generation: Mapped[int] = mapped_column(default=0, server_default="0")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SegmentMembership(Base):
    """A stay of one subject (an account, or a contact for contact-level rules) in a rule's segment.

    ``exited_at`` is NULL while the subject is in; a partial unique index keeps
    at most one open stay per (rule, subject), so two cycles at once cannot
    both record the same entry.
    """

    __tablename__ = "segment_memberships"
    __table_args__ = (
        Index(
            "uq_segment_memberships_open",
            "rule_id",
            "subject_key",
            unique=True,
            sqlite_where=text("exited_at IS NULL"),
            postgresql_where=text("exited_at IS NULL"),
        ),
        Index("ix_segment_memberships_account", "account_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(100))
    # "account:<id>" or "contact:<id>": one column, so the unique index works with NULL-free keys.
    subject_key: Mapped[str] = mapped_column(String(40))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    entered_at: Mapped[datetime] = mapped_column(default=utcnow)
    exited_at: Mapped[datetime | None]
    last_fired_at: Mapped[datetime | None]
