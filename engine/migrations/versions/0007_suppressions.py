"""suppressions: unsubscribes, bounces and complaints per address and category; categories re-joined after leaving all

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-24 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.models.base

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'suppressions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('address', sa.String(length=320), nullable=False),
        sa.Column('category', sa.String(length=50), nullable=False),
        sa.Column('reason', sa.String(length=16), nullable=False),
        sa.Column('source', sa.String(length=100), nullable=False),
        sa.Column('created_at', engine.models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "reason IN ('unsubscribed', 'bounced', 'complained')", name=op.f('ck_suppressions_reason')
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_suppressions')),
        sa.UniqueConstraint('address', 'category', name='uq_suppressions_address_category'),
    )
    op.create_table(
        'category_rejoins',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('address', sa.String(length=320), nullable=False),
        sa.Column('category', sa.String(length=50), nullable=False),
        sa.Column('created_at', engine.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_category_rejoins')),
        sa.UniqueConstraint('address', 'category', name='uq_category_rejoins_address_category'),
    )


def downgrade() -> None:
    op.drop_table('category_rejoins')
    op.drop_table('suppressions')
