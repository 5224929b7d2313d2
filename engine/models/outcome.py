"""Goal outcomes: whether each account a rule fired for (treated or held out) reached the rule's goal.

Written only by the outcomes pass (engine.results.outcomes), set-wise and incrementally;
docs/data-model.md and docs/rules.md ("How conversions are measured") state the semantics.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from engine.models.base import Base, BigIntPK, utcnow

OUTCOME_ARMS = ("treated", "control")
OUTCOME_STATES = ("open", "converted", "closed")
# An event at the account; the subject leaving the rule's segment; an account condition becoming true.
GOAL_KINDS = ("event", "leave", "condition")
# The outcomes the leave and condition steps of the pass look for: not converted yet, of those kinds.
PENDING_STATE = text("converted_at IS NULL AND goal_kind <> 'event'")


class GoalOutcome(Base):
    """One firing of a rule (``rule_id`` + ``occurrence``) at one account, and its goal's fate.

    The goal is the one of ``rule_version_id``, the version that fired, copied as
    ``goal_kind`` (with ``goal_event`` for an event goal, else NULL) and the window: a
    later version with another goal never rewrites it. ``exposed_at`` is the occurrence's
    first send (treated) or its held_out row's creation (control); the window is
    ``[exposed_at, window_ends_at)``. ``state`` is ``open`` until the goal is reached in
    the window (``converted``, ``converted_at`` when: the first goal event, the exit of the
    occurrence's stay in the segment, or the pass that first saw the condition true) or
    the window's end (``closed``).
    """

    __tablename__ = "goal_outcomes"
    __table_args__ = (
        UniqueConstraint("rule_id", "occurrence", "account_id", name="uq_goal_outcomes_rule_occurrence_account"),
        CheckConstraint("arm IN ('treated', 'control')", name="arm"),
        CheckConstraint("state IN ('open', 'converted', 'closed')", name="state"),
        CheckConstraint("goal_kind IN ('event', 'leave', 'condition')", name="goal_kind"),
        # A new goal event finds the outcomes of its account whose window it may fall in.
        Index("ix_goal_outcomes_account_goal", "account_id", "goal_event", "exposed_at"),
        # The leave and condition steps: their outcomes not converted yet, by the end of their window.
        Index("ix_goal_outcomes_pending_window", "goal_kind", "window_ends_at",
              sqlite_where=PENDING_STATE, postgresql_where=PENDING_STATE),
        # The close step: open outcomes whose window has ended.
        Index("ix_goal_outcomes_state_window", "state", "window_ends_at"),
        # The read side: one rule's outcomes whose window ended by a time.
        Index("ix_goal_outcomes_rule_window", "rule_id", "window_ends_at"),
        # Ids only grow, never reused after a delete (SQLite would): a pass takes the outcomes
        # with ids above the last pass's highest as the ones it added.
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(100))
    rule_version_id: Mapped[int] = mapped_column(ForeignKey("rule_versions.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    occurrence: Mapped[str] = mapped_column(String(64))
    arm: Mapped[str] = mapped_column(String(8))
    # Treated: the occurrence's first delivery sent; control: its first held_out row.
    delivery_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("deliveries.id", ondelete="CASCADE"))
    goal_kind: Mapped[str] = mapped_column(String(10), default="event", server_default="event")
    goal_event: Mapped[str | None] = mapped_column(String(100))  # an event goal's event name
    exposed_at: Mapped[datetime]
    window_ends_at: Mapped[datetime]
    converted_at: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(String(10), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OutcomeGoal(Base):
    """The goal of one rule version, read once from its stored content (a version never changes).

    ``goal_kind`` is None for a version without a goal (or whose content no longer
    validates): its firings get no outcome. Else ``event``, with the event's name in
    ``goal_event``; ``leave`` (leaving the segment); or ``condition``, with the condition
    as a line of text in ``goal_condition`` (for people: the pass reads the condition
    from the version's content). ``window_days`` is the goal's ``within``, at most 90 days.
    After a recompute, the goal is that of ``goal_version_id`` (and the condition is read
    from that version's content).
    """

    __tablename__ = "outcome_goals"
    __table_args__ = (CheckConstraint("goal_kind IN ('event', 'leave', 'condition')", name="goal_kind"),)

    rule_version_id: Mapped[int] = mapped_column(ForeignKey("rule_versions.id", ondelete="CASCADE"), primary_key=True)
    rule_id: Mapped[str] = mapped_column(String(100))
    goal_kind: Mapped[str | None] = mapped_column(String(10))
    goal_event: Mapped[str | None] = mapped_column(String(100))
    goal_condition: Mapped[str | None] = mapped_column(Text)
    window_days: Mapped[int | None]
    read_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by a recompute (engine.results.recompute): the goal above is this later version's,
    # and this version's firings are measured with it from then on. None: the version's own.
    goal_version_id: Mapped[int | None] = mapped_column(ForeignKey("rule_versions.id", ondelete="SET NULL"))
    recomputed_at: Mapped[datetime | None]


class OutcomePass(Base):
    """One finished outcomes pass: where the next one starts from.

    ``event_high_water`` is the highest event id when it started and
    ``outcome_high_water`` the highest outcome id once it had added its own; a pass
    whose ``started_at`` is a day before an exposure bounds the events that exposure
    must still be compared with (engine.results.outcomes).
    """

    __tablename__ = "outcome_passes"
    __table_args__ = (Index("ix_outcome_passes_started", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    full: Mapped[bool]
    event_high_water: Mapped[int] = mapped_column(BigInteger)
    outcome_high_water: Mapped[int] = mapped_column(BigInteger)
    added: Mapped[int] = mapped_column(default=0)
    converted: Mapped[int] = mapped_column(default=0)
    closed: Mapped[int] = mapped_column(default=0)
