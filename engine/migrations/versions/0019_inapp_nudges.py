"""in-app: the product's app id and signing keys; nudge kinds, priorities, calls to action and events

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-03 17:00:00
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import engine.models.base

revision = '0019'
down_revision = '0017'
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
JSONType = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')


@contextmanager
def nudges_batch():
    """SQLite rebuilds nudges to add its CHECK; reflecting it reaches accounts, whose expression
    indexes SQLAlchemy cannot reflect (they are not copied: only nudges is rebuilt)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based index", sa.exc.SAWarning)
        with op.batch_alter_table('nudges', schema=None) as batch_op:
            yield batch_op


def upgrade() -> None:
    op.create_table(
        'inapp_apps',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('app_id', sa.String(length=40), nullable=False),
        sa.Column('origins', JSONType, nullable=False),
        sa.Column('created_at', engine.models.base.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_inapp_apps')),
        sa.UniqueConstraint('app_id', name=op.f('uq_inapp_apps_app_id')),
    )
    op.create_table(
        'inapp_keys',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('app_pk', sa.Integer(), nullable=False),
        sa.Column('kid', sa.String(length=40), nullable=False),
        sa.Column('secret', sa.String(length=100), nullable=False),
        sa.Column('created_by', sa.String(length=400), nullable=False),
        sa.Column('created_at', engine.models.base.UTCDateTime(), nullable=False),
        sa.Column('revoked_at', engine.models.base.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(['app_pk'], ['inapp_apps.id'], name=op.f('fk_inapp_keys_app_pk_inapp_apps'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_inapp_keys')),
        sa.UniqueConstraint('kid', name=op.f('uq_inapp_keys_kid')),
    )
    op.create_index(op.f('ix_inapp_keys_app_pk'), 'inapp_keys', ['app_pk'], unique=False)
    # Nudges stored so far were cards of the default priority, without a call to action.
    with nudges_batch() as batch_op:
        batch_op.add_column(sa.Column('kind', sa.String(length=10), server_default='card', nullable=False))
        batch_op.add_column(sa.Column('priority', sa.Integer(), server_default='50', nullable=False))
        batch_op.add_column(sa.Column('cta_label', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('cta_url', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('locale', sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column('clicked_at', engine.models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('snoozed_until', engine.models.base.UTCDateTime(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_nudges_kind'), "kind IN ('banner', 'modal', 'card')")
        batch_op.create_index('ix_nudges_account_seen', ['account_id', 'seen_at'], unique=False)
    op.create_table(
        'nudge_events',
        sa.Column('id', BigIntPK, nullable=False),
        sa.Column('nudge_id', BigIntPK, nullable=False),
        sa.Column('type', sa.String(length=10), nullable=False),
        sa.Column('at', engine.models.base.UTCDateTime(), nullable=False),
        sa.CheckConstraint("type IN ('seen', 'clicked', 'dismissed', 'snoozed')", name=op.f('ck_nudge_events_type')),
        sa.ForeignKeyConstraint(['nudge_id'], ['nudges.id'], name=op.f('fk_nudge_events_nudge_id_nudges'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_nudge_events')),
        sa.UniqueConstraint('nudge_id', 'type', name='uq_nudge_events_nudge_type'),
    )


def downgrade() -> None:
    op.drop_table('nudge_events')
    with nudges_batch() as batch_op:
        batch_op.drop_index('ix_nudges_account_seen')
        batch_op.drop_constraint(op.f('ck_nudges_kind'), type_='check')
        batch_op.drop_column('snoozed_until')
        batch_op.drop_column('clicked_at')
        batch_op.drop_column('locale')
        batch_op.drop_column('cta_url')
        batch_op.drop_column('cta_label')
        batch_op.drop_column('priority')
        batch_op.drop_column('kind')
    op.drop_index(op.f('ix_inapp_keys_app_pk'), table_name='inapp_keys')
    op.drop_table('inapp_keys')
    op.drop_table('inapp_apps')
