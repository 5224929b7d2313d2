"""deliveries: indexes for the send log's filters and keyset pages

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
