"""nudges: in-app messages stored for the product to fetch, one per delivery

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-24 12:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.models.base

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'nudges',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('delivery_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('contact_id', sa.Integer(), nullable=False),
        sa.Column('title', sa.Text(), nullable=False),
        sa.Column('body_html', sa.Text(), nullable=False),
        sa.Column('body_text', sa.Text(), nullable=False),
        sa.Column('created_at', engine.models.base.UTCDateTime(), nullable=False),
        sa.Column('expires_at', engine.models.base.UTCDateTime(), nullable=True),
        sa.Column('seen_at', engine.models.base.UTCDateTime(), nullable=True),
        sa.Column('dismissed_at', engine.models.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_nudges_account_id_accounts'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'], name=op.f('fk_nudges_contact_id_contacts'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_nudges_delivery_id_deliveries'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_nudges')),
        sa.UniqueConstraint('delivery_id', name=op.f('uq_nudges_delivery_id')),
    )
    with op.batch_alter_table('nudges', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nudges_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_nudges_contact_created', ['contact_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('nudges', schema=None) as batch_op:
        batch_op.drop_index('ix_nudges_contact_created')
        batch_op.drop_index(batch_op.f('ix_nudges_account_id'))
    op.drop_table('nudges')
