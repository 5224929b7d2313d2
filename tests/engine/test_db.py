"""SQLite writers: BEGIN IMMEDIATE waits for the write lock, first in short steps, then SQLite's way."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from sqlalchemy import text

from engine.db import LOCK_SPIN, SQLITE_BUSY_TIMEOUT_MS, Database, spin_for_write_lock


def test_a_writer_waits_out_a_lock_held_longer_than_the_short_steps_and_keeps_its_busy_timeout(tmp_path):
    path = tmp_path / "lock.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("CREATE TABLE t (x)")
    holder.execute("BEGIN IMMEDIATE")

    def release_later():
        # Held well past the short steps, so the wait ends in SQLite's own busy handler.
        time.sleep(sum(LOCK_SPIN) * 10)
        holder.execute("INSERT INTO t VALUES (1)")
        holder.execute("COMMIT")

    db = Database(f"sqlite:///{path}")
    threading.Thread(target=release_later, daemon=True).start()
    with db.session() as s:  # blocks until the holder commits
        s.execute(text("INSERT INTO t VALUES (2)"))
        assert s.execute(text("PRAGMA busy_timeout")).scalar() == SQLITE_BUSY_TIMEOUT_MS
    with db.read_session() as s:
        assert sorted(s.execute(text("SELECT x FROM t")).scalars()) == [1, 2]
    db.dispose()
    holder.close()


def test_an_error_other_than_a_busy_lock_ends_the_short_steps_at_once(tmp_path):
    conn = sqlite3.connect(tmp_path / "x.db", isolation_level=None)
    conn.execute("BEGIN")  # a transaction already open: BEGIN IMMEDIATE is an error, not a wait
    assert spin_for_write_lock(conn) is False
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == SQLITE_BUSY_TIMEOUT_MS
    conn.close()


def test_a_lock_held_past_the_busy_timeout_raises_sqlalchemys_error_for_callers_to_retry(tmp_path, monkeypatch):
    """Callers (the send job recording an outcome, the importer) retry on SQLAlchemy's
    OperationalError: the error of a lock never released must be that one."""
    import engine.db
    from sqlalchemy.exc import OperationalError

    monkeypatch.setattr(engine.db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    path = tmp_path / "held.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("PRAGMA journal_mode=WAL")
    holder.execute("BEGIN IMMEDIATE")
    db = Database(f"sqlite:///{path}")
    try:
        for opener in (db.session, db.transaction):
            with pytest.raises(OperationalError, match="locked"):
                with opener() as tx:
                    tx.execute(text("SELECT 1"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        db.dispose()
