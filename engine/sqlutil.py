"""Small SQL helpers that differ between SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

Tx = Session | Connection  # what writers take: the send path writes through a bare connection


def insert_for(session: Session, table):
    """``INSERT`` supporting ON CONFLICT for the session's dialect."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"Touchline supports SQLite and PostgreSQL, not {name}")


def chunks(items: list, size: int):
    """Slices of ``items`` small enough for SQLite's bound-parameter limit."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Prepared:
    """A Core statement compiled once per dialect and run straight on the DBAPI cursor of
    the connection's transaction.

    For the few statements a hot loop runs once per item (a send job records each
    message in its own transaction): SQLAlchemy's per-execution work (parameters,
    execution context, result set-up) costs several times what SQLite spends running
    such a statement. The SQL, the parameter order and the bind processors (UTC
    datetimes) are still SQLAlchemy's. Limits: no expanding (``IN``) parameters, and
    rows come back as the driver gives them, so RETURNING only columns that need no
    result processing (integers, strings).
    """

    def __init__(self, statement) -> None:
        self.statement = statement
        # (dialect class, paramstyle) -> (SQL, slots, positional): see _compile.
        self._plans: dict[tuple[type, str], tuple[str, list[tuple[str, str | None, Any, Any]], bool]] = {}

    def _plan(self, dialect):
        key = (type(dialect), dialect.paramstyle)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._compile(dialect)
        return plan

    def _compile(self, dialect):
        compiled = self.statement.compile(dialect=dialect)
        by_name = {name: bind for bind, name in compiled.bind_names.items()}  # as rendered in the SQL
        if any(bind.expanding for bind in by_name.values()):
            raise ValueError("Prepared takes no expanding (IN) parameters")
        positional = bool(compiled.positional)
        names = list(compiled.positiontup) if positional else sorted(by_name)
        # Each slot: (the name in the SQL; the caller's key, or None for a value fixed in the
        # statement; the fixed value, processed already; the bind processor of the caller's value).
        slots: list[tuple[str, str | None, Any, Any]] = []
        for name in names:
            bind = by_name[name]
            process = bind.type.dialect_impl(dialect).bind_processor(dialect)
            if bind.required:
                slots.append((name, bind.key, None, process))
            else:
                value = bind.effective_value
                slots.append((name, None, process(value) if process is not None and value is not None else value, None))
        return compiled.string, slots, positional

    def execute(self, tx: Tx, params: Mapping[str, Any]):
        """Run with ``params`` in ``tx``'s transaction; the DBAPI cursor (close it)."""
        conn = tx.connection() if isinstance(tx, Session) else tx
        sql, slots, positional = self._plan(conn.dialect)
        values = []
        for _name, key, fixed, process in slots:
            if key is None:
                values.append(fixed)
            else:
                value = params[key]
                values.append(process(value) if process is not None and value is not None else value)
        bound = values if positional else dict(zip((slot[0] for slot in slots), values))
        cursor = conn.connection.cursor()
        try:
            cursor.execute(sql, bound)
        except conn.dialect.loaded_dbapi.Error as exc:
            cursor.close()
            # As SQLAlchemy would raise it (an OperationalError for a busy database, say).
            raise DBAPIError.instance(sql, bound, exc, conn.dialect.loaded_dbapi.Error) from exc
        return cursor

    def rowcount(self, tx: Tx, params: Mapping[str, Any]) -> int:
        cursor = self.execute(tx, params)
        try:
            return cursor.rowcount
        finally:
            cursor.close()

    def rows(self, tx: Tx, params: Mapping[str, Any]) -> list[tuple]:
        cursor = self.execute(tx, params)
        try:
            return cursor.fetchall()
        finally:
            cursor.close()
