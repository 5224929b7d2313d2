"""The delivery record: a history row for every transition, and the message stored exactly as the
SMTP server (or webhook receiver, or the nudges table) received it."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from engine.db import Database
from engine.delivery import outbox
from engine.delivery.batch import send_claimed
from engine.delivery.detail import delivery_detail
from engine.delivery.dispatch import dispatch
from engine.delivery.gates import standard_gates
from engine.delivery.record import stored_messages
from engine.ingest import upsert_accounts, upsert_contacts
from engine.models import Delivery, DeliveryEvent, Nudge, RuleVersion
from engine.rules.cycle import run_cycle
from engine.rules.validate import validate_text
from engine.rules.versions import active_rules, apply_rules
from engine.settings import load_settings

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
RULE = """\
id: stalled
name: Stalled onboarding
category: onboarding
holdout: {holdout}
when:
  account.plan: trial
actions:
  - email: {{template: onboarding/stalled, to: role:admin}}
  - in_app: {{template: onboarding/checklist, to: role:admin, expires_in: 7d}}
"""


def write_pending(db: Database, holdout: int = 0, accounts: int = 2) -> dict[tuple[str, str], int]:
    """Trial accounts with an admin each, the rule applied and evaluated at NOW: (channel, address) -> delivery id."""
    text = RULE.format(holdout=f"{holdout}%")
    rule = validate_text(text, "stalled.yaml", expected_id="stalled").rule
    with db.session() as s:
        apply_rules(s, [(rule, text)], author="test")
        upsert_accounts(s, [{"id": f"acme{i}", "name": f"Acme {i}", "plan": "trial"} for i in range(accounts)])
        upsert_contacts(s, [{"id": f"ann{i}", "account_id": f"acme{i}", "email": f"ann{i}@acme.test", "name": f"Ann {i}",
                             "role": "admin"} for i in range(accounts)])  # fmt: skip
    with db.read_session() as s:
        rules = active_rules(s)
    run_cycle(db, rules, NOW, only_due=False)
    with db.read_session() as s:
        return {(c, r): i for i, c, r in s.execute(select(Delivery.id, Delivery.channel, Delivery.recipient))}


def history(db: Database, delivery_id: int) -> list[tuple[str, str | None]]:
    with db.read_session() as s:
        rows = s.execute(select(DeliveryEvent.status, DeliveryEvent.reason).where(DeliveryEvent.delivery_id == delivery_id)
                         .order_by(DeliveryEvent.id))  # fmt: skip
        return [tuple(r) for r in rows]


def settings_for(smtp_port: int, **overrides):
    return dataclasses.replace(load_settings(), smtp_url=f"smtp://127.0.0.1:{smtp_port}", **overrides)


def send_all(db, settings, now=None):
    jobs: list = []
    dispatch(db, now or datetime.now(UTC), lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
    for job_id, ids in jobs:
        send_claimed(db, settings, job_id, ids)


def test_a_sent_email_has_each_status_in_order_and_the_stored_message_is_the_bytes_the_server_received(db, smtp_server):
    ids = write_pending(db)
    settings = settings_for(smtp_server.port)
    send_all(db, settings)
    email_id = ids[("email", "ann0@acme.test")]
    assert [s for s, _r in history(db, email_id)] == ["pending", "queued", "sending", "sent"]
    with db.read_session() as s:
        sent = s.scalars(select(DeliveryEvent).where(DeliveryEvent.delivery_id == email_id, DeliveryEvent.status == "sent")).one()
        assert sent.detail.startswith("250 ") and sent.attempts == 1
        (stored,) = stored_messages(s, email_id)
    received = next(m["data"] for m in smtp_server.handler.messages if m["to"] == ["ann0@acme.test"])
    assert stored.content == received and stored.channel == "email" and stored.attempt == 1


def test_an_in_app_nudge_is_stored_as_the_nudge_row_holds_it(db, smtp_server):
    ids = write_pending(db, accounts=1)
    send_all(db, settings_for(smtp_server.port))
    nudge_delivery = ids[next(k for k in ids if k[0] == "in_app")]
    with db.read_session() as s:
        nudge = s.scalars(select(Nudge).where(Nudge.delivery_id == nudge_delivery)).one()
        (stored,) = stored_messages(s, nudge_delivery)
    doc = json.loads(stored.content)
    assert (doc["title"], doc["body_text"], doc["body_html"]) == (nudge.title, nudge.body_text, nudge.body_html)
    assert [s for s, _r in history(db, nudge_delivery)] == ["pending", "queued", "sending", "sent"]


def test_held_out_rows_start_their_history_held_out(db):
    write_pending(db, holdout=50, accounts=12)
    with db.read_session() as s:
        held = list(s.scalars(select(Delivery.id).where(Delivery.status == "held_out")))
    assert held  # 12 accounts at 50%: some are in the control group (a fixed draw by external id)
    for delivery_id in held:
        assert history(db, delivery_id) == [("held_out", "holdout: in the rule's 50% control group")]


def test_every_outbox_transition_is_recorded_with_its_reason_and_a_lease_renewal_is_not(db):
    ids = write_pending(db, accounts=1)
    d = ids[("email", "ann0@acme.test")]
    at = NOW
    with db.session() as s:
        outbox.defer(s, d, at, at + timedelta(hours=1), "send window: opens Mon 09:00 UTC")
        outbox.defer(s, d, at, at + timedelta(hours=1), "send window: opens Mon 09:00 UTC")  # the same again: nothing new
        outbox.mark_queued(s, [d], "job-1", at, ("deferred",))
        outbox.postpone(s, [d], "job-1", at, at, "not tried: the channel failed for another message")
        outbox.mark_queued(s, [d], "job-2", at, ("deferred",))
        outbox.mark_queued(s, [d], "job-3", at, ("queued",))  # the sweeper queued it again under a new job
        outbox.hold(s, [d], "job-3", at + timedelta(minutes=5))
        outbox.claim(s, [d], "job-3", at)
        outbox.renew(s, d, "job-3", at + timedelta(minutes=5))
        outbox.mark_transient(s, d, 1, at, "451 try later", job_id="job-3")
    with db.session() as s:
        outbox.mark_queued(s, [d], "job-4", at, ("deferred",))
        outbox.claim(s, [d], "job-4", at)
        outbox.mark_failed(s, d, at, "permanent error: 550 no", job_id="job-4")
    steps = history(db, d)
    assert [s for s, _r in steps] == ["pending", "deferred", "queued", "deferred", "queued", "queued", "sending",
                                      "deferred", "queued", "sending", "failed"]  # fmt: skip
    assert steps[1][1].startswith("send window:") and "451 try later" in steps[7][1] and steps[-1][1].endswith("550 no")


def test_a_worker_lost_mid_send_is_recorded_unknown_by_the_sweeper(db):
    ids = write_pending(db, accounts=1)
    d = ids[("email", "ann0@acme.test")]
    with db.session() as s:
        outbox.mark_queued(s, [d], "job-1", NOW, ("pending",))
        outbox.claim(s, [d], "job-1", NOW)
    with db.session() as s:
        outbox.sweep(s, NOW + timedelta(hours=1))
    assert [s for s, _r in history(db, d)] == ["pending", "queued", "sending", "unknown"]


def test_the_prepared_mark_sent_of_the_send_path_is_recorded(db):
    ids = write_pending(db, accounts=1)
    d = ids[("email", "ann0@acme.test")]
    with db.transaction() as tx:  # the bare connection the send job writes through
        outbox.mark_queued(tx, [d], "job-1", NOW, ("pending",))
        outbox.claim(tx, [d], "job-1", NOW)
        outbox.mark_sent(tx, d, NOW, "<m@x>", "250 accepted", job_id="job-1")
    with db.read_session() as s:
        last = s.scalars(select(DeliveryEvent).where(DeliveryEvent.delivery_id == d).order_by(DeliveryEvent.id.desc())).first()
    assert (last.status, last.detail, last.at) == ("sent", "250 accepted", NOW)


def test_a_suppressed_address_is_recorded_with_its_reason_and_the_detail_shows_the_verdict(db, smtp_server):
    from engine.compliance import suppress

    ids = write_pending(db, accounts=1)
    with db.session() as s:
        suppress(s, "ann0@acme.test", "complained", None, source="test")
    send_all(db, settings_for(smtp_server.port))
    d = ids[("email", "ann0@acme.test")]
    assert [s for s, _r in history(db, d)] == ["pending", "suppressed"]
    with db.read_session() as s:
        detail = delivery_detail(s, d)
    by_check = {v.check: v for v in detail.verdicts}
    assert by_check["suppression"].outcome == "stopped" and by_check["limit"].outcome == "not_reached"
    assert detail.message is None


def test_delivery_detail_reads_everything_the_page_shows(db, smtp_server):
    ids = write_pending(db, accounts=1)
    send_all(db, settings_for(smtp_server.port))
    d = ids[("email", "ann0@acme.test")]
    with db.read_session() as s:
        detail = delivery_detail(s, d)
        version = s.get(RuleVersion, detail.delivery.rule_version_id)
    assert (detail.account.external_id, detail.account.name) == ("acme0", "Acme 0")
    assert (detail.contact.name, detail.contact.address) == ("Ann 0", "ann0@acme.test")
    assert (detail.rule.rule_id, detail.rule.version, detail.rule.name) == ("stalled", version.version, "Stalled onboarding")
    assert [c.status for c in detail.history] == ["pending", "queued", "sending", "sent"]
    assert detail.explanation.lines[0].condition and detail.explanation.lines[0].held is True
    assert any(line.has_value and line.saw == "trial" for line in detail.explanation.lines)
    assert {v.check: v.outcome for v in detail.verdicts} == {"holdout": "passed", "suppression": "passed",
                                                            "window": "passed", "limit": "passed"}  # fmt: skip
    message = detail.message
    headers = dict(message.headers)
    assert headers["Message-ID"] == detail.delivery.message_id and "ann0@acme.test" in headers["To"]
    assert message.subject == headers["Subject"] and message.text and "<" in message.html
    assert detail.delivery.provider_response.startswith("250 ") and detail.delivery.attempts == 1


def test_delivery_detail_of_an_unknown_id_is_none(db):
    with db.read_session() as s:
        assert delivery_detail(s, 987654) is None


def test_a_webhook_body_is_stored_as_the_receiver_got_it(db, webhook_receiver):
    text = """\
id: hook
name: Hook
category: operational
when:
  account.plan: trial
actions:
  - webhook: {template: onboarding/stalled, to: owner}
"""
    rule = validate_text(text, "hook.yaml", expected_id="hook").rule
    with db.session() as s:
        apply_rules(s, [(rule, text)], author="test")
        upsert_accounts(s, [{"id": "w1", "name": "W", "plan": "trial", "owner": "csm@vendor.test"}])
    with db.read_session() as s:
        rules = active_rules(s)
    run_cycle(db, rules, NOW, only_due=False)
    settings = dataclasses.replace(load_settings(), webhook_url=webhook_receiver.url, webhook_secret="s" * 20)
    send_all(db, settings)
    with db.read_session() as s:
        d = s.scalar(select(Delivery.id).where(Delivery.rule_id == "hook"))
        (stored,) = stored_messages(s, d)
    assert stored.content == webhook_receiver.requests[0]["body"]


@pytest.mark.parametrize("status", ["sent", "failed"])
def test_deleting_a_delivery_takes_its_record_with_it(db, smtp_server, status):
    ids = write_pending(db, accounts=1)
    send_all(db, settings_for(smtp_server.port))
    d = ids[("email", "ann0@acme.test")]
    with db.session() as s:
        s.execute(update(Delivery).where(Delivery.id == d).values(status=status))
        s.delete(s.get(Delivery, d))
    with db.read_session() as s:
        assert history(db, d) == [] and stored_messages(s, d) == []
