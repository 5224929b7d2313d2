"""touchline deliveries: the send log from the command line."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select

from engine.cli import cli
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


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_summary_and_list_show_statuses_and_reasons(db):
    rule = validate_text(RULE, "nudge.yaml", expected_id="nudge").rule
    with db.session() as s:
        apply_rules(s, [(rule, RULE)], author="test")
        upsert_accounts(s, [{"id": f"a{i}", "name": "A", "plan": "trial"} for i in range(3)])
        upsert_contacts(s, [{"id": f"c{i}", "account_id": f"a{i}", "email": f"c{i}@x.test", "role": "admin"} for i in range(3)])
    with db.read_session() as s:
        rules = active_rules(s)
    now = utcnow()
    run_cycle(db, rules, now, only_due=False)
    with db.session() as s:
        first = s.scalars(select(Delivery.id).order_by(Delivery.id)).first()
        outbox.mark_queued(s, [first], "job", now, ("pending",))
        outbox.claim(s, [first], "job", now)
    with db.session() as s:
        assert outbox.sweep(s, now + outbox.LEASE * 2).unknown == 1

    result = run("deliveries")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "nudge: unknown 1, pending 2"
    assert "1 unknown" in result.output

    listed = run("deliveries", "list", "--status", "unknown")
    assert listed.exit_code == 0 and len(listed.output.splitlines()) == 1
    assert "unknown" in listed.output and "c0@x.test" in listed.output and "may or may not have been sent" in listed.output

    bad = CliRunner().invoke(cli, ["deliveries", "list", "--status", "lost"])
    assert bad.exit_code == 2 and "expected one of" in bad.output


def test_no_deliveries_yet(db):
    assert run("deliveries").output.strip() == "no deliveries yet"
