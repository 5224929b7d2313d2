"""audit_log: the append-only record of every change, who and when, before and after

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import engine.models.base

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

OBJECT_TYPES = ('rule', 'segment', 'template', 'user', 'api_key', 'suppression', 'setting', 'test_send')
AUDIT_JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), 'postgresql')

# The database refuses to change or remove an entry, whatever client asks.
SQLITE_TRIGGERS = {
    'audit_log_no_update': 'UPDATE',
    'audit_log_no_delete': 'DELETE',
}
PG_FUNCTION = """
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$
"""


def upgrade() -> None:
    op.create_table(
        'audit_log',
        sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
        sa.Column('at', engine.models.base.UTCDateTime(), nullable=False),
        sa.Column('actor', sa.String(length=400), nullable=False),
        sa.Column('action', sa.String(length=50), nullable=False),
        sa.Column('object_type', sa.String(length=20), nullable=False),
        sa.Column('object_id', sa.String(length=400), nullable=False),
        sa.Column('summary', sa.String(length=1000), nullable=True),
        sa.Column('before', AUDIT_JSON, nullable=True),
        sa.Column('after', AUDIT_JSON, nullable=True),
        sa.CheckConstraint(
            'object_type IN (' + ', '.join(f"'{t}'" for t in OBJECT_TYPES) + ')',
            name=op.f('ck_audit_log_object_type'),
        ),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_log')),
    )
    op.create_index('ix_audit_log_at_id', 'audit_log', ['at', 'id'])
    op.create_index('ix_audit_log_actor_at', 'audit_log', ['actor', 'at'])
    op.create_index('ix_audit_log_object', 'audit_log', ['object_type', 'object_id', 'at'])
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(PG_FUNCTION)
        op.execute(
            'CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log '
            'FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()'
        )
        op.execute(
            'CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log '
            'FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()'
        )
    else:
        for name, verb in SQLITE_TRIGGERS.items():
            op.execute(
                f'CREATE TRIGGER {name} BEFORE {verb} ON audit_log '
                f"BEGIN SELECT RAISE(ABORT, 'audit_log is append-only: {verb} refused'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute('DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log')
        op.execute('DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log')
        op.execute('DROP FUNCTION IF EXISTS audit_log_append_only()')
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f'DROP TRIGGER IF EXISTS {name}')
    op.drop_index('ix_audit_log_object', table_name='audit_log')
    op.drop_index('ix_audit_log_actor_at', table_name='audit_log')
    op.drop_index('ix_audit_log_at_id', table_name='audit_log')
    op.drop_table('audit_log')
