"""incremental evaluation: what each rule's last evaluation saw, and indexes to ask what changed since (row writes, relative-time boundaries)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.models.base

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('rule_states', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_full_at', engine.models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('full_version_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('data_seen_at', engine.models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('event_watermark', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('generation', sa.Integer(), server_default='0', nullable=False))
    op.create_index('ix_accounts_updated_at', 'accounts', ['updated_at'], unique=False)
    op.create_index('ix_contacts_updated_at', 'contacts', ['updated_at'], unique=False)
    op.create_index('ix_accounts_signup_at', 'accounts', ['signup_at'], unique=False)
    op.create_index('ix_accounts_renewal_at', 'accounts', ['renewal_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_accounts_renewal_at', table_name='accounts')
    op.drop_index('ix_accounts_signup_at', table_name='accounts')
    op.drop_index('ix_contacts_updated_at', table_name='contacts')
    op.drop_index('ix_accounts_updated_at', table_name='accounts')
    with op.batch_alter_table('rule_states', schema=None) as batch_op:
        batch_op.drop_column('generation')
        batch_op.drop_column('event_watermark')
        batch_op.drop_column('data_seen_at')
        batch_op.drop_column('full_version_id')
        batch_op.drop_column('last_full_at')
