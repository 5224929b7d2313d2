"""deliveries: the record of each message, its status changes and the message exactly as sent

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
from alembic import op  # noqa: F401

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
