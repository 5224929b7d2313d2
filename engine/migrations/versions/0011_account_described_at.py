"""accounts: described_at, when an account record first described the account (empty for a stub), and history_starts

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.models.base

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

accounts = sa.table(
    'accounts',
    *(sa.column(name) for name in (
        'id', 'external_id', 'name', 'tier', 'plan', 'owner', 'mrr', 'arr',
        'signup_at', 'renewal_at', 'timezone', 'locale', 'created_at', 'described_at',
    )),
    sa.column('traits', sa.JSON()),
)
changes = sa.table('account_changes', sa.column('account_id'))
CHUNK = 500


def upgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('described_at', engine.models.base.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('history_starts', engine.models.base.JSONType, server_default='{}', nullable=False))
    # Until now nothing told a stub from a described account: an account is
    # taken as described since it was created, unless it still holds exactly
    # what a stub holds (its id as name, tier tech, nothing else, no history).
    op.execute(accounts.update().values(described_at=accounts.c.created_at))
    a = accounts.c
    looks_like_stub = sa.select(a.id, a.traits).where(
        a.name == a.external_id,
        a.tier == 'tech',
        *(a[name].is_(None) for name in ('plan', 'owner', 'mrr', 'arr', 'signup_at', 'renewal_at', 'timezone', 'locale')),
        ~sa.exists().where(changes.c.account_id == a.id),
    )
    stubs = [account_id for account_id, traits in op.get_bind().execute(looks_like_stub) if not traits]
    for start in range(0, len(stubs), CHUNK):
        op.execute(accounts.update().where(a.id.in_(stubs[start:start + CHUNK])).values(described_at=None))


def downgrade() -> None:
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        batch_op.drop_column('history_starts')
        batch_op.drop_column('described_at')
