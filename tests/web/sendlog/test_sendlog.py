"""The send log page: counts by rule and status, the latest deliveries, the unknown ones called out."""

from __future__ import annotations

from sqlalchemy import select

from engine.delivery import outbox
from engine.ingest import upsert_accounts, upsert_contacts
from engine.models import Delivery, utcnow
from engine.rules.cycle import run_cycle
from engine.rules.validate import validate_text
from engine.rules.versions import active_rules, apply_rules

RULE = """\
id: nudge
name: Nudge
when:
  account.plan: trial
actions:
  - email: {template: onboarding/stalled, to: role:admin}
"""


def seed_deliveries(db) -> None:
    rule = validate_text(RULE, "nudge.yaml", expected_id="nudge").rule
    with db.session() as s:
        apply_rules(s, [(rule, RULE)], author="test")
        upsert_accounts(s, [{"id": f"a{i}", "name": "A", "plan": "trial"} for i in range(2)])
        upsert_contacts(s, [{"id": f"c{i}", "account_id": f"a{i}", "email": f"c{i}@x.test", "role": "admin"} for i in range(2)])
    with db.read_session() as s:
        rules = active_rules(s)
    now = utcnow()
    run_cycle(db, rules, now, only_due=False)
    with db.session() as s:
        first = s.scalars(select(Delivery.id).order_by(Delivery.id)).first()
        outbox.mark_queued(s, [first], "job", now, ("pending",))
        outbox.claim(s, [first], "job", now)
    with db.session() as s:
        outbox.sweep(s, now + outbox.LEASE * 2)


def test_the_send_log_shows_counts_and_calls_out_unknown_messages(db, login_as):
    seed_deliveries(db)
    client = login_as("viewer")
    html = client.get("/admin/deliveries/").get_data(as_text=True)
    assert "1 unknown" in html and "unknown 1" in html and "pending 1" in html
    only = client.get("/admin/deliveries/?status=unknown").get_data(as_text=True)
    assert "c0@x.test" in only and "c1@x.test" not in only and "may or may not have been sent" in only
    assert client.get("/admin/deliveries/?status=lost").status_code == 400


def test_the_send_log_needs_a_signed_in_user(client):
    response = client.get("/admin/deliveries/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_a_paused_rule_and_its_reason_are_shown(db, login_as):
    from engine.rules.versions import pause_rule

    seed_deliveries(db)
    with db.session() as s:
        pause_rule(s, "nudge", "circuit breaker: more than 1,000 messages in one cycle")
    html = login_as("viewer").get("/admin/deliveries/").get_data(as_text=True)
    assert "nudge is paused" in html and "circuit breaker: more than 1,000 messages" in html
