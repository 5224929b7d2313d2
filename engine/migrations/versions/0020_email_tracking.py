"""email click tracking and opens

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.models.base

revision = '0020'
down_revision = '0019'
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    # One row per request for a tracking link or an open pixel (engine/models/engagement.py).
    op.create_table(
        'delivery_engagements',
        sa.Column('id', BigIntPK, nullable=False),
        sa.Column('delivery_id', BigIntPK, nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=8), nullable=False),
        sa.Column('url', sa.Text(), nullable=True),
        sa.Column('at', engine.models.base.UTCDateTime(), nullable=False),
        sa.Column('method', sa.String(length=8), nullable=False),
        sa.Column('user_agent', sa.String(length=300), nullable=True),
        sa.Column('address', sa.String(length=64), nullable=True),
        sa.Column('flagged', sa.String(length=200), nullable=True),
        sa.CheckConstraint("kind IN ('click', 'open')", name=op.f('ck_delivery_engagements_kind')),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_delivery_engagements_account_id_accounts'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'],
                                name=op.f('fk_delivery_engagements_delivery_id_deliveries'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_engagements')),
    )
    with op.batch_alter_table('delivery_engagements', schema=None) as batch_op:
        batch_op.create_index('ix_delivery_engagements_delivery_at', ['delivery_id', 'at'], unique=False)
        batch_op.create_index('ix_delivery_engagements_account_at', ['account_id', 'at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('delivery_engagements', schema=None) as batch_op:
        batch_op.drop_index('ix_delivery_engagements_account_at')
        batch_op.drop_index('ix_delivery_engagements_delivery_at')
    op.drop_table('delivery_engagements')
