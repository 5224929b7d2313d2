"""goal kinds: a goal is an event, leaving the segment or a condition becoming true

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.models.base

revision = '0023'
down_revision = '0022'
branch_labels = None
depends_on = None

KINDS = "goal_kind IN ('event', 'leave', 'condition')"
PENDING = sa.text("converted_at IS NULL AND goal_kind <> 'event'")
BigIntPK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    # engine/models/outcome.py. Every goal read so far is an event (the only kind until now).
    with op.batch_alter_table('outcome_goals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('goal_kind', sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column('goal_condition', sa.Text(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_outcome_goals_goal_kind'), KINDS)
    op.execute("UPDATE outcome_goals SET goal_kind = 'event' WHERE goal_event IS NOT NULL")
    # goal_event is NULL for the other kinds. On SQLite the table is copied: its ids keep
    # growing from where they were (AUTOINCREMENT; a pass tells its new outcomes by id).
    seq = _sequence()
    with op.batch_alter_table('goal_outcomes', schema=None, copy_from=_goal_outcomes(with_kinds=False)) as batch_op:
        batch_op.add_column(sa.Column('goal_kind', sa.String(length=10), server_default='event', nullable=False))
        batch_op.alter_column('goal_event', existing_type=sa.String(length=100), nullable=True)
        batch_op.create_check_constraint(op.f('ck_goal_outcomes_goal_kind'), KINDS)
        batch_op.create_index('ix_goal_outcomes_pending_window', ['goal_kind', 'window_ends_at'], unique=False,
                              sqlite_where=PENDING, postgresql_where=PENDING)
    _restore_sequence(seq)


def downgrade() -> None:
    # Outcomes of the other kinds have no event to keep: they go, and their versions read as without a goal.
    op.execute("DELETE FROM goal_outcomes WHERE goal_kind <> 'event'")
    seq = _sequence()
    with op.batch_alter_table('goal_outcomes', schema=None, copy_from=_goal_outcomes(with_kinds=True)) as batch_op:
        batch_op.drop_index('ix_goal_outcomes_pending_window', sqlite_where=PENDING, postgresql_where=PENDING)
        batch_op.drop_constraint(op.f('ck_goal_outcomes_goal_kind'), type_='check')
        batch_op.alter_column('goal_event', existing_type=sa.String(length=100), nullable=False)
        batch_op.drop_column('goal_kind')
    _restore_sequence(seq)
    with op.batch_alter_table('outcome_goals', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_outcome_goals_goal_kind'), type_='check')
        batch_op.drop_column('goal_condition')
        batch_op.drop_column('goal_kind')


def _goal_outcomes(with_kinds: bool) -> sa.Table:
    """goal_outcomes as 0021 made it (or as this revision leaves it): what SQLite copies, without
    reflecting the tables it refers to (whose expression indexes it cannot read)."""
    kinds = [
        sa.Column('goal_kind', sa.String(length=10), server_default='event', nullable=False),
        sa.CheckConstraint(KINDS, name='ck_goal_outcomes_goal_kind'),
        sa.Index('ix_goal_outcomes_pending_window', 'goal_kind', 'window_ends_at', sqlite_where=PENDING,
                 postgresql_where=PENDING),
    ] if with_kinds else []
    return sa.Table(
        'goal_outcomes', sa.MetaData(),
        sa.Column('id', BigIntPK, nullable=False),
        sa.Column('rule_id', sa.String(length=100), nullable=False),
        sa.Column('rule_version_id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('occurrence', sa.String(length=64), nullable=False),
        sa.Column('arm', sa.String(length=8), nullable=False),
        sa.Column('delivery_id', BigIntPK, nullable=False),
        sa.Column('goal_event', sa.String(length=100), nullable=with_kinds),
        sa.Column('exposed_at', engine.models.base.UTCDateTime(), nullable=False),
        sa.Column('window_ends_at', engine.models.base.UTCDateTime(), nullable=False),
        sa.Column('converted_at', engine.models.base.UTCDateTime(), nullable=True),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('created_at', engine.models.base.UTCDateTime(), nullable=False),
        sa.Column('updated_at', engine.models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("arm IN ('treated', 'control')", name='ck_goal_outcomes_arm'),
        sa.CheckConstraint("state IN ('open', 'converted', 'closed')", name='ck_goal_outcomes_state'),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name='fk_goal_outcomes_account_id_accounts',
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name='fk_goal_outcomes_delivery_id_deliveries',
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['rule_version_id'], ['rule_versions.id'],
                                name='fk_goal_outcomes_rule_version_id_rule_versions'),
        sa.PrimaryKeyConstraint('id', name='pk_goal_outcomes'),
        sa.UniqueConstraint('rule_id', 'occurrence', 'account_id', name='uq_goal_outcomes_rule_occurrence_account'),
        sa.Index('ix_goal_outcomes_account_goal', 'account_id', 'goal_event', 'exposed_at'),
        sa.Index('ix_goal_outcomes_state_window', 'state', 'window_ends_at'),
        sa.Index('ix_goal_outcomes_rule_window', 'rule_id', 'window_ends_at'),
        *kinds,
        sqlite_autoincrement=True,
    )


def _sequence() -> int | None:
    """The highest goal_outcomes id SQLite has handed out (None elsewhere, or before the first)."""
    bind = op.get_bind()
    if bind.dialect.name != 'sqlite':
        return None
    return bind.execute(sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'goal_outcomes'")).scalar()


def _restore_sequence(seq: int | None) -> None:
    # The copy's sequence starts from its highest row: ids of outcomes deleted since must not come back.
    if seq is not None:
        bind = op.get_bind()
        if bind.execute(sa.text("SELECT count(*) FROM sqlite_sequence WHERE name = 'goal_outcomes'")).scalar():
            bind.execute(sa.text("UPDATE sqlite_sequence SET seq = max(seq, :seq) WHERE name = 'goal_outcomes'"), {'seq': seq})
        else:
            bind.execute(sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('goal_outcomes', :seq)"), {'seq': seq})
