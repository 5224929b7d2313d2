"""Email claims each message in the transaction that records the previous one (LateClaims):
what happens when something fails between the two."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from engine.db import Database
from engine.delivery import outbox
from engine.delivery.batch import LeaseKeeper, send_claimed
from engine.delivery.dispatch import dispatch
from engine.delivery.gates import standard_gates
from engine.ingest import upsert_accounts, upsert_contacts
from engine.models import Delivery, utcnow
from engine.rules.cycle import run_cycle
from engine.rules.validate import validate_text
from engine.rules.versions import active_rules, apply_rules
from engine.settings import load_settings

RULE = """\
id: nudge
name: Nudge
when:
  account.plan: trial
actions:
  - email: {template: onboarding/stalled, to: role:admin}
"""


@pytest.fixture
def email_job(db: Database, smtp_server):
    """Three queued email rows (c0, c1, c2 @x.test) in one send job: (settings, job id, ids)."""
    rule = validate_text(RULE, "nudge.yaml", expected_id="nudge").rule
    with db.session() as s:
        apply_rules(s, [(rule, RULE)], author="test")
        upsert_accounts(s, [{"id": f"a{i}", "name": "A", "plan": "trial"} for i in range(3)])
        upsert_contacts(s, [{"id": f"c{i}", "account_id": f"a{i}", "email": f"c{i}@x.test", "role": "admin"}
                            for i in range(3)])  # fmt: skip
    with db.read_session() as s:
        rules = active_rules(s)
    run_cycle(db, rules, utcnow(), only_due=False)
    settings = dataclasses.replace(load_settings(), smtp_url=f"smtp://127.0.0.1:{smtp_server.port}")
    jobs: list = []
    dispatch(db, utcnow(), lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
    assert len(jobs) == 1 and len(jobs[0][1]) == 3
    return settings, *jobs[0]


def rows(db: Database) -> dict[str, tuple[str, int]]:
    with db.read_session() as s:
        return {r.recipient: (r.status, r.attempts) for r in s.scalars(select(Delivery))}


def test_an_error_of_ours_before_the_claim_defers_the_message_using_an_attempt(db, smtp_server, email_job, monkeypatch):
    # As for any error of ours while sending: deferred with an attempt, so the retries run out.
    from engine.delivery.channels import smtp

    real = smtp.build_email

    def build_email(message, mail_from):
        if message.to_addr == "c1@x.test":
            raise RuntimeError("a bug in MIME building")
        return real(message, mail_from)

    monkeypatch.setattr(smtp, "build_email", build_email)
    report = send_claimed(db, *email_job)
    assert sorted(m["to"][0] for m in smtp_server.handler.messages) == ["c0@x.test", "c2@x.test"]
    assert rows(db) == {"c0@x.test": ("sent", 1), "c1@x.test": ("deferred", 1), "c2@x.test": ("sent", 1)}
    assert (report["sent"], report["deferred"], report["claimed"]) == (2, 1, 3)


def test_an_error_between_two_sends_still_records_the_previous_outcome(db, smtp_server, email_job, monkeypatch):
    # c0 went out; composing c1 then fails in a way the composer does not expect. c0 must say sent.
    from engine.delivery.compose import Composer

    real = Composer.compose

    def compose(self, row):
        if row.recipient == "c1@x.test":
            raise KeyError("boom")
        return real(self, row)

    monkeypatch.setattr(Composer, "compose", compose)
    with pytest.raises(KeyError):
        send_claimed(db, *email_job)
    assert [m["to"][0] for m in smtp_server.handler.messages] == ["c0@x.test"]
    assert rows(db)["c0@x.test"] == ("sent", 1)
    assert rows(db)["c2@x.test"] == ("queued", 0)  # left for the sweeper, untried


def test_the_lease_keeper_renews_every_row_on_its_way(db, email_job):
    # A sent message waiting for the next claim to record it, and the next one: both stay held.
    _settings, job_id, ids = email_job
    now = utcnow()
    with db.transaction() as tx:
        tx.execute(update(outbox.D).where(outbox.D.c.id.in_(ids[:2]))
                   .values(status="sending", lease_until=now + timedelta(seconds=1)))  # fmt: skip
    lease = timedelta(seconds=0.6)
    with LeaseKeeper(db, job_id, lease, utcnow, set(ids)) as keeper, keeper.sending(*ids[:2]):
        time.sleep(0.8)
    with db.read_session() as s:
        leases = dict(s.execute(select(Delivery.id, Delivery.lease_until).where(Delivery.id.in_(ids))).all())
    assert all(leases[i] > now + timedelta(seconds=1) for i in ids[:2]), leases
    assert leases[ids[2]] is not None and leases[ids[2]] > now  # the rest of the batch, held with them
