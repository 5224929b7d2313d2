"""accounts and contacts: indexes for the admin's account search and filters

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None

# The account list pages through external_id within each filter.
FILTER_INDEXES = {
    'ix_accounts_tier_external_id': ['tier', 'external_id'],
    'ix_accounts_plan_external_id': ['plan', 'external_id'],
    'ix_accounts_owner_external_id': ['owner', 'external_id'],
}


def _domain(dialect: str) -> str:
    # As engine.models.contact.email_domain compiles it: the index is used only
    # when the query spells the expression the same way.
    if dialect == 'postgresql':
        return "split_part(lower(email), '@', 2)"
    return "substr(lower(email), instr(email, '@') + 1)"


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    # Prefix search (LIKE 'x%') on lower-cased values; text_pattern_ops makes
    # PostgreSQL use the index whatever the database's collation.
    ops = ' text_pattern_ops' if dialect == 'postgresql' else ''
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        for name, columns in FILTER_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
    op.execute(f'CREATE INDEX ix_accounts_external_id_lower ON accounts (lower(external_id){ops})')
    op.execute(f'CREATE INDEX ix_accounts_name_lower ON accounts (lower(name){ops})')
    op.execute(f'CREATE INDEX ix_contacts_email_lower ON contacts (lower(email){ops})')
    op.execute(f'CREATE INDEX ix_contacts_email_domain ON contacts (({_domain(dialect)}){ops})')


def downgrade() -> None:
    for name in ('ix_contacts_email_domain', 'ix_contacts_email_lower', 'ix_accounts_name_lower', 'ix_accounts_external_id_lower'):
        op.execute(sa.text(f'DROP INDEX {name}'))
    with op.batch_alter_table('accounts', schema=None) as batch_op:
        for name in reversed(FILTER_INDEXES):
            batch_op.drop_index(name)
