"""result_flags: a play that hurts, flagged on its rule and its owner alerted

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.models.base

revision = '0024'
down_revision = '0023'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'result_flags',
        sa.Column('rule_id', sa.String(length=100), nullable=False),
        sa.Column('kind', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('flagged_at', engine.models.base.UTCDateTime(), nullable=False),
        sa.Column('alerted_at', engine.models.base.UTCDateTime(), nullable=True),
        sa.Column('alert', sa.Text(), nullable=True),
        sa.Column('cleared_at', engine.models.base.UTCDateTime(), nullable=True),
        sa.CheckConstraint("kind IN ('conversion', 'unsubscribes')", name=op.f('ck_result_flags_kind')),
        sa.PrimaryKeyConstraint('rule_id', 'kind', name=op.f('pk_result_flags')),
    )


def downgrade() -> None:
    op.drop_table('result_flags')
