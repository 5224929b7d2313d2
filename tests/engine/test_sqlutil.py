"""Prepared statements run on the driver's cursor must do exactly what SQLAlchemy does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, bindparam, exc, select, update

from engine.db import Database
from engine.models.base import UTCDateTime
from engine.sqlutil import Prepared

meta = MetaData()
T = Table(
    "prepared_probe",
    meta,
    Column("id", Integer, primary_key=True),
    Column("status", String(20), nullable=False),
    Column("at", UTCDateTime(), nullable=True),
    Column("n", Integer, nullable=False, default=0),
    Column("note", String(50), nullable=True),
)

SET = (
    update(T)
    .where(T.c.id == bindparam("row"), T.c.status == "queued")
    .values(status="sending", at=bindparam("when"), n=T.c.n + 1, note=None)
    .returning(T.c.id, T.c.n, T.c.status)
)
AT = datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


@pytest.fixture
def probe(db: Database) -> Iterator[Database]:
    meta.drop_all(db.engine)
    meta.create_all(db.engine)
    with db.transaction() as conn:
        conn.execute(T.insert(), [{"id": i, "status": "queued", "n": 0, "note": "x"} for i in (1, 2, 3)])
    yield db
    meta.drop_all(db.engine)


def rows(db: Database) -> list[tuple]:
    with db.transaction() as conn:
        return [tuple(r) for r in conn.execute(select(T).order_by(T.c.id))]


@pytest.mark.parametrize("at", [AT, AT + timedelta(microseconds=1), AT.astimezone(timezone(timedelta(hours=9))) + timedelta(seconds=1)])  # fmt: skip
def test_a_prepared_update_writes_what_sqlalchemy_writes(probe: Database, at: datetime) -> None:
    prepared = Prepared(SET)
    with probe.transaction() as conn:
        fast = prepared.rows(conn, {"row": 1, "when": at})
        slow = [tuple(r) for r in conn.execute(SET, {"row": 2, "when": at})]
    assert fast == [(1, 1, "sending")] and slow == [(2, 1, "sending")]
    stored = rows(probe)
    assert stored[0][1:] == stored[1][1:] == ("sending", at.astimezone(UTC), 1, None)
    # Stored in the same form too: SQL comparing the two columns finds them equal.
    with probe.transaction() as conn:
        same = conn.execute(select(T.c.id).where(T.c.at == bindparam("when", type_=UTCDateTime())), {"when": at}).all()
    assert sorted(i for (i,) in same) == [1, 2]


def test_a_row_the_condition_does_not_match_is_left_alone(probe: Database) -> None:
    prepared = Prepared(SET)
    with probe.transaction() as conn:
        assert prepared.rows(conn, {"row": 1, "when": AT}) == [(1, 1, "sending")]
        assert prepared.rows(conn, {"row": 1, "when": AT}) == []  # no longer queued
    count = Prepared(update(T).where(T.c.id == bindparam("row"), T.c.status == "queued").values(note=bindparam("text")))
    with probe.session() as session:  # a Session works as well as a Connection
        assert count.rowcount(session, {"row": 3, "text": "y"}) == 1
        assert count.rowcount(session, {"row": 1, "text": "y"}) == 0
    assert [r[4] for r in rows(probe)] == [None, "x", "y"]


def test_a_prepared_statement_rolls_back_with_its_transaction(probe: Database) -> None:
    prepared = Prepared(SET)
    with pytest.raises(RuntimeError), probe.transaction() as conn:
        prepared.rows(conn, {"row": 1, "when": AT})
        raise RuntimeError("after the update")
    assert rows(probe)[0][1] == "queued"


def test_driver_errors_are_raised_as_sqlalchemy_raises_them(probe: Database) -> None:
    clash = Prepared(update(T).where(T.c.id == bindparam("row")).values(status=None))  # NOT NULL
    with pytest.raises(exc.IntegrityError), probe.transaction() as conn:
        clash.rowcount(conn, {"row": 1})
    assert rows(probe)[0][1] == "queued"


def test_in_lists_are_refused(probe: Database) -> None:
    with pytest.raises(ValueError, match="no expanding"), probe.transaction() as conn:
        Prepared(update(T).where(T.c.status.in_(("a", "b"))).values(n=1)).rowcount(conn, {})
