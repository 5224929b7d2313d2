"""From pending deliveries to messages at a real SMTP server, through the dispatcher and the send job."""

from __future__ import annotations

import dataclasses
import email
import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.compliance import suppress
from engine.db import Database
from engine.delivery.batch import send_claimed
from engine.delivery.dispatch import dispatch
from engine.delivery.gates import standard_gates
from engine.ingest import upsert_accounts, upsert_contacts
from engine.jobs.send import dispatch_tick
from engine.jobs.worker import make_worker
from engine.models import Delivery, Nudge, utcnow
from engine.rules.cycle import run_cycle
from engine.rules.validate import validate_text
from engine.rules.versions import active_rules, apply_rules
from engine.settings import load_settings

RULE = """\
id: stalled
name: Stalled onboarding
category: onboarding
when:
  account.plan: trial
actions:
  - email: {template: onboarding/stalled, to: role:admin}
  - in_app: {template: onboarding/checklist, to: role:admin, expires_in: 7d}
"""


@pytest.fixture
def pending(db: Database) -> list[int]:
    """Two trial accounts with an admin each (en and ja), the rule applied and evaluated."""
    rule = validate_text(RULE, "stalled.yaml", expected_id="stalled").rule
    with db.session() as s:
        apply_rules(s, [(rule, RULE)], author="test")
        upsert_accounts(s, [{"id": "acme", "name": "Acme", "plan": "trial"},
                            {"id": "kaisha", "name": "株式会社テスト", "plan": "trial", "locale": "ja"}])
        upsert_contacts(s, [{"id": "ann", "account_id": "acme", "email": "ann@acme.test", "name": "Ann", "role": "admin"},
                            {"id": "ken", "account_id": "kaisha", "email": "ken@kaisha.test", "name": "健", "role": "admin",
                             "locale": "ja"}])  # fmt: skip
    with db.read_session() as s:
        rules = active_rules(s)
    run_cycle(db, rules, utcnow(), only_due=False)
    with db.read_session() as s:
        return list(s.scalars(select(Delivery.id).order_by(Delivery.id)))


def settings_for(smtp_server, **overrides):
    base = load_settings()
    return dataclasses.replace(base, smtp_url=f"smtp://127.0.0.1:{smtp_server.port}", **overrides)


def statuses(db: Database) -> dict[str, str]:
    with db.read_session() as s:
        return {f"{c}:{r}": st for c, r, st in s.execute(select(Delivery.channel, Delivery.recipient, Delivery.status))}


def run_jobs(db, settings, jobs) -> None:
    for job_id, ids in jobs:
        send_claimed(db, settings, job_id, ids)


def test_due_deliveries_reach_the_smtp_server_once_with_their_headers(db, pending, smtp_server):
    settings = settings_for(smtp_server)
    jobs: list = []
    report = dispatch(db, utcnow(), lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
    assert report.queued == 4
    run_jobs(db, settings, jobs)
    run_jobs(db, settings, jobs)  # RQ may run a job twice: nothing is sent again
    assert set(statuses(db).values()) == {"sent"}
    received = smtp_server.handler.messages
    assert sorted(m["to"][0] for m in received) == ["ann@acme.test", "ken@kaisha.test"]
    by_to = {m["to"][0]: email.message_from_bytes(m["data"]) for m in received}
    ann = by_to["ann@acme.test"]
    assert ann["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click" and "/u/" in ann["List-Unsubscribe"]
    with db.read_session() as s:
        row = s.scalars(select(Delivery).where(Delivery.recipient == "ann@acme.test")).one()
        assert ann["Message-ID"] == row.message_id and row.sent_at is not None
        nudges = s.scalars(select(Nudge)).all()
    assert len(nudges) == 2 and all(n.expires_at is not None for n in nudges)
    ken = by_to["ken@kaisha.test"]
    texts = [p.get_payload(decode=True).decode(p.get_content_charset()) for p in ken.walk() if p.get_content_type() == "text/plain"]
    assert texts and any(ord(ch) > 0x3000 for ch in texts[0])  # the Japanese variant was chosen


def test_a_row_queued_again_elsewhere_before_its_claim_is_not_sent_and_the_batch_goes_on(db, pending, smtp_server,
                                                                                       monkeypatch):  # fmt: skip
    from engine.delivery import outbox

    settings = settings_for(smtp_server)
    jobs: list = []
    dispatch(db, utcnow(), lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
    with db.read_session() as s:
        ann = s.scalars(select(Delivery.id).where(Delivery.recipient == "ann@acme.test")).one()
    real_claim = outbox.claim

    def claim(tx, ids, job_id, now, lease=outbox.LEASE):
        if list(ids) == [ann]:  # the sweeper gave it to another job just before this one claimed it
            tx.execute(outbox.update(outbox.D).where(outbox.D.c.id == ann).values(job_id="send-another"))
        return real_claim(tx, ids, job_id, now, lease)

    monkeypatch.setattr(outbox, "claim", claim)
    email_job = next((j, ids) for j, ids in jobs if ann in ids)
    report = send_claimed(db, settings, *email_job)
    assert [m["to"] for m in smtp_server.handler.messages] == [["ken@kaisha.test"]]
    assert report["sent"] == 1 and report["claimed"] == 1
    with db.read_session() as s:
        row = s.get(Delivery, ann)
        assert (row.status, row.job_id, row.attempts) == ("queued", "send-another", 0)


def test_a_suppressed_address_is_not_sent_and_says_why(db, pending, smtp_server):
    settings = settings_for(smtp_server)
    with db.session() as s:
        suppress(s, "ann@acme.test", "unsubscribed", "onboarding", source="test")
    jobs: list = []
    dispatch(db, utcnow(), lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
    run_jobs(db, settings, jobs)
    assert statuses(db)["email:ann@acme.test"] == "suppressed"
    assert [m["to"] for m in smtp_server.handler.messages] == [["ken@kaisha.test"]]


def test_a_template_that_fails_fails_its_delivery_and_nothing_half_rendered_goes_out(db, pending, smtp_server, tmp_path):
    broken = tmp_path / "templates"
    (broken / "onboarding" / "stalled").mkdir(parents=True)
    (broken / "onboarding" / "stalled" / "en.html").write_text(
        "{% block subject %}Hi {{ contact.nickname }}{% endblock %}{% block html %}x{% endblock %}{% block text %}x{% endblock %}"
    )
    settings = settings_for(smtp_server, templates_dir=broken)
    jobs: list = []
    dispatch(db, utcnow(), lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
    run_jobs(db, settings, jobs)
    with db.read_session() as s:
        failed = s.scalars(select(Delivery).where(Delivery.status == "failed")).all()
    assert {d.recipient for d in failed} >= {"ann@acme.test", "ken@kaisha.test"}
    assert all(d.reason.startswith("not sent:") for d in failed)
    assert smtp_server.handler.messages == []


def test_the_dispatch_tick_and_a_real_worker_send_them(db, pending, smtp_server, redis_url, monkeypatch, keep_signal_handlers):
    monkeypatch.setenv("TOUCHLINE_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    outcome = dispatch_tick()
    assert outcome["status"] == "ok" and outcome["queued"] == 4 and outcome["jobs"] == 2
    assert make_worker().work(burst=True)
    assert set(statuses(db).values()) == {"sent"}
    assert len(smtp_server.handler.messages) == 2


def test_a_closed_send_window_defers_to_the_opening(db, smtp_server):
    text = RULE.replace("actions:", "send_window: {days: mon-fri, hours: \"09:00-10:00\", timezone: Asia/Tokyo}\nactions:")
    rule = validate_text(text, "stalled.yaml", expected_id="stalled").rule
    with db.session() as s:
        apply_rules(s, [(rule, text)], author="test")
        upsert_accounts(s, [{"id": "acme", "name": "Acme", "plan": "trial"}])
        upsert_contacts(s, [{"id": "ann", "account_id": "acme", "email": "ann@acme.test", "role": "admin"}])
    # Saturday 2026-11-21 12:00 UTC: closed; the window opens Monday 09:00 in Tokyo (00:00 UTC).
    now = utcnow().replace(year=2026, month=11, day=21, hour=12, minute=0, second=0, microsecond=0)
    with db.read_session() as s:
        rules = active_rules(s)
    run_cycle(db, rules, now, only_due=False)
    report = dispatch(db, now, lambda j, ids: None, gates=standard_gates(settings_for(smtp_server)))
    assert report.deferred == 2 and report.queued == 0
    with db.read_session() as s:
        rows = s.scalars(select(Delivery)).all()
    assert {r.due_at for r in rows} == {now + timedelta(days=1, hours=12)}
    assert all("send window: opens Mon 2026-11-23 09:00 Asia/Tokyo" in r.reason for r in rows)


def queue_all(db, settings) -> list:
    jobs: list = []
    dispatch(db, utcnow(), lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
    return jobs


def test_decisions_made_after_dispatch_are_honoured_at_send_time(db, pending, smtp_server):
    """Unsubscribed, or its rule paused, or its contact deleted, after the row was queued: not sent."""
    from engine.models import Contact, RuleState

    settings = settings_for(smtp_server)
    jobs = queue_all(db, settings)
    with db.session() as s:
        suppress(s, "ann@acme.test", "unsubscribed", "onboarding", source="test")
        s.delete(s.scalars(select(Contact).where(Contact.external_id == "ken")).one())
    run_jobs(db, settings, jobs)
    got = statuses(db)
    assert got["email:ann@acme.test"] == "suppressed"
    assert got["email:ken@kaisha.test"] == "failed" and smtp_server.handler.messages == []
    with db.read_session() as s:
        reason = s.scalars(select(Delivery.reason).where(Delivery.recipient == "ken@kaisha.test")).one()
    assert "no longer exists" in reason

    # A paused rule's queued rows go back to waiting, untried.
    with db.session() as s:
        for d in s.scalars(select(Delivery)):
            d.status, d.job_id = "queued", "j-again"
        s.get(RuleState, "stalled").paused = True
    run_jobs(db, settings, [("j-again", [i for _j, ids in jobs for i in ids])])
    with db.read_session() as s:
        assert {d.status for d in s.scalars(select(Delivery))} == {"pending"}


def test_a_channel_that_is_not_set_up_postpones_without_using_attempts(db, pending, smtp_server):
    settings = dataclasses.replace(load_settings(), smtp_url=None)
    jobs = queue_all(db, settings)
    run_jobs(db, settings, jobs)
    with db.read_session() as s:
        emails = s.scalars(select(Delivery).where(Delivery.channel == "email")).all()
    assert {(d.status, d.attempts) for d in emails} == {("deferred", 0)}
    assert all("TOUCHLINE_SMTP_URL" in d.reason for d in emails)


def test_the_dispatch_tick_leaves_waiting_jobs_alone_and_enqueues_lost_ones_again(db, pending, smtp_server, redis_url,
                                                                                   monkeypatch):  # fmt: skip
    import time

    from engine.jobs.queues import get_queue

    monkeypatch.setenv("TOUCHLINE_SMTP_URL", f"smtp://127.0.0.1:{smtp_server.port}")
    monkeypatch.setenv("TOUCHLINE_QUEUE_GRACE_SECONDS", "1")
    assert dispatch_tick()["jobs"] == 2  # no worker runs: the jobs wait in the queue
    time.sleep(1.2)
    assert dispatch_tick()["requeued"] == 0  # waiting in RQ is a backlog, not a loss
    get_queue().empty()  # Redis lost them (say, restarted without its data)
    again = dispatch_tick()
    assert again["requeued"] == 4 and again["jobs"] == 2


def test_messages_of_a_rule_disabled_since_they_were_written_do_not_go(db, pending, smtp_server):
    disabled = RULE.replace("category: onboarding\n", "category: onboarding\nenabled: false\n")
    with db.session() as s:
        apply_rules(s, [(validate_text(disabled, "stalled.yaml", expected_id="stalled").rule, disabled)], author="test")
    report = dispatch(db, utcnow(), lambda j, ids: None, gates=standard_gates(settings_for(smtp_server)))
    assert report.queued == 0 and report.skipped == {"skipped": 4}
    with db.read_session() as s:
        assert {d.reason for d in s.scalars(select(Delivery))} == {"skipped: its rule is disabled (enabled: false)"}


def test_the_worker_warm_up_compiles_the_send_path_before_forking_and_changes_nothing(db, pending, smtp_server, caplog):
    from sqlalchemy import event
    from sqlalchemy.engine.interfaces import CacheStats

    from engine.db import get_database
    from engine.delivery.batch import warm_up

    settings = settings_for(smtp_server)
    shared = get_database(settings.database_url)  # the one a work-horse inherits
    shared.engine.clear_compiled_cache()
    with db.read_session() as s:
        before = [tuple(r) for r in s.execute(select(Delivery.__table__).order_by(Delivery.id))]
    warm_up(settings)
    with db.read_session() as s:
        assert [tuple(r) for r in s.execute(select(Delivery.__table__).order_by(Delivery.id))] == before
    assert "not warmed up" not in caplog.text

    compiled: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany):
        if context is not None and context.cache_hit is CacheStats.CACHE_MISS:
            compiled.append(statement.split("(")[0][:60])

    event.listen(shared.engine, "after_cursor_execute", seen)
    try:
        jobs: list = []
        dispatch(db, utcnow(), lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
        compiled.clear()  # the dispatch's statements are not the send job's
        run_jobs(shared, settings, jobs)
    finally:
        event.remove(shared.engine, "after_cursor_execute", seen)
    assert len(smtp_server.handler.messages) == 2
    # What a send job of emails runs was compiled by the warm-up; only the in-app nudge's insert is new.
    assert [s for s in compiled if "nudges" not in s] == []


def test_a_warm_up_that_fails_leaves_the_worker_running(monkeypatch, tmp_path, caplog):
    from engine.delivery.batch import warm_up

    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", f"sqlite:///{tmp_path / 'not-migrated.db'}")
    warm_up(load_settings())
    assert "send path not warmed up" in caplog.text


def test_a_message_a_slow_server_holds_past_the_lease_is_not_judged_lost(db, pending, faulty_smtp):
    """Each SMTP reply comes within the timeout, but together they outlast the lease:
    the send job renews the lease of the message on its way, so the sweeper leaves it be."""
    import threading
    import time

    from engine.delivery import outbox

    slow = {"ann@acme.test": "sleep:1.8"}
    server = faulty_smtp({"rcpt": slow, "data": slow, "mail": ["sleep:1.8", "sleep:1.8"]})
    settings = dataclasses.replace(settings_for(server), send_lease_seconds=3, smtp_timeout=2)
    jobs: list = []
    dispatch(db, utcnow(), lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
    sender = threading.Thread(target=run_jobs, args=(db, settings, jobs))
    sender.start()
    try:
        deadline = time.monotonic() + 10
        while statuses(db).get("email:ann@acme.test") != "sending":
            assert time.monotonic() < deadline, "ann's message was never claimed"
            time.sleep(0.02)
        time.sleep(3.5)  # past the lease it was claimed with; the server takes 5.4 s
        with db.session() as s:
            # No grace for queued rows: ken's, waiting its turn, counts as lost unless still held.
            swept = outbox.sweep(s, utcnow(), queue_grace=timedelta(0))
        assert swept.unknown == 0 and statuses(db)["email:ann@acme.test"] == "sending"
        with db.read_session() as s:
            ken = s.scalars(select(Delivery.id).where(Delivery.recipient == "ken@kaisha.test", Delivery.channel == "email")).one()
        assert statuses(db)["email:ken@kaisha.test"] == "queued" and ken not in swept.stale
    finally:
        sender.join()
    assert statuses(db)["email:ann@acme.test"] == "sent"
    assert [m["to"] for m in server.handler.messages].count(["ann@acme.test"]) == 1


def owner_alert(db, webhook: str) -> None:
    """An operational rule alerting the owner of a trial account (Acme, maria@cs.test)
    with the given webhook action settings, applied and evaluated: one pending delivery."""
    text = f"""\
id: owner-alert
name: Owner alert
category: operational
when:
  account.plan: trial
actions:
  - webhook: {{template: alerts/owner-changed, to: owner, {webhook}}}
"""
    rule = validate_text(text, "owner-alert.yaml", expected_id="owner-alert").rule
    with db.session() as s:
        apply_rules(s, [(rule, text)], author="test")
        upsert_accounts(s, [{"id": "acme", "name": "Acme", "plan": "trial", "owner": "maria@cs.test"}])
    with db.read_session() as s:
        run_cycle(db, active_rules(s), utcnow(), only_due=False)


def test_an_owner_alert_goes_to_the_rules_webhook_in_the_rules_format(db, webhook_receiver):
    owner_alert(db, f'format: slack, url: "{webhook_receiver.url}"')
    # The instance default is signed JSON to elsewhere; the rule's own URL and format win.
    settings = dataclasses.replace(load_settings(), webhook_url="http://127.0.0.1:1/unused", webhook_secret="s" * 32)
    jobs: list = []
    dispatch(db, utcnow(), lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
    run_jobs(db, settings, jobs)
    assert statuses(db) == {"webhook:maria@cs.test": "sent"}
    [request] = webhook_receiver.requests
    assert list(json.loads(request["body"])) == ["text"] and "Acme" in json.loads(request["body"])["text"]


def test_an_answer_the_database_will_not_take_leaves_the_row_to_the_sweeper(db, pending, smtp_server, monkeypatch):
    """Never 'deferred' (and so sent again) after the server took it: the row stays
    'sending', the job stops, and the sweeper settles it after its lease."""
    from sqlalchemy.exc import OperationalError

    from engine.delivery import batch

    def locked(*args, **kwargs):
        raise OperationalError("UPDATE deliveries ...", {}, Exception("database is locked"))

    monkeypatch.setattr(batch, "WRITE_TRIES", 1)
    monkeypatch.setattr(batch.outbox, "mark_sent", locked)
    settings = settings_for(smtp_server)
    jobs: list = []
    dispatch(db, utcnow(), lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
    with db.read_session() as s:
        emails = set(s.scalars(select(Delivery.id).where(Delivery.channel == "email")))
    email_job = next((j, ids) for j, ids in jobs if set(ids) == emails)
    with pytest.raises(batch.OutcomeNotRecorded, match="sent .* not recorded"):
        send_claimed(db, settings, *email_job)
    assert len(smtp_server.handler.messages) == 1
    assert sorted(statuses(db)[k] for k in ("email:ann@acme.test", "email:ken@kaisha.test")) == ["queued", "sending"]


def test_a_webhook_with_no_url_anywhere_waits_without_using_an_attempt(db):
    owner_alert(db, "format: slack")
    settings = dataclasses.replace(load_settings(), webhook_url=None)
    jobs: list = []
    dispatch(db, utcnow(), lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
    run_jobs(db, settings, jobs)
    with db.read_session() as s:
        row = s.scalars(select(Delivery)).one()
    assert (row.status, row.attempts) == ("deferred", 0)
    assert row.reason.startswith("not tried: no webhook URL") and row.due_at > utcnow()
