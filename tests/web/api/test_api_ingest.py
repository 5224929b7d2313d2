"""Batch ingest over HTTP: what is stored, what is reported, with which status."""

import json

from sqlalchemy import func, select

from engine.models import Account, Contact, DailyUsage, Event

T = "2026-11-20T10:00:00Z"


def count(db, model) -> int:
    # A fresh session: proves the batch was committed before the response.
    with db.read_session() as session:
        return session.scalar(select(func.count()).select_from(model))


def test_accounts_contacts_and_events_are_stored(client, auth, db):
    accounts = client.post(
        "/api/v1/accounts", headers=auth, json={"accounts": [{"id": "acme", "name": "Acme", "tier": "tech"}]}
    )
    assert (accounts.status_code, accounts.json) == (200, {"accepted": 1, "duplicates": 0, "rejected": []})
    contacts = client.post(
        "/api/v1/contacts",
        headers=auth,
        json={"contacts": [{"id": "u1", "account_id": "acme", "email": "u1@acme.test", "role": "admin"}]},
    )
    assert contacts.status_code == 200 and contacts.json["accepted"] == 1
    events = client.post(
        "/api/v1/events",
        headers=auth,
        json={"events": [{"id": f"e{i}", "account_id": "acme", "contact_id": "u1", "name": "report_run", "timestamp": T} for i in range(3)]},
    )
    assert (events.status_code, events.json) == (200, {"accepted": 3, "duplicates": 0, "rejected": []})
    assert (count(db, Account), count(db, Contact), count(db, Event)) == (1, 1, 3)
    with db.read_session() as session:
        assert session.scalar(select(DailyUsage.count)) == 3


def test_partial_batch_is_207_and_the_valid_records_are_stored(client, auth, db):
    batch = [
        {"id": "ok1", "account_id": "acme", "name": "login", "timestamp": T},
        {"id": "bad-name", "account_id": "acme", "name": "has spaces"},
        {"id": "ok2", "account_id": "acme", "event": "login"},
        "not an object",
        {"id": "bad-field", "account_id": "acme", "name": "login", "colour": "red"},
    ]
    response = client.post("/api/v1/events", headers=auth, json={"events": batch})
    assert response.status_code == 207
    body = response.json
    assert (body["accepted"], body["duplicates"]) == (2, 0)
    rejected = {(r["index"], r["field"], r["id"]) for r in body["rejected"]}
    assert rejected == {(1, "name", "bad-name"), (3, None, None), (4, "colour", "bad-field")}
    assert all(r["reason"] for r in body["rejected"])
    with db.read_session() as session:
        assert set(session.scalars(select(Event.external_id))) == {"ok1", "ok2"}


def test_all_rejected_is_422_and_nothing_is_stored(client, auth, db):
    response = client.post(
        "/api/v1/accounts", headers=auth, json={"accounts": [{"id": "a", "tier": "gold"}, {"name": "no id"}]}
    )
    assert response.status_code == 422
    assert response.json["accepted"] == 0
    assert {(r["index"], r["field"]) for r in response.json["rejected"]} == {(0, "tier"), (1, "id")}
    assert count(db, Account) == 0


def test_resending_a_batch_is_a_no_op(client, auth, db):
    batch = {"events": [{"id": f"e{i}", "account_id": "acme", "name": "login", "timestamp": T} for i in range(4)]}
    first = client.post("/api/v1/events", headers=auth, json=batch)
    again = client.post("/api/v1/events", headers=auth, json=batch)
    assert first.json == {"accepted": 4, "duplicates": 0, "rejected": []}
    assert (again.status_code, again.json) == (200, {"accepted": 0, "duplicates": 4, "rejected": []})
    assert count(db, Event) == 4
    with db.read_session() as session:
        assert session.scalar(select(DailyUsage.count)) == 4  # the rollup did not double


def test_empty_batch_is_accepted_as_nothing(client, auth):
    response = client.post("/api/v1/contacts", headers=auth, json={"contacts": []})
    assert (response.status_code, response.json) == (200, {"accepted": 0, "duplicates": 0, "rejected": []})


def test_values_the_database_cannot_hold_are_rejected_per_record_not_500(client, auth, db):
    response = client.post(
        "/api/v1/accounts",
        headers=auth,
        json={
            "accounts": [
                {"id": "early", "signup_at": "0001-01-01T00:00:00+01:00"},
                {"id": "late", "renewal_at": "9999-12-31T23:00:00-05:00"},
                {"id": "locale", "locale": "en-abcdefgh-abcdefgh"},
                {"id": "fine", "locale": "ja"},
            ]
        },
    )
    assert response.status_code == 207, response.json
    assert {(r["index"], r["field"]) for r in response.json["rejected"]} == {
        (0, "signup_at"),
        (1, "renewal_at"),
        (2, "locale"),
    }
    assert count(db, Account) == 1


def test_text_no_database_can_store_is_rejected_per_record(client, auth, db):
    body = (
        '{"events": ['
        '{"id": "nul", "account_id": "a", "name": "n", "properties": {"note": "a\\u0000b"}},'
        '{"id": "lone", "account_id": "a", "name": "n", "properties": {"\\udc00": 1}},'
        '{"id": "pair", "account_id": "a", "name": "n", "properties": {"emoji": "\\ud83d\\ude00"}},'
        '{"id": "id\\u0000", "account_id": "a", "name": "n"}'
        "]}"
    )
    response = client.post("/api/v1/events", headers=auth, data=body, content_type="application/json")
    assert response.status_code == 207, response.json
    rejected = response.json["rejected"]
    assert [(r["index"], r["field"], r["id"]) for r in rejected] == [
        (0, "properties", "nul"),
        (1, "properties", "lone"),
        (3, "id", "id\\u0000"),
    ]
    assert "NUL character" in rejected[0]["reason"] and "at properties.note" in rejected[0]["reason"]
    assert "unpaired UTF-16 surrogate" in rejected[1]["reason"]
    with db.read_session() as session:
        stored = session.scalars(select(Event.properties)).all()
    assert stored == [{"emoji": "\N{GRINNING FACE}"}]


def test_new_events_schedule_one_on_event_recheck(client, auth, db):
    from engine.jobs.queues import get_queue, redis_connection
    from engine.jobs.recheck import pending_key
    from engine.settings import load_settings

    batch = [{"id": f"r{i}", "account_id": a, "name": "export", "timestamp": T} for i, a in enumerate(["acme", "beta"])]
    assert client.post("/api/v1/events", headers=auth, json={"events": batch}).status_code == 200
    again = client.post("/api/v1/events", headers=auth, json={"events": batch})  # duplicates only: nothing new
    assert again.json["duplicates"] == 2
    with db.read_session() as session:
        ids = {str(i).encode() for i in session.scalars(select(Account.id))}
    assert redis_connection().smembers(pending_key(load_settings())) == ids
    assert get_queue().count == 1


def test_events_are_stored_when_redis_is_down(make_app, auth, db):
    from engine.embedded.process import free_port

    client = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0").test_client()
    response = client.post("/api/v1/events", headers=auth, json={"events": [{"account_id": "acme", "name": "x", "timestamp": T}]})
    assert response.status_code == 200 and count(db, Event) == 1


def test_traits_nested_too_deeply_reject_their_record_only(client, auth, db):
    deep_text = '{"a": ' + "[" * 1_000 + "]" * 1_000 + "}"
    deep_object = json.loads("{\"a\": " + "[" * 40 + "]" * 40 + "}")  # 41 levels, read by the body parser
    body = {
        "accounts": [
            {"id": "text", "traits": deep_text},
            {"id": "fine", "traits": {"seats": 5}},
            {"id": "object", "traits": deep_object},
        ]
    }
    response = client.post("/api/v1/accounts", headers=auth, json=body)
    assert response.status_code == 207, response.get_data(as_text=True)
    rejected = response.json["rejected"]
    assert [(r["index"], r["field"], r["id"]) for r in rejected] == [(0, "traits", "text"), (2, "traits", "object")]
    assert all("nested deeper than 32 levels" in r["reason"] for r in rejected)
    with db.read_session() as session:
        assert session.execute(select(Account.external_id, Account.traits)).all() == [("fine", {"seats": 5})]

    events = [{"account_id": "fine", "name": "n", "properties": deep_text}, {"account_id": "fine", "name": "n"}]
    response = client.post("/api/v1/events", headers=auth, json={"events": events})
    assert response.status_code == 207, response.get_data(as_text=True)
    assert count(db, Event) == 1
