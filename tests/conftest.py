"""Shared fixtures. Real parts only: a real Redis server, a real SMTP server on
loopback, SQLite files (or PostgreSQL when TOUCHLINE_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from engine import migrate
from engine.db import Database
from engine.embedded.redis_server import RedisServer
from engine.models import Base

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _isolated_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep every test away from the developer's ./instance folder and settings."""
    instance = tmp_path_factory.mktemp("instance")
    saved = {k: v for k, v in os.environ.items() if k.startswith("TOUCHLINE_")}
    for key in saved:
        del os.environ[key]
    os.environ["TOUCHLINE_INSTANCE_DIR"] = str(instance)
    os.environ["TOUCHLINE_ENV"] = "test"
    if "TOUCHLINE_TEST_DATABASE_URL" in saved:
        os.environ["TOUCHLINE_TEST_DATABASE_URL"] = saved["TOUCHLINE_TEST_DATABASE_URL"]
    yield instance
    for key in [k for k in os.environ if k.startswith("TOUCHLINE_")]:
        del os.environ[key]
    os.environ.update(saved)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """PostgreSQL when TOUCHLINE_TEST_DATABASE_URL is set, else a SQLite file."""
    url = os.environ.get("TOUCHLINE_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'touchline.db'}"


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    if db.dialect == "postgresql":
        # Start from nothing so the migrations themselves are tested.
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    migrate.upgrade(db)
    yield db
    db.dispose()


@pytest.fixture
def db(migrated_database: Database) -> Iterator[Database]:
    """A migrated database, emptied before each test."""
    with migrated_database.engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())
    os.environ["TOUCHLINE_DATABASE_URL"] = migrated_database.url
    yield migrated_database
    os.environ.pop("TOUCHLINE_DATABASE_URL", None)


@pytest.fixture
def session(db: Database):
    """A session in a transaction that commits when the test body leaves it."""
    with db.session() as s:
        yield s


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """URL of the real Redis server, flushed before each test."""
    redis.Redis.from_url(redis_server.url).flushall()
    os.environ["TOUCHLINE_REDIS_URL"] = redis_server.url
    yield redis_server.url
    os.environ.pop("TOUCHLINE_REDIS_URL", None)


class CapturingHandler:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(
            {"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "data": envelope.content}
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on loopback; ``.handler.messages`` holds what it received."""
    from aiosmtpd.controller import Controller

    from engine.embedded.process import free_port

    handler = CapturingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def alias_bomb() -> str:
    """342 bytes of YAML that a naive loader expands to 9**9 (387 million) strings."""
    return (
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
        "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
        "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
    )


@pytest.fixture
def keep_signal_handlers() -> Iterator[None]:
    """RQ's worker installs SIGINT/SIGTERM handlers in this process; put ours back."""
    import signal

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)
