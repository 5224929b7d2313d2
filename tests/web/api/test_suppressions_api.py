"""POST /api/v1/suppressions: complaints and provider bounces onto the suppression list."""

from __future__ import annotations

import dataclasses

from sqlalchemy import select

from engine.compliance import suppressions_of
from engine.delivery.batch import send_claimed
from engine.delivery.dispatch import dispatch
from engine.delivery.gates import standard_gates
from engine.ingest import upsert_accounts, upsert_contacts
from engine.models import Delivery, Suppression, utcnow
from engine.rules.cycle import run_cycle
from engine.rules.validate import validate_text
from engine.rules.versions import active_rules, apply_rules
from engine.settings import load_settings

URL = "/api/v1/suppressions"


def stored(db) -> set[tuple[str, str, str, str]]:
    # A fresh session: proves the batch was committed before the response.
    with db.read_session() as s:
        return {(r.address, r.category, r.reason, r.source) for r in s.scalars(select(Suppression))}


def test_valid_records_are_stored(client, auth, db):
    response = client.post(URL, headers=auth, json={"suppressions": [
        {"address": "Ann@Example.com", "reason": "complained", "source": "fbl yahoo"},
        {"address": "bob@example.com", "reason": "bounced"},
        {"address": "cat@example.com", "reason": "unsubscribed", "category": "newsletter"},
    ]})  # fmt: skip
    assert (response.status_code, response.json) == (200, {"accepted": 3, "rejected": []})
    assert stored(db) == {
        ("ann@example.com", "*", "complained", "fbl yahoo"),
        ("bob@example.com", "*", "bounced", "api"),
        ("cat@example.com", "newsletter", "unsubscribed", "api"),
    }
    again = client.post(URL, headers=auth, json={"suppressions": [{"address": "ann@example.com", "reason": "complained"}]})
    assert (again.status_code, again.json) == (200, {"accepted": 1, "rejected": []})
    assert len(stored(db)) == 3


def test_a_weaker_reason_never_replaces_a_stronger_one(client, auth, db):
    batch = [{"address": "ann@example.com", "reason": "complained", "source": "fbl"},
             {"address": "ann@example.com", "reason": "bounced", "source": "esp"},
             {"address": "ann@example.com", "reason": "unsubscribed", "source": "esp"}]  # fmt: skip
    assert client.post(URL, headers=auth, json={"suppressions": batch}).status_code == 200
    assert stored(db) == {("ann@example.com", "*", "complained", "fbl")}


def test_bad_records_are_207_and_the_good_ones_are_stored(client, auth, db):
    batch = [
        {"address": "ann@example.com", "reason": "complained"},
        {"address": "not an address", "reason": "bounced"},
        {"address": "bob@example.com", "reason": "spam"},
        {"address": "cat@example.com", "reason": "unsubscribed", "category": "operational"},
        "not an object",
        {"reason": "bounced", "colour": "red"},
        {"address": "dan@example.com", "reason": "bounced", "category": "News Letter"},
        {"address": "eve@example.com", "reason": "bounced", "category": "operational"},
    ]
    response = client.post(URL, headers=auth, json={"suppressions": batch})
    assert response.status_code == 207
    assert response.json["accepted"] == 2
    rejected = [(r["index"], r["field"]) for r in response.json["rejected"]]
    assert rejected == [(1, "address"), (2, "reason"), (3, "category"), (4, None), (5, "colour"), (5, "address"),
                        (6, "category")]  # fmt: skip
    reasons = {r["index"]: r["reason"] for r in response.json["rejected"]}
    assert "not an email address" in reasons[1] and "cannot be unsubscribed from" in reasons[3]
    assert stored(db) == {("ann@example.com", "*", "complained", "api"), ("eve@example.com", "operational", "bounced", "api")}


def test_all_rejected_is_422_and_nothing_is_stored(client, auth, db):
    response = client.post(URL, headers=auth, json={"suppressions": [{"address": "x", "reason": "bounced"}, {}]})
    assert response.status_code == 422
    assert response.json["accepted"] == 0
    assert {(r["index"], r["field"]) for r in response.json["rejected"]} == {(0, "address"), (1, "address"), (1, "reason")}
    assert stored(db) == set()


def test_an_api_key_is_required(client, db):
    body = {"suppressions": [{"address": "ann@example.com", "reason": "complained"}]}
    missing = client.post(URL, json=body)
    assert missing.status_code == 401 and missing.json["error"]["code"] == "missing_api_key"
    wrong = client.post(URL, json=body, headers={"Authorization": "Bearer tl_x_wrong"})
    assert wrong.status_code == 401 and wrong.json["error"]["code"] == "invalid_api_key"
    assert stored(db) == set()


def test_body_and_batch_limits_are_the_ingest_ones(make_app, auth, db):
    client = make_app(max_batch=2).test_client()
    record = {"address": "ann@example.com", "reason": "bounced"}
    too_many = client.post(URL, headers=auth, json={"suppressions": [record] * 3})
    assert too_many.status_code == 413 and too_many.json["error"]["code"] == "batch_too_large"
    unknown = client.post(URL, headers=auth, json={"suppressions": [record], "events": []})
    assert unknown.status_code == 400 and unknown.json["error"]["code"] == "unknown_fields"
    assert stored(db) == set()


RULE = """\
id: stalled
name: Stalled onboarding
category: onboarding
when:
  account.plan: trial
actions:
  - email: {template: onboarding/stalled, to: role:admin}
"""


def test_a_complaint_through_the_api_stops_a_queued_delivery_at_send_time(client, auth, db, smtp_server):
    rule = validate_text(RULE, "stalled.yaml", expected_id="stalled").rule
    with db.session() as s:
        apply_rules(s, [(rule, RULE)], author="test")
        upsert_accounts(s, [{"id": "acme", "name": "Acme", "plan": "trial"}])
        upsert_contacts(s, [{"id": "ann", "account_id": "acme", "email": "ann@acme.test", "role": "admin"}])
    with db.read_session() as s:
        rules = active_rules(s)
    run_cycle(db, rules, utcnow(), only_due=False)
    settings = dataclasses.replace(load_settings(), smtp_url=f"smtp://127.0.0.1:{smtp_server.port}")
    jobs: list = []
    assert dispatch(db, utcnow(), lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings)).queued == 1

    # The complaint arrives after the delivery passed the dispatcher's gates, before its job runs.
    response = client.post(URL, headers=auth, json={"suppressions": [{"address": "ANN@acme.test", "reason": "complained"}]})
    assert response.status_code == 200
    for job_id, ids in jobs:
        send_claimed(db, settings, job_id, ids)
    with db.read_session() as s:
        delivery = s.scalars(select(Delivery)).one()
        assert [r.reason for r in suppressions_of(s, "ann@acme.test")] == ["complained"]
    assert delivery.status == "suppressed" and "complained" in delivery.reason
    assert smtp_server.handler.messages == []
