"""rules, memberships and deliveries

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 15:15:21.864884
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.models.base
from sqlalchemy.dialects import postgresql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    
    op.create_table('rule_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.String(length=100), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('author', sa.String(length=255), nullable=False),
    sa.Column('git_commit', sa.String(length=40), nullable=True),
    sa.Column('diff', sa.Text(), nullable=True),
    sa.Column('created_at', engine.models.base.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rule_versions')),
    sa.UniqueConstraint('rule_id', 'version', name='uq_rule_versions_rule_id_version')
    )
    with op.batch_alter_table('rule_versions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rule_versions_rule_id'), ['rule_id'], unique=False)

    op.create_table('rule_states',
    sa.Column('rule_id', sa.String(length=100), nullable=False),
    sa.Column('active_version_id', sa.Integer(), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('paused_reason', sa.Text(), nullable=True),
    sa.Column('last_evaluated_at', engine.models.base.UTCDateTime(), nullable=True),
    sa.Column('updated_at', engine.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['active_version_id'], ['rule_versions.id'], name=op.f('fk_rule_states_active_version_id_rule_versions')),
    sa.PrimaryKeyConstraint('rule_id', name=op.f('pk_rule_states'))
    )
    op.create_table('deliveries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('dedupe_key', sa.String(length=255), nullable=False),
    sa.Column('rule_id', sa.String(length=100), nullable=False),
    sa.Column('rule_version_id', sa.Integer(), nullable=False),
    sa.Column('action_index', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False),
    sa.Column('template', sa.String(length=255), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('recipient', sa.String(length=320), nullable=False),
    sa.Column('occurrence', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('explanation', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=False),
    sa.Column('due_at', engine.models.base.UTCDateTime(), nullable=False),
    sa.Column('created_at', engine.models.base.UTCDateTime(), nullable=False),
    sa.Column('updated_at', engine.models.base.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_deliveries_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_deliveries_contact_id_contacts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['rule_version_id'], ['rule_versions.id'], name=op.f('fk_deliveries_rule_version_id_rule_versions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deliveries')),
    sa.UniqueConstraint('dedupe_key', name=op.f('uq_deliveries_dedupe_key'))
    )
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_deliveries_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_deliveries_rule_id'), ['rule_id'], unique=False)
        batch_op.create_index('ix_deliveries_status_due', ['status', 'due_at'], unique=False)

    op.create_table('segment_memberships',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('rule_id', sa.String(length=100), nullable=False),
    sa.Column('subject_key', sa.String(length=40), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('contact_id', sa.Integer(), nullable=True),
    sa.Column('entered_at', engine.models.base.UTCDateTime(), nullable=False),
    sa.Column('exited_at', engine.models.base.UTCDateTime(), nullable=True),
    sa.Column('last_fired_at', engine.models.base.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_segment_memberships_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_segment_memberships_contact_id_contacts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_segment_memberships'))
    )
    with op.batch_alter_table('segment_memberships', schema=None) as batch_op:
        batch_op.create_index('ix_segment_memberships_account', ['account_id'], unique=False)
        batch_op.create_index('uq_segment_memberships_open', ['rule_id', 'subject_key'], unique=True, sqlite_where=sa.text('exited_at IS NULL'), postgresql_where=sa.text('exited_at IS NULL'))

    


def downgrade() -> None:
    
    with op.batch_alter_table('segment_memberships', schema=None) as batch_op:
        batch_op.drop_index('uq_segment_memberships_open', sqlite_where=sa.text('exited_at IS NULL'), postgresql_where=sa.text('exited_at IS NULL'))
        batch_op.drop_index('ix_segment_memberships_account')

    op.drop_table('segment_memberships')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_status_due')
        batch_op.drop_index(batch_op.f('ix_deliveries_rule_id'))
        batch_op.drop_index(batch_op.f('ix_deliveries_account_id'))

    op.drop_table('deliveries')
    op.drop_table('rule_states')
    with op.batch_alter_table('rule_versions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rule_versions_rule_id'))

    op.drop_table('rule_versions')
    
