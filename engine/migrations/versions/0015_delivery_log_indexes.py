"""deliveries: indexes for the send log's filters and keyset pages

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

# The send log walks (created_at, id) newest first, alone or within one filter column.
LOG_INDEXES = {
    'ix_deliveries_created': ['created_at', 'id'],
    'ix_deliveries_status_created': ['status', 'created_at', 'id'],
    'ix_deliveries_account_created': ['account_id', 'created_at', 'id'],
    'ix_deliveries_recipient_created': ['recipient', 'created_at', 'id'],
    'ix_deliveries_channel_created': ['channel', 'created_at', 'id'],
    'ix_deliveries_rule_status_created': ['rule_id', 'status', 'created_at', 'id'],
    'ix_deliveries_channel_status_created': ['channel', 'status', 'created_at', 'id'],
}


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        # id ends the rule's index too: keyset pages of one rule need it as the tie-break.
        batch_op.drop_index('ix_deliveries_rule_created')
        batch_op.create_index('ix_deliveries_rule_created', ['rule_id', 'created_at', 'id'], unique=False)
        for name, columns in LOG_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        for name in reversed(LOG_INDEXES):
            batch_op.drop_index(name)
        batch_op.drop_index('ix_deliveries_rule_created')
        batch_op.create_index('ix_deliveries_rule_created', ['rule_id', 'created_at'], unique=False)
