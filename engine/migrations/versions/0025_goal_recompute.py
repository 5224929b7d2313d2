"""outcome_goals.goal_version_id, recomputed_at: a rule's firings measured again with a later goal

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-03 21:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.models.base

revision = '0025'
down_revision = '0024'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A small table without triggers: a batch copy on SQLite is safe.
    with op.batch_alter_table('outcome_goals', schema=None) as batch_op:
        batch_op.add_column(sa.Column('goal_version_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('recomputed_at', engine.models.base.UTCDateTime(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_outcome_goals_goal_version_id_rule_versions'), 'rule_versions',
                                    ['goal_version_id'], ['id'], ondelete='SET NULL')


def downgrade() -> None:
    with op.batch_alter_table('outcome_goals', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_outcome_goals_goal_version_id_rule_versions'), type_='foreignkey')
        batch_op.drop_column('recomputed_at')
        batch_op.drop_column('goal_version_id')
