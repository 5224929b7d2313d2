"""deliveries.sent_at, for the rule condition "received"

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-24 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.models.base

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sent_at', engine.models.base.UTCDateTime(), nullable=True))
        batch_op.create_index('ix_deliveries_account_rule_sent', ['account_id', 'rule_id', 'sent_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_deliveries_account_rule_sent')
        batch_op.drop_column('sent_at')
