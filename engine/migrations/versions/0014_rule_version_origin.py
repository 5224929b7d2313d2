"""rule_versions: origin (file apply or admin edit), comment, and the version a rollback restores

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every version stored so far came from `touchline apply` (or the demo's apply of rules/).
    with op.batch_alter_table('rule_versions', schema=None) as batch_op:
        batch_op.add_column(sa.Column('origin', sa.String(length=10), server_default='file', nullable=False))
        batch_op.add_column(sa.Column('comment', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('restored_from', sa.Integer(), nullable=True))
        batch_op.create_check_constraint(op.f('ck_rule_versions_origin'), "origin IN ('file', 'admin')")


def downgrade() -> None:
    with op.batch_alter_table('rule_versions', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_rule_versions_origin'), type_='check')
        batch_op.drop_column('restored_from')
        batch_op.drop_column('comment')
        batch_op.drop_column('origin')
