"""Database engine and sessions.

SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` for every transaction,
so that concurrent writers (web, workers, CLI) queue on the lock instead of
failing with "database is locked" half-way through a transaction.
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

SQLITE_BUSY_TIMEOUT_MS = 30_000
READ_ONLY_OPTION = "touchline_read_only"


def make_engine(url: str, **kwargs) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        kwargs.setdefault("connect_args", {})
        kwargs["connect_args"].setdefault("timeout", SQLITE_BUSY_TIMEOUT_MS / 1000)
        # pysqlite's own transaction handling is turned off so that we can
        # issue BEGIN IMMEDIATE ourselves.
        kwargs["connect_args"]["isolation_level"] = None
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine)
    else:
        if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(parsed, **kwargs)
    _dispose_after_fork(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # NORMAL is durable against a crash of the process in WAL mode, which is
        # what "an acknowledged event is never lost" needs; FULL adds an fsync
        # per commit for power loss.
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        # Writers take the write lock up front: a deferred transaction that
        # reads and then writes can fail with SQLITE_BUSY without waiting.
        # Read-only sessions opt out so they never queue behind writers.
        if conn.get_execution_options().get(READ_ONLY_OPTION):
            conn.exec_driver_sql("BEGIN")
        else:
            if not spin_for_write_lock(conn.connection.dbapi_connection):
                # Waited SQLite's way, up to the busy timeout; through SQLAlchemy, so that a
                # lock never released raises its OperationalError, which callers retry on.
                conn.exec_driver_sql("BEGIN IMMEDIATE")


# Waits for the write lock before SQLite's own busy handler takes over, in seconds.
LOCK_SPIN = (0.0001,) * 10 + (0.0002,) * 20 + (0.0005,) * 20  # about 15 ms in all


def spin_for_write_lock(dbapi_conn) -> bool:
    """BEGIN IMMEDIATE, retried in short steps while another writer holds the lock; False
    if it is still taken after LOCK_SPIN (or the attempt failed otherwise): then the caller
    begins SQLite's way, which waits up to the busy timeout (or raises the error).

    SQLite's busy handler sleeps 1 ms, then 2, 5, 10 ms...: two processes taking turns
    at short transactions (send jobs record every message in one of about 0.3 ms) found
    the lock taken one time in seven and slept a millisecond or more for a lock free
    again within a fraction of one."""
    dbapi_conn.execute("PRAGMA busy_timeout=0")
    try:
        for delay in LOCK_SPIN:
            try:
                dbapi_conn.execute("BEGIN IMMEDIATE")
                return True
            except sqlite3.OperationalError as exc:
                # Extended codes too (SQLITE_BUSY_RECOVERY, _SNAPSHOT...): the low byte is the primary one.
                if (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF != sqlite3.SQLITE_BUSY:
                    return False
            time.sleep(delay)
        return False
    finally:
        dbapi_conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def _dispose_after_fork(engine: Engine) -> None:
    """Forked children (RQ work-horses) must not reuse the parent's connections."""
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=lambda: engine.dispose(close=False))


class Database:
    """An engine plus its session factory; one per process and URL."""

    def __init__(self, url: str, **engine_kwargs) -> None:
        self.url = url
        self.engine = make_engine(url, **engine_kwargs)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        self.read_sessionmaker = sessionmaker(
            self.engine.execution_options(**{READ_ONLY_OPTION: True}), expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self.sessionmaker() as session:
            with session.begin():
                yield session

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection in one transaction, committed on success: for hot paths running a
        few Core statements, without an ORM session's cost (a send job records each message)."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read_session(self) -> Iterator[Session]:
        """A session for reads only; on SQLite it does not take the write lock."""
        # Closing the session rolls back whatever it started.
        with self.read_sessionmaker() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


_databases: dict[str, Database] = {}


def get_database(url: str | None = None) -> Database:
    """The process-wide Database for ``url`` (default: the configured one)."""
    if url is None:
        from engine.settings import load_settings

        url = load_settings().database_url
    db = _databases.get(url)
    if db is None:
        db = _databases[url] = Database(url)
    return db
