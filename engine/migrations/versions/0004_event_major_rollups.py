"""event-major usage rollups: key (event_name, account_id, day); on SQLite clustered, days as integers

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 17:00:00

Rule evaluation computes every metric of one event in one ordered range scan
(engine.rules.metrics). On SQLite the tables are rebuilt WITHOUT ROWID with
the new key and the day stored as days since 1970-01-01 (engine.models.base.DayNumber);
on PostgreSQL the primary key is re-created in the new column order. Rows are
copied, never dropped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# (table, old key, new key, extra columns after day)
TABLES = (
    ("daily_usage", ("account_id", "event_name", "day"), ("event_name", "account_id", "day"), ("count", "active_contacts")),
    ("daily_contact_activity", ("account_id", "event_name", "day", "contact_id"),
     ("event_name", "account_id", "day", "contact_id"), ("contact_id",)),
)  # fmt: skip
EPOCH_JULIAN = 2440587.5  # julianday('1970-01-01')


def _columns(table: str, day_type: sa.types.TypeEngine) -> list[sa.Column]:
    cols = [
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('event_name', sa.String(length=100), nullable=False),
        sa.Column('day', day_type, nullable=False),
    ]
    if table == "daily_usage":
        cols += [sa.Column('count', sa.Integer(), nullable=False), sa.Column('active_contacts', sa.Integer(), nullable=False)]
    else:
        cols.append(sa.Column('contact_id', sa.Integer(), nullable=False))
    return cols


def _constraints(table: str, key: tuple[str, ...]) -> list[sa.Constraint]:
    out: list[sa.Constraint] = [
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=f'fk_{table}_account_id_accounts', ondelete='CASCADE'),
        sa.PrimaryKeyConstraint(*key, name=f'pk_{table}'),
    ]
    if table == "daily_contact_activity":
        out.append(sa.ForeignKeyConstraint(['contact_id'], ['contacts.id'],
                                           name='fk_daily_contact_activity_contact_id_contacts', ondelete='CASCADE'))  # fmt: skip
    return out


def _rebuild_sqlite(table: str, key: tuple[str, ...], extra: tuple[str, ...], to_numbers: bool) -> None:
    new = f"{table}_rebuilt"
    day_type = sa.Integer() if to_numbers else sa.Date()
    op.create_table(new, *_columns(table, day_type), *_constraints(table, key), sqlite_with_rowid=not to_numbers)
    day = f"CAST(julianday(day) - {EPOCH_JULIAN} AS INTEGER)" if to_numbers else f"date(day + {EPOCH_JULIAN})"
    cols = ", ".join(extra)
    op.execute(f"INSERT INTO {new} (account_id, event_name, day, {cols}) "
               f"SELECT account_id, event_name, {day}, {cols} FROM {table}")  # fmt: skip
    op.drop_table(table)
    op.rename_table(new, table)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index('ix_daily_usage_name_day', table_name='daily_usage')
    for table, _old, new, extra in TABLES:
        if sqlite:
            _rebuild_sqlite(table, new, extra, to_numbers=True)
        else:
            op.drop_constraint(f'pk_{table}', table, type_='primary')
            op.create_primary_key(f'pk_{table}', table, list(new))


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table, old, _new, extra in TABLES:
        if sqlite:
            _rebuild_sqlite(table, old, extra, to_numbers=False)
        else:
            op.drop_constraint(f'pk_{table}', table, type_='primary')
            op.create_primary_key(f'pk_{table}', table, list(old))
    op.create_index('ix_daily_usage_name_day', 'daily_usage', ['event_name', 'day'], unique=False)
