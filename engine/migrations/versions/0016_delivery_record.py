"""deliveries: the record of each message, its status changes and the message exactly as sent

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 15:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import engine.models.base

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

BigIntPK = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# Every status change is recorded by the database in the statement that makes it: the
# pipeline's writers (Core, ORM and the send path's prepared statements alike) need no
# statement, and no round trip, of their own, and none can forget it. An UPDATE that
# changes nothing that matters (a lease renewed, a hold) records nothing; a change of
# reason (deferred again by another gate) or of job (queued again) does.
CHANGED = (
    "OLD.status IS NOT NEW.status OR OLD.reason IS NOT NEW.reason OR OLD.job_id IS NOT NEW.job_id"
)
SQLITE_TRIGGERS = {
    'delivery_events_on_insert': """
        CREATE TRIGGER delivery_events_on_insert AFTER INSERT ON deliveries
        BEGIN
            INSERT INTO delivery_events (delivery_id, at, status, reason, attempts, job_id, detail)
            VALUES (NEW.id, NEW.created_at, NEW.status, NEW.reason, NEW.attempts, NEW.job_id, NEW.provider_response);
        END""",
    'delivery_events_on_update': f"""
        CREATE TRIGGER delivery_events_on_update AFTER UPDATE ON deliveries
        WHEN {CHANGED}
        BEGIN
            INSERT INTO delivery_events (delivery_id, at, status, reason, attempts, job_id, detail)
            VALUES (NEW.id, NEW.updated_at, NEW.status, NEW.reason, NEW.attempts, NEW.job_id,
                    CASE WHEN NEW.provider_response IS NOT OLD.provider_response THEN NEW.provider_response END);
        END""",
}
PG_FUNCTION = """
CREATE FUNCTION delivery_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO delivery_events (delivery_id, at, status, reason, attempts, job_id, detail)
    VALUES (NEW.id,
            CASE WHEN TG_OP = 'INSERT' THEN NEW.created_at ELSE NEW.updated_at END,
            NEW.status, NEW.reason, NEW.attempts, NEW.job_id,
            CASE WHEN TG_OP = 'INSERT' OR NEW.provider_response IS DISTINCT FROM OLD.provider_response
                 THEN NEW.provider_response END);
    RETURN NULL;
END
$$
"""
PG_TRIGGERS = {
    'delivery_events_on_insert': 'CREATE TRIGGER delivery_events_on_insert AFTER INSERT ON deliveries '
                                 'FOR EACH ROW EXECUTE FUNCTION delivery_event()',
    'delivery_events_on_update': 'CREATE TRIGGER delivery_events_on_update AFTER UPDATE ON deliveries FOR EACH ROW '
                                 'WHEN (' + CHANGED.replace('IS NOT', 'IS DISTINCT FROM') + ') '
                                 'EXECUTE FUNCTION delivery_event()',
}


def upgrade() -> None:
    op.create_table(
        'delivery_events',
        sa.Column('id', BigIntPK, nullable=False),
        sa.Column('delivery_id', BigIntPK, nullable=False),
        sa.Column('at', engine.models.base.UTCDateTime(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('job_id', sa.String(length=100), nullable=True),
        sa.Column('detail', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_delivery_events_delivery_id_deliveries'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_events')),
    )
    op.create_index('ix_delivery_events_delivery_id', 'delivery_events', ['delivery_id', 'id'])
    op.create_table(
        'delivery_messages',
        sa.Column('delivery_id', BigIntPK, nullable=False),
        sa.Column('attempt', sa.Integer(), autoincrement=False, nullable=False),
        sa.Column('at', engine.models.base.UTCDateTime(), nullable=False),
        sa.Column('channel', sa.String(length=16), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(['delivery_id'], ['deliveries.id'], name=op.f('fk_delivery_messages_delivery_id_deliveries'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('delivery_id', 'attempt', name=op.f('pk_delivery_messages')),
    )
    # Deliveries written before this revision: their history starts with the status they have now.
    op.execute(
        'INSERT INTO delivery_events (delivery_id, at, status, reason, attempts, job_id, detail) '
        'SELECT id, updated_at, status, reason, attempts, job_id, provider_response FROM deliveries ORDER BY id'
    )
    if op.get_bind().dialect.name == 'postgresql':
        op.execute(PG_FUNCTION)
        for ddl in PG_TRIGGERS.values():
            op.execute(ddl)
    else:
        for ddl in SQLITE_TRIGGERS.values():
            op.execute(ddl)


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        for name in PG_TRIGGERS:
            op.execute(f'DROP TRIGGER IF EXISTS {name} ON deliveries')
        op.execute('DROP FUNCTION IF EXISTS delivery_event()')
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f'DROP TRIGGER IF EXISTS {name}')
    op.drop_table('delivery_messages')
    op.drop_index('ix_delivery_events_delivery_id', table_name='delivery_events')
    op.drop_table('delivery_events')
