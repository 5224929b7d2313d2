"""The migrations are the schema: they must build exactly what the models say."""

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from engine import migrate
from engine.db import Database
from engine.models import Base


# SQLite cannot reflect expression indexes (the account search's lower(...) ones,
# migration 0017); Alembic then leaves them out of the comparison, PostgreSQL compares them.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index:sqlalchemy.exc.SAWarning")
def test_migrations_match_the_models(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_upgrade_downgrade_round_trip(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'rt.db'}")
    assert migrate.current_revision(db) is None and not migrate.is_up_to_date(db)
    migrate.upgrade(db)
    assert migrate.is_up_to_date(db)
    migrate.downgrade(db, "base")
    assert migrate.current_revision(db) is None
    migrate.upgrade(db)
    assert migrate.is_up_to_date(db)
    db.dispose()


def test_sqlite_runs_in_wal_with_a_busy_timeout(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'wal.db'}")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    db.dispose()


def test_concurrent_sqlite_writers_queue_instead_of_failing(tmp_path):
    """BEGIN IMMEDIATE + busy_timeout: parallel ingest never hits 'database is locked'."""
    from concurrent.futures import ThreadPoolExecutor

    from engine.ingest import track_events

    db = Database(f"sqlite:///{tmp_path / 'c.db'}")
    migrate.upgrade(db)
    def writer(n: int) -> None:
        for batch in range(10):
            with db.session() as s:
                track_events(
                    s,
                    [
                        {"id": f"{n}-{batch}-{i}", "account_id": "acme", "name": "login", "timestamp": "2026-11-20"}
                        for i in range(50)
                    ],
                )

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(writer, range(4)))  # re-raises the first writer's error
    from sqlalchemy import text

    with db.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM events")).scalar() == 2000
        assert conn.execute(text("SELECT sum(count) FROM daily_usage")).scalar() == 2000
    db.dispose()
