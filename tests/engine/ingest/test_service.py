from datetime import datetime, timezone
from decimal import Decimal

from sqlalchemy import select

from engine.ingest import purge_expired_events, track_events, upsert_accounts, upsert_contacts
from engine.models import Account, AccountChange, Contact, DailyContactActivity, DailyUsage, Event

T = "2026-11-20T10:00:00Z"


def usage(session):
    return {
        (u.account_id, u.event_name, u.day.isoformat()): (u.count, u.active_contacts)
        for u in session.scalars(select(DailyUsage))
    }


def test_account_upsert_reports_each_bad_record_and_keeps_the_good(session):
    result = upsert_accounts(
        session,
        [
            {"id": "acme", "name": "Acme", "tier": "tech", "mrr": "100", "timezone": "Asia/Tokyo", "locale": "ja"},
            {"id": "bad", "tier": "gold", "nmae": "x"},
            "not an object",
            {"name": "no id"},
        ],
    )
    assert result.accepted == 1
    problems = {(e.index, e.field) for e in result.rejected}
    assert problems == {(1, "tier"), (1, "nmae"), (2, None), (3, "id")}
    assert "did you mean 'name'" in next(e.reason for e in result.rejected if e.field == "nmae")
    acme = session.scalar(select(Account).where(Account.external_id == "acme"))
    assert acme.arr == Decimal("1200.00") and acme.locale == "ja"
    assert session.scalar(select(Account).where(Account.external_id == "bad")) is None


def test_tracked_field_changes_are_recorded(session):
    upsert_accounts(session, [{"id": "a1", "owner": "jo", "tier": "low", "plan": "pro"}])
    upsert_accounts(session, [{"id": "a1", "owner": "kim", "tier": "low", "name": "A One"}], source="import")
    changes = session.scalars(select(AccountChange)).all()
    assert [(c.field, c.old_value, c.new_value, c.source) for c in changes] == [("owner", "jo", "kim", "import")]


def test_traits_merge_and_null_removes(session):
    upsert_accounts(session, [{"id": "a1", "traits": {"industry": "saas", "seats": 5}}])
    upsert_accounts(session, [{"id": "a1", "traits": {"seats": 9, "industry": None}}])
    assert session.scalar(select(Account.traits)) == {"seats": 9}


def test_events_roll_up_and_resending_is_a_no_op(session):
    upsert_contacts(session, [{"id": "u1", "account_id": "acme", "email": "u1@acme.test", "role": "admin"}])
    batch = [
        {"id": "e1", "account_id": "acme", "contact_id": "u1", "name": "report_run", "timestamp": T},
        {"id": "e2", "account_id": "acme", "contact_id": "u2", "name": "report_run", "timestamp": T},
        {"id": "e3", "account_id": "acme", "contact_id": "u1", "name": "report_run", "timestamp": T},
        {"id": "e3", "account_id": "acme", "contact_id": "u1", "name": "report_run", "timestamp": T},
    ]
    first = track_events(session, batch)
    assert (first.accepted, first.duplicates, first.rejected) == (3, 1, [])
    again = track_events(session, batch)
    assert (again.accepted, again.duplicates) == (0, 4)
    acme = session.scalar(select(Account.id).where(Account.external_id == "acme"))
    assert usage(session) == {(acme, "report_run", "2026-11-20"): (3, 2)}
    u2 = session.scalar(select(Contact).where(Contact.external_id == "u2"))
    assert u2.account_id == acme and u2.email is None
    assert u2.last_seen_at == datetime(2026, 11, 20, 10, tzinfo=timezone.utc)


def test_rollup_day_is_the_utc_day(session):
    track_events(session, [{"id": "x", "account_id": "a", "name": "login", "timestamp": "2026-11-21T08:00:00+09:00"}])
    assert [k[2] for k in usage(session)] == ["2026-11-20"]


def test_event_rejections_name_field_and_reason(session):
    upsert_contacts(session, [{"id": "u1", "account_id": "a1"}])
    result = track_events(
        session,
        [
            {"id": "ok", "account_id": "a1", "name": "login", "timestamp": T},
            {"id": "bad-name", "account_id": "a1", "name": "has space"},
            {"id": "future", "account_id": "a1", "name": "login", "timestamp": "2999-01-01T00:00:00Z"},
            {"id": "wrong-acct", "account_id": "a2", "contact_id": "u1", "name": "login", "timestamp": T},
            {"id": "bad-ts", "account_id": "a1", "name": "login", "timestamp": "yesterday"},
        ],
    )
    assert result.accepted == 1
    assert {(e.id, e.field) for e in result.rejected} == {
        ("bad-name", "name"),
        ("future", "timestamp"),
        ("wrong-acct", "contact_id"),
        ("bad-ts", "timestamp"),
    }
    assert session.scalar(select(Event.external_id)) == "ok"


def test_retention_purges_raw_events_but_keeps_rollups(db):
    old, recent = "2026-01-01T00:00:00Z", T
    events = [
        {"id": f"e{i}", "account_id": "a", "contact_id": "c", "name": "login", "timestamp": old if i % 3 else recent}
        for i in range(30)
    ]
    with db.session() as session:
        track_events(session, events, retention_days=10_000)
    # A chunk smaller than the table proves the ranges cover every id.
    removed = purge_expired_events(db, 30, now=datetime(2026, 11, 21, tzinfo=timezone.utc), chunk=7)
    assert removed == 20
    with db.session() as session:
        assert sorted(session.scalars(select(Event.external_id))) == sorted(f"e{i}" for i in range(0, 30, 3))
        assert len(usage(session)) == 2
        assert len(session.scalars(select(DailyContactActivity)).all()) == 1
    assert purge_expired_events(db, 30, now=datetime(2026, 11, 21, tzinfo=timezone.utc)) == 0


def test_last_seen_moves_forward_to_the_minute(session):
    def seen():
        return session.scalar(select(Contact.last_seen_at).where(Contact.external_id == "u"))

    def event(eid, ts):
        track_events(session, [{"id": eid, "account_id": "a", "contact_id": "u", "name": "login", "timestamp": ts}])

    event("1", "2026-11-20T10:00:00Z")
    event("2", "2026-11-20T09:00:00Z")  # older: never moves back
    assert seen() == datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
    event("3", "2026-11-20T10:00:30Z")  # within the minute: not rewritten
    assert seen() == datetime(2026, 11, 20, 10, tzinfo=timezone.utc)
    event("4", "2026-11-20T10:05:00Z")
    assert seen() == datetime(2026, 11, 20, 10, 5, tzinfo=timezone.utc)


def test_a_batch_acts_like_sequential_upserts(session):
    upsert_accounts(
        session,
        [
            {"id": "b", "traits": {"x": 1, "gone": None}},
            {"id": "b", "traits": {"y": 2}},
            {"id": "b", "owner": "kim"},
        ],
    )
    account = session.scalar(select(Account).where(Account.external_id == "b"))
    assert account.traits == {"x": 1, "y": 2} and account.owner == "kim"
    # A new account records no change history; later changes do.
    assert session.scalars(select(AccountChange)).all() == []


def test_a_derived_arr_that_does_not_fit_is_rejected_and_nothing_is_created(session):
    result = upsert_accounts(session, [{"id": "big", "mrr": 900_000_000_000}])
    assert [(e.field, e.id) for e in result.rejected] == [("mrr", "big")]
    assert session.scalar(select(Account)) is None


def test_concurrent_upserts_of_the_same_new_ids_neither_fail_nor_lose_updates(db):
    """Many writers, one new account and contact: no unique-constraint failure, every trait kept."""
    from concurrent.futures import ThreadPoolExecutor

    def writer(n: int) -> None:
        for _ in range(5):
            with db.session() as s:
                upsert_accounts(s, [{"id": "shared", "traits": {f"k{n}": n}}])
                upsert_contacts(s, [{"id": "c-shared", "account_id": "shared", "traits": {f"k{n}": n}}])

    with ThreadPoolExecutor(6) as pool:
        list(pool.map(writer, range(6)))  # re-raises the first writer's error
    with db.read_session() as s:
        assert s.scalar(select(Account.traits)) == {f"k{n}": n for n in range(6)}
        assert s.scalar(select(Contact.traits)) == {f"k{n}": n for n in range(6)}


def test_events_older_than_the_retention_are_refused(session):
    """Once purged, an old event's id is forgotten: accepting it again would count it twice."""
    now = datetime(2026, 11, 21, tzinfo=timezone.utc)
    result = track_events(
        session,
        [
            {"id": "old", "account_id": "a", "name": "login", "timestamp": "2026-05-01T00:00:00Z"},
            {"id": "ok", "account_id": "a", "name": "login", "timestamp": "2026-11-01T00:00:00Z"},
        ],
        now=now,
        retention_days=180,
    )
    assert result.accepted == 1
    assert [(e.id, e.field) for e in result.rejected] == [("old", "timestamp")]
    assert "older than the raw-event retention (180 days" in result.rejected[0].reason
