"""deliveries: index (rule_id, created_at) in place of (rule_id), for what a rule wrote since a time

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 07:30:00
"""

from __future__ import annotations

from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The circuit breaker counts a rule's messages since its last cycle on every on_event
    # re-check; lookups by rule alone use the same index's first column.
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_rule_created', ['rule_id', 'created_at'], unique=False)
        batch_op.drop_index('ix_deliveries_rule_id')


def downgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_deliveries_rule_id', ['rule_id'], unique=False)
        batch_op.drop_index('ix_deliveries_rule_created')
