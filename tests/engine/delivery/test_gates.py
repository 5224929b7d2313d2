"""The gates in a dispatch pass: the policy file wherever the process started, a broken policy,
a send window that never opens, and a rule's own limit."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from engine.db import Database
from engine.delivery import windows
from engine.delivery.dispatch import dispatch
from engine.delivery.gates import standard_gates
from engine.models import Account, Delivery, utcnow
from engine.rules.cycle import run_cycle
from engine.rules.validate import validate_text
from engine.rules.versions import active_rules, apply_rules
from engine.settings import load_settings
from test_batch import RULE, pending, statuses  # noqa: F401 (pending is a fixture)

ROOT = Path(__file__).resolve().parents[3]
POLICY_SKIP = "limit: at most 1 marketing message per account per 7 days (policy)"


def add_rule(db: Database, text: str) -> None:
    """Apply one more rule (its text as in rules/) and evaluate every rule now."""
    rule = validate_text(text, "x.yaml").rule
    with db.session() as s:
        apply_rules(s, [(rule, text)], author="test")
    with db.read_session() as s:
        run_cycle(db, active_rules(s), utcnow(), only_due=False)


def operational(db: Database) -> None:
    """An operational email to every trial account's admins (exempt from the fatigue policy)."""
    add_rule(db, RULE.replace("id: stalled", "id: receipt").replace("category: onboarding", "category: operational")
             .replace("  - in_app: {template: onboarding/checklist, to: role:admin, expires_in: 7d}\n", ""))  # fmt: skip


def already_sent(db: Database, rule_id: str, recipient: str) -> None:
    """A message of ``rule_id`` sent to ``recipient`` yesterday (modelled on their pending email)."""
    with db.session() as s:
        d = s.scalars(select(Delivery).where(Delivery.recipient == recipient).order_by(Delivery.id)).first()
        yesterday = utcnow() - timedelta(days=1)
        s.add(Delivery(dedupe_key=f"earlier:{rule_id}", rule_id=rule_id, rule_version_id=d.rule_version_id,
                       action_index=0, channel="email", template=d.template, account_id=d.account_id,
                       contact_id=d.contact_id, recipient=recipient, occurrence="earlier", status="sent",
                       category=d.category, sent_at=yesterday, queued_at=yesterday, due_at=yesterday))  # fmt: skip


def rows(db: Database) -> dict[str, tuple[str, str | None]]:
    """rule:channel:account -> (status, reason), for the rows a pass decides (not the earlier ones)."""
    with db.read_session() as s:
        found = s.execute(select(Delivery.rule_id, Delivery.channel, Account.external_id, Delivery.status, Delivery.reason)
                          .join(Account, Account.id == Delivery.account_id).where(Delivery.occurrence != "earlier"))  # fmt: skip
        return {f"{r}:{c}:{a}": (st, why) for r, c, a, st, why in found}


def due_at(db: Database) -> dict[int, object]:
    with db.read_session() as s:
        return dict(s.execute(select(Delivery.id, Delivery.due_at)).all())


def run(db: Database, settings, now=None):
    return dispatch(db, now or utcnow(), lambda job_id, ids: None, gates=standard_gates(settings))


# -- the policy file ---------------------------------------------------------------------------


def test_the_policy_file_is_the_projects_wherever_the_process_was_started(db, pending, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # a worker or scheduler started elsewhere
    settings = load_settings()
    assert settings.policy_file == ROOT / "rules" / "policy.yaml"
    already_sent(db, "another-rule", "ann@acme.test")
    report = run(db, settings)
    assert report.queued == 2 and report.skipped == {"skipped": 2}
    got = rows(db)
    assert got["stalled:email:acme"] == ("skipped", POLICY_SKIP)
    assert got["stalled:email:kaisha"][0] == "queued"


def test_touchline_policy_file_names_it_and_while_it_is_missing_messages_wait(db, pending, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TOUCHLINE_POLICY_FILE", "mine.yaml")
    settings = load_settings()
    assert settings.policy_file == tmp_path / "mine.yaml"  # absolute: a later chdir changes nothing
    already_sent(db, "another-rule", "ann@acme.test")
    report = run(db, settings)
    assert report.queued == 0 and report.deferred == 4  # named but missing: not "no limits"
    status, reason = rows(db)["stalled:email:kaisha"]
    assert status == "deferred" and f"{tmp_path / 'mine.yaml'}:1:1: cannot read" in reason

    (tmp_path / "mine.yaml").write_text("fatigue:\n  per_account: {max: 1, per: 7d}\n")
    again = run(db, settings)
    assert again.queued == 2 and again.skipped == {"skipped": 2}
    assert rows(db)["stalled:email:acme"] == ("skipped", POLICY_SKIP)


# -- a broken policy file ----------------------------------------------------------------------


def test_a_broken_policy_holds_what_it_limits_and_lets_operational_messages_go(db, pending, tmp_path):
    operational(db)
    policy = tmp_path / "policy.yaml"
    policy.write_text("fatigue:\n  per_account: {max: 1, per: 7d}\n  per_contact: {max: 0, per: 30d}\n")
    settings = dataclasses.replace(load_settings(), policy_file=policy)
    due = due_at(db)
    report = run(db, settings)
    assert report.queued == 2 and report.deferred == 4
    got = rows(db)
    assert got["receipt:email:acme"][0] == got["receipt:email:kaisha"][0] == "queued"
    held = {key: value for key, value in got.items() if key.startswith("stalled:")}
    assert len(held) == 4 and {status for status, _ in held.values()} == {"deferred"}
    assert {reason for _, reason in held.values()} == {
        f"waiting: the fatigue policy is invalid: {policy}:3:17: fatigue.per_contact.max: 0 is out of range; "
        "expected a whole number from 1 to 1000; held until the file is fixed"
    }
    assert due_at(db) == due  # waiting keeps their place: nothing is rescheduled

    policy.write_text("fatigue:\n  per_account: {max: 1, per: 7d}\n")  # fixed: the next pass sends them
    again = run(db, settings)
    assert again.queued == 4 and again.deferred == 0
    assert {status for status, _ in rows(db).values()} == {"queued"}


# -- a send window that never opens ------------------------------------------------------------


def test_a_window_that_never_opens_skips_its_messages_and_the_rest_of_the_pass_goes_on(db, pending, monkeypatch):
    window = 'send_window: {days: mon-fri, hours: "09:00-10:00", timezone: Asia/Tokyo}\n'
    windowed = RULE.replace("id: stalled", "id: tokyo-hours").replace("actions:", window + "actions:")
    add_rule(db, windowed)
    monkeypatch.setattr(windows, "_HORIZON_DAYS", 1)  # a window that does not open within the search: today only
    now = utcnow()
    saturday = (now + timedelta(days=(5 - now.weekday()) % 7 or 7)).replace(hour=12, minute=0)  # 21:00 in Tokyo
    report = run(db, dataclasses.replace(load_settings(), policy_file=None), saturday)
    assert report.queued == 4 and report.skipped == {"skipped": 4}
    got = rows(db)
    assert {status for key, (status, _) in got.items() if key.startswith("stalled:")} == {"queued"}
    assert {reason for key, (_, reason) in got.items() if key.startswith("tokyo-hours:")} == {
        "skipped: its send window mon-fri 09:00-10:00 never opens in Asia/Tokyo within 1 days"
    }


# -- a rule's own limit ------------------------------------------------------------------------


def test_a_rule_limit_skips_with_a_limit_reason(db, pending):
    limited = RULE.replace("actions:", "limits: {per_account: {max: 1, per: 30d}}\nactions:")
    add_rule(db, limited)
    already_sent(db, "stalled", "ann@acme.test")
    report = run(db, dataclasses.replace(load_settings(), policy_file=None))  # no policy: the rule's limit alone
    assert report.queued == 2 and report.skipped == {"skipped": 2}
    got = rows(db)
    assert got["stalled:email:acme"] == got["stalled:in_app:acme"] == (
        "skipped", "limit: rule stalled per_account 1 per 30d"
    )
    assert statuses(db)["email:ken@kaisha.test"] == "queued"


# -- the sender's brand in production ----------------------------------------------------------


def test_production_without_the_senders_brand_holds_marketing_email_and_lets_the_rest_go(db, pending):
    from engine.settings import BRAND_REQUIRED, Brand

    operational(db)
    production = dataclasses.replace(load_settings(), env="production",
                                     brand=Brand(name="Kumo", company="Kumo K.K.", postal_address=None, support_email=None,
                                                 missing=BRAND_REQUIRED[1:]))  # fmt: skip
    due = due_at(db)
    report = run(db, production)
    assert report.queued == 4 and report.deferred == 2
    got = rows(db)
    held = {key: value for key, value in got.items() if value[0] == "deferred"}
    assert set(held) == {"stalled:email:acme", "stalled:email:kaisha"}
    assert {reason for _, reason in held.values()} == {
        "waiting: TOUCHLINE_BRAND_POSTAL_ADDRESS, TOUCHLINE_BRAND_SUPPORT_EMAIL are not set: production sends no "
        "marketing email without the sender's name, postal address and support address; held until they are set"
    }
    # Operational email and in-app nudges are not held.
    assert got["receipt:email:acme"][0] == got["stalled:in_app:acme"][0] == "queued"
    assert due_at(db) == due  # waiting keeps their place

    complete = dataclasses.replace(production, brand=Brand(name="Kumo", company="Kumo K.K.", postal_address="Tokyo",
                                                           support_email="help@kumo.test", missing=()))  # fmt: skip
    again = run(db, complete)
    assert again.queued == 2 and {status for status, _ in rows(db).values()} == {"queued"}


def test_outside_production_the_demo_brand_holds_nothing(db, pending):
    settings = load_settings()
    assert settings.brand.missing and not settings.production
    assert run(db, settings).queued == 4
