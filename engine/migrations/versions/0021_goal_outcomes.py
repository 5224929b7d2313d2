"""goal outcomes: one per rule firing and account, treated or held out; the goal of each rule version; the passes

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-04 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.models.base

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
SENT = sa.text('sent_at IS NOT NULL')


def upgrade() -> None:
    # engine/models/outcome.py
    op.create_table(
        'goal_outcomes',
        sa.Column('id', BigIntPK, nullable=False),
        sa.Column('rule_id', sa.String(length=100), nullable=False),
        sa.Column('rule_version_id', sa.Integer(), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('occurrence', sa.String(length=64), nullable=False),
        sa.Column('arm', sa.String(length=8), nullable=False),
        sa.Column('delivery_id', BigIntPK, nullable=False),
        sa.Column('goal_event', sa.String(length=100), nullable=False),
        sa.Column('exposed_at', engine.models.base.UTCDateTime(), nullable=False),
        sa.Column('window_ends_at', engine.models.base.UTCDateTime(), nullable=False),
        sa.Column('converted_at', engine.models.base.UTCDateTime(), nullable=True),
        sa.Column('state', sa.String(length=10), nullable=False),
        sa.Column('created_at', engine.models.base.UTCDateTime(), nullable=False),
        sa.Column('updated_at', engine.models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("arm IN ('treated', 'control')", name=op.f('ck_goal_outcomes_arm')),
        sa.CheckConstraint("state IN ('open', 'converted', 'closed')", name=op.f('ck_goal_outcomes_state')),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_goal_outcomes_account_id_accounts'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_goal_outcomes_delivery_id_deliveries'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['rule_version_id'], ['rule_versions.id'],
                                name=op.f('fk_goal_outcomes_rule_version_id_rule_versions')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_goal_outcomes')),
        sa.UniqueConstraint('rule_id', 'occurrence', 'account_id', name='uq_goal_outcomes_rule_occurrence_account'),
        sqlite_autoincrement=True,
    )
    with op.batch_alter_table('goal_outcomes', schema=None) as batch_op:
        batch_op.create_index('ix_goal_outcomes_account_goal', ['account_id', 'goal_event', 'exposed_at'], unique=False)
        batch_op.create_index('ix_goal_outcomes_state_window', ['state', 'window_ends_at'], unique=False)
        batch_op.create_index('ix_goal_outcomes_rule_window', ['rule_id', 'window_ends_at'], unique=False)
    op.create_table(
        'outcome_goals',
        sa.Column('rule_version_id', sa.Integer(), nullable=False),
        sa.Column('rule_id', sa.String(length=100), nullable=False),
        sa.Column('goal_event', sa.String(length=100), nullable=True),
        sa.Column('window_days', sa.Integer(), nullable=True),
        sa.Column('read_at', engine.models.base.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['rule_version_id'], ['rule_versions.id'],
                                name=op.f('fk_outcome_goals_rule_version_id_rule_versions'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('rule_version_id', name=op.f('pk_outcome_goals')),
    )
    op.create_table(
        'outcome_passes',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('started_at', engine.models.base.UTCDateTime(), nullable=False),
        sa.Column('finished_at', engine.models.base.UTCDateTime(), nullable=False),
        sa.Column('full', sa.Boolean(), nullable=False),
        sa.Column('event_high_water', sa.BigInteger(), nullable=False),
        sa.Column('outcome_high_water', sa.BigInteger(), nullable=False),
        sa.Column('added', sa.Integer(), nullable=False),
        sa.Column('converted', sa.Integer(), nullable=False),
        sa.Column('closed', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_outcome_passes')),
    )
    with op.batch_alter_table('outcome_passes', schema=None) as batch_op:
        batch_op.create_index('ix_outcome_passes_started', ['started_at'], unique=False)
    # The pass reads what was sent since its last look; only sent rows are in this index.
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_sent_at', ['sent_at'], unique=False, sqlite_where=SENT, postgresql_where=SENT)


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_sent_at', sqlite_where=SENT, postgresql_where=SENT)
    with op.batch_alter_table('outcome_passes', schema=None) as batch_op:
        batch_op.drop_index('ix_outcome_passes_started')
    op.drop_table('outcome_passes')
    op.drop_table('outcome_goals')
    with op.batch_alter_table('goal_outcomes', schema=None) as batch_op:
        batch_op.drop_index('ix_goal_outcomes_rule_window')
        batch_op.drop_index('ix_goal_outcomes_state_window')
        batch_op.drop_index('ix_goal_outcomes_account_goal')
    op.drop_table('goal_outcomes')
