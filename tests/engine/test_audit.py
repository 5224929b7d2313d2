"""The audit trail: append-only in the database itself, keyset-paged reads, diffs for display."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from engine import audit
from engine.audit import AuditFilter, entry_diff, list_entries, record
from engine.models import AuditEntry


def _add(session, n=1, **kw):
    base = dict(actor="user:ana@example.com", action="update", object_type="rule", object_id="r1")
    return [record(session, **{**base, **kw}) for _ in range(n)]


def test_record_adds_one_row_in_the_callers_transaction(db):
    with db.session() as s:
        entry = record(s, actor="cli:ops", action="create", object_type="segment", object_id="s1",
                       after={"name": "Stalled"}, summary="created segment s1")
        assert entry.id is not None
    with db.read_session() as s:
        got = s.scalar(select(AuditEntry))
        assert (got.actor, got.action, got.object_type, got.object_id) == ("cli:ops", "create", "segment", "s1")
        assert got.before is None and got.after == {"name": "Stalled"} and got.at.tzinfo is not None


def test_a_rolled_back_change_leaves_no_audit_row(db):
    with pytest.raises(RuntimeError):
        with db.session() as s:
            record(s, actor="cli:ops", action="create", object_type="rule", object_id="r1")
            raise RuntimeError("the change failed after the audit row was added")
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_secrets_are_never_stored_and_values_become_json(session):
    entry = record(session, actor="cli:ops", action="create", object_type="user", object_id="a@b.c",
                   after={"email": "a@b.c", "password_hash": "scrypt$...", "nested": {"token": "tl_x", "at": date(2026, 1, 2)}})
    assert entry.after == {"email": "a@b.c", "nested": {"at": "2026-01-02"}}


@pytest.mark.parametrize("kw, message", [
    ({"object_type": "cheese"}, "object type 'cheese'"),
    ({"actor": " "}, "needs an actor"),
    ({"action": ""}, "needs an action"),
])
def test_bad_entries_are_refused_with_the_reason(session, kw, message):
    with pytest.raises(ValueError, match=message):
        _add(session, **kw)


@pytest.mark.parametrize("statement", [
    "UPDATE audit_log SET actor = 'someone else'",
    "DELETE FROM audit_log",
    "DELETE FROM audit_log WHERE id = (SELECT max(id) FROM audit_log)",
])
def test_the_database_refuses_to_change_or_remove_an_entry(db, statement):
    with db.session() as s:
        _add(s, 2)
    with pytest.raises(DBAPIError, match="append-only"):
        with db.engine.begin() as conn:
            conn.execute(text(statement))
    with db.read_session() as s:
        assert s.scalars(select(AuditEntry.actor)).all() == ["user:ana@example.com"] * 2


def test_the_orm_cannot_change_an_entry_either(db):
    with db.session() as s:
        entry_id = _add(s)[0].id
    with pytest.raises(DBAPIError, match="append-only"):
        with db.session() as s:
            s.get(AuditEntry, entry_id).summary = "rewritten"
    with pytest.raises(DBAPIError, match="append-only"):
        with db.session() as s:
            s.delete(s.get(AuditEntry, entry_id))
    with db.read_session() as s:
        assert s.get(AuditEntry, entry_id).summary is None


def test_postgresql_refuses_truncate(db):
    if db.dialect != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's")
    with pytest.raises(DBAPIError, match="append-only"):
        with db.engine.begin() as conn:
            conn.execute(text("TRUNCATE audit_log"))


def test_the_engine_offers_no_update_or_delete_path():
    public = {name for name in dir(audit) if not name.startswith("_")}
    assert not {n for n in public if any(w in n.lower() for w in ("delete", "update", "remove", "purge", "edit"))}


def test_keyset_pages_walk_newest_first_without_gaps_or_repeats(db):
    t0 = datetime(2026, 12, 1, 9, tzinfo=timezone.utc)
    with db.session() as s:
        for i in range(7):
            # Two entries share each timestamp, so the id breaks ties.
            s.add(AuditEntry(at=t0 + timedelta(minutes=i // 2), actor="cli:ops", action="a", object_type="rule", object_id=str(i)))
    seen, cursor = [], None
    with db.read_session() as s:
        while True:
            page = list_entries(s, AuditFilter(), cursor, limit=3)
            seen += [e.object_id for e in page.entries]
            if page.next_cursor is None:
                break
            cursor = audit.parse_cursor(audit.format_cursor(page.next_cursor))
    assert seen == ["6", "5", "4", "3", "2", "1", "0"]


def test_filters_by_actor_object_and_dates(db):
    d1 = datetime(2026, 12, 1, 23, 30, tzinfo=timezone.utc)
    d2 = datetime(2026, 12, 2, 8, tzinfo=timezone.utc)
    with db.session() as s:
        s.add_all([
            AuditEntry(at=d1, actor="user:ana@example.com", action="save", object_type="rule", object_id="r1"),
            AuditEntry(at=d2, actor="cli:bob", action="revoke", object_type="api_key", object_id="abcd1234"),
            AuditEntry(at=d2, actor="user:anabel@example.com", action="save", object_type="rule", object_id="r2"),
        ])

    def ids(**kw):
        with db.read_session() as s:
            return sorted(e.object_id for e in list_entries(s, AuditFilter(**kw)).entries)

    assert ids(actor="user:ana@example.com") == ["r1"]  # whole actor: exact
    assert ids(actor="ana") == ["r1", "r2"]  # part of one: contains
    assert ids(actor="100%") == []  # LIKE wildcards are literal
    assert ids(object_type="api_key") == ["abcd1234"]
    assert ids(object_type="rule", object_id="r2") == ["r2"]
    assert ids(since=date(2026, 12, 2)) == ["abcd1234", "r2"]
    assert ids(until=date(2026, 12, 1)) == ["r1"]  # a date includes its whole day
    assert ids(since=d1, until=d2) == ["r1"]


@pytest.mark.parametrize("kw, message", [
    ({"object_type": "x"}, "object type 'x'"),
    ({"since": date(2026, 12, 3), "until": date(2026, 12, 1)}, "since must be before until"),
    ({"since": datetime(2026, 12, 3)}, "timezone-aware"),
])
def test_bad_filters_say_what_is_wrong(kw, message):
    with pytest.raises(ValueError, match=message):
        AuditFilter(**kw)


def test_bad_cursor_and_limit_are_refused(session):
    with pytest.raises(ValueError, match="not a page cursor"):
        audit.parse_cursor("yesterday")
    with pytest.raises(ValueError, match="limit"):
        list_entries(session, limit=0)


def test_diff_of_objects_is_field_by_field():
    entry = AuditEntry(before={"role": "viewer", "active": True, "limits": {"max": 1, "per": "30d"}},
                       after={"role": "editor", "active": True, "limits": {"max": 2, "per": "30d"}, "locale": "ja"})
    diff = entry_diff(entry)
    assert [(c.path, c.before, c.after, c.kind) for c in diff.fields] == [
        ("limits.max", 1, 2, "changed"), ("locale", None, "ja", "added"), ("role", "viewer", "editor", "changed")]
    assert not diff.created and diff


def test_diff_of_texts_is_unified():
    diff = entry_diff(AuditEntry(before="id: r1\nholdout: 10%\n", after="id: r1\nholdout: 20%\n"))
    assert "-holdout: 10%" in diff.lines and "+holdout: 20%" in diff.lines


def test_diff_of_a_creation_lists_every_field_added():
    diff = entry_diff(AuditEntry(before=None, after={"email": "a@b.c", "role": "admin"}))
    assert diff.created and [c.kind for c in diff.fields] == ["added", "added"]


def test_cli_actor_survives_a_missing_login_name(monkeypatch):
    import getpass

    def no_user():
        raise KeyError("getpwuid(): uid not found")

    monkeypatch.setattr(getpass, "getuser", no_user)
    assert audit.cli_actor().startswith("cli:uid-")
    assert audit.user_actor(" Ana@Example.com ") == "user:ana@example.com"
