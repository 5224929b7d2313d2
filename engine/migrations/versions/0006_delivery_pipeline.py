"""delivery pipeline: category and priority copied from the rule, attempts, lease, job, message id, provider response;
rule versions keep the messages their plan predicted (the circuit breaker's default ceiling)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.models.base

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('category', sa.String(length=40), server_default='general', nullable=False))
        batch_op.add_column(sa.Column('priority', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('attempts', sa.Integer(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('queued_at', engine.models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('job_id', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('lease_until', engine.models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('message_id', sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column('provider_response', sa.Text(), nullable=True))
    with op.batch_alter_table('rule_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('predicted_messages', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('rule_versions', schema=None) as batch_op:
        batch_op.drop_column('predicted_messages')
    with op.batch_alter_table('deliveries', schema=None) as batch_op:
        for column in ('provider_response', 'message_id', 'lease_until', 'job_id', 'queued_at', 'attempts',
                       'priority', 'category'):
            batch_op.drop_column(column)
