"""A rule the circuit breaker pauses is alerted to its owner and the admins, by email and webhook."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from email import message_from_bytes, policy

from engine.auth import create_user
from engine.db import Database
from engine.ingest import upsert_accounts, upsert_contacts
from engine.jobs.tick import evaluate_rules
from engine.models import Delivery, RuleState, RuleVersion
from engine.rules.validate import validate_text
from engine.settings import load_settings

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
RULE = """\
id: runaway
name: A condition that is too broad
owner: cs-lead@vendor.test
category: newsletter
max_messages_per_cycle: 2
when:
  account.plan: trial
actions:
  - email: {template: onboarding/stalled, to: role:admin}
"""


def runaway(db: Database) -> None:
    """Three trial accounts with an admin each, and a rule allowed two messages a cycle."""
    with db.session() as s:
        upsert_accounts(s, [{"id": f"a{i}", "name": f"A{i}", "plan": "trial"} for i in range(3)])
        upsert_contacts(s, [{"id": f"c{i}", "account_id": f"a{i}", "email": f"c{i}@customer.test", "role": "admin"}
                            for i in range(3)])  # fmt: skip
        create_user(s, "admin@vendor.test", "correct horse battery staple", role="admin")
        create_user(s, "viewer@vendor.test", "correct horse battery staple", role="viewer")
        rule = validate_text(RULE, "runaway.yaml", expected_id="runaway").rule
        version = RuleVersion(rule_id=rule.id, version=1, content=RULE, content_hash="0" * 64, author="test")
        s.add(version)
        s.flush()
        s.add(RuleState(rule_id=rule.id, active_version_id=version.id))


def test_a_tripped_rule_is_mailed_to_its_owner_and_the_admins_and_nothing_reaches_customers(db: Database, smtp_server) -> None:
    runaway(db)
    settings = dataclasses.replace(load_settings(), smtp_url=f"smtp://127.0.0.1:{smtp_server.port}", webhook_url=None)
    summary = evaluate_rules(db, NOW, settings)
    assert summary["tripped"] == 1
    assert summary["alerted"] == {"runaway": {"sent": ["email to cs-lead@vendor.test", "email to admin@vendor.test"],
                                              "failed": []}}  # fmt: skip
    got = smtp_server.handler.messages
    assert [m["to"] for m in got] == [["cs-lead@vendor.test"], ["admin@vendor.test"]]
    mail = message_from_bytes(got[0]["data"], policy=policy.default)
    assert mail["Subject"] == "Touchline paused rule runaway: circuit breaker"
    assert "List-Unsubscribe" not in mail  # operational
    body = mail.get_body(("plain",)).get_content()
    assert "more than 2 messages" in body and "touchline rules resume runaway" in body
    with db.read_session() as s:
        assert s.get(RuleState, "runaway").paused
        assert s.query(Delivery).count() == 0


def test_the_alert_also_goes_to_the_webhook_and_a_failing_channel_does_not_undo_the_pause(db: Database, webhook_receiver) -> None:
    runaway(db)
    receiver = webhook_receiver
    settings = dataclasses.replace(load_settings(), smtp_url="smtp://127.0.0.1:1", webhook_url=receiver.url,
                                   webhook_format="slack", smtp_timeout=2)  # fmt: skip
    summary = evaluate_rules(db, NOW, settings)
    alerted = summary["alerted"]["runaway"]
    assert alerted["sent"] == ["webhook"]
    assert [f.split(":")[0] for f in alerted["failed"]] == ["email to cs-lead@vendor.test", "email to admin@vendor.test"]
    (posted,) = receiver.requests
    assert "*Touchline paused rule runaway: circuit breaker*" in json.loads(posted["body"])["text"]
    with db.read_session() as s:
        assert s.get(RuleState, "runaway").paused


def test_with_no_channel_set_up_the_alert_says_so(db: Database) -> None:
    runaway(db)
    settings = dataclasses.replace(load_settings(), smtp_url=None, webhook_url=None)
    alerted = evaluate_rules(db, NOW, settings)["alerted"]["runaway"]
    assert alerted == {"sent": [], "failed": ["no channel set up for alerts (TOUCHLINE_SMTP_URL, TOUCHLINE_WEBHOOK_URL)"]}
