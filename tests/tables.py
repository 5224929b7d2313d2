"""Emptying the test database, shared by the fixtures and the modules that seed once."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from engine.db import Database
from engine.models import Base


@contextmanager
def append_only_lifted(conn) -> Iterator[None]:
    """Let this transaction empty the append-only tables (audit_log), whose triggers refuse DELETE:
    PostgreSQL skips ordinary triggers in replica mode; SQLite's are dropped and put back."""
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SET LOCAL session_replication_role = replica")
        yield
        return
    triggers = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").all()
    for name, _sql in triggers:
        conn.exec_driver_sql(f'DROP TRIGGER "{name}"')
    yield
    for _name, sql in triggers:
        conn.exec_driver_sql(sql)


def empty_tables(db: Database) -> None:
    """Delete every row of every table, children first."""
    with db.engine.begin() as conn, append_only_lifted(conn):
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
