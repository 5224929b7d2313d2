"""deliveries.variant: the A/B variant of its rule's tested action the account got

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 18:20:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN: a batch rebuild of deliveries would drop its status-history triggers (0016).
    op.add_column('deliveries', sa.Column('variant', sa.String(length=40), nullable=True))


def downgrade() -> None:
    # ALTER TABLE .. DROP COLUMN (SQLite 3.35+), not a batch rebuild, for the same reason.
    op.drop_column('deliveries', 'variant')
