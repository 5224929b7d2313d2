"""The program's result (engine.results.program): the global holdout against every other account
on the policy's measure, over a period, from real rows in the test database."""

from __future__ import annotations

import dataclasses
import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from engine.delivery.batch import send_claimed
from engine.delivery.dispatch import dispatch
from engine.delivery.gates import standard_gates
from engine.delivery.holdout import in_global_holdout
from engine.delivery.policy import GlobalHoldout, Policy, ProgramMeasure, load_policy
from engine.ingest import upsert_accounts, upsert_contacts
from engine.models import Account, Contact, DailyUsage, Delivery, RuleVersion
from engine.results.program import GlobalHoldoutOff, ProgramArm, program_result
from engine.rules.cycle import run_cycle
from engine.rules.validate import validate_text
from engine.rules.versions import active_rules, apply_rules
from engine.settings import load_settings

SINCE, UNTIL = date(2026, 3, 1), date(2026, 6, 1)  # 92 days
HOLDOUT = GlobalHoldout(5.0, ProgramMeasure("login", 30), frozenset({"operational", "csm-alerts"}))
WINDOW_START = UNTIL - timedelta(days=30)  # 2026-05-02
LONG_AGO = datetime(2025, 1, 1, tzinfo=UTC)
LATER = datetime(2030, 1, 1, tzinfo=UTC)  # "now" for results read after the period


def add_accounts(db, names: list[str], created_at: datetime = LONG_AGO, signup_at: datetime | None = None) -> dict[str, int]:
    with db.session() as s:
        start = (s.query(Account.id).order_by(Account.id.desc()).limit(1).scalar() or 0) + 1
        rows = [{"id": start + i, "external_id": n, "name": n, "created_at": created_at, "updated_at": created_at,
                 "signup_at": signup_at} for i, n in enumerate(names)]  # fmt: skip
        for i in range(0, len(rows), 2000):
            s.execute(insert(Account), rows[i : i + 2000])
    return {r["external_id"]: r["id"] for r in rows}


def add_usage(db, rows: list[tuple[int, str, date]], count: int = 1) -> None:
    with db.session() as s:
        values = [{"account_id": a, "event_name": e, "day": d, "count": count, "active_contacts": 1} for a, e, d in rows]
        for i in range(0, len(values), 2000):
            s.execute(insert(DailyUsage), values[i : i + 2000])


def result(db, holdout=HOLDOUT, since=SINCE, until=UNTIL, **kwargs):
    with db.read_session() as s:
        return program_result(s, holdout, since=since, until=until, now=kwargs.pop("now", LATER), **kwargs)


def test_a_planted_difference_is_found(db):
    names = [f"acct-{i}" for i in range(6000)]
    ids = add_accounts(db, names)
    rng = random.Random(20261123)
    retained: dict[str, bool] = {}
    usage = []
    for name in names:
        held = in_global_holdout(name, 5)
        retained[name] = rng.random() < (0.30 if held else 0.45)  # the program keeps 15 points more
        if retained[name]:  # one or more logins in the window
            for _ in range(rng.randint(1, 3)):
                usage.append((ids[name], "login", WINDOW_START + timedelta(days=rng.randrange(30))))
        # Noise that must not count: logins before the window, other events in it.
        usage.append((ids[name], "login", SINCE + timedelta(days=rng.randrange(61))))
        usage.append((ids[name], "report_run", WINDOW_START + timedelta(days=rng.randrange(30))))
    add_usage(db, sorted(set(usage)))

    found = result(db)
    held = [n for n in names if in_global_holdout(n, 5)]
    kept = [n for n in names if not in_global_holdout(n, 5)]
    assert found.holdout == ProgramArm(len(held), sum(retained[n] for n in held))
    assert found.program == ProgramArm(len(kept), sum(retained[n] for n in kept))
    assert abs(found.holdout.accounts / len(names) - 0.05) < 0.01
    c = found.comparison
    assert (c.treated_n, c.treated_x, c.control_n, c.control_x) == (*dataclasses.astuple(found.program), *dataclasses.astuple(found.holdout))
    assert c.code == "better" and c.uplift_abs_low > 0.05 and c.uplift_abs_high < 0.25
    assert not found.srm.mismatch and found.srm.observed == {"program": len(kept), "holdout": len(held)}
    assert found.srm.expected["holdout"] == pytest.approx(len(names) * 0.05)
    assert (found.leaked, found.partial, found.trustworthy) == (0, False, True)
    assert (found.since, found.until, found.window_start, found.percent, found.event, found.within) == (
        SINCE, UNTIL, WINDOW_START, 5.0, "login", 30)  # fmt: skip
    assert found.holdout.rate == found.holdout.retained / found.holdout.accounts


def test_no_difference_planted_none_found(db):
    names = [f"same-{i}" for i in range(4000)]
    ids = add_accounts(db, names)
    rng = random.Random(5)
    add_usage(db, [(ids[n], "login", UNTIL - timedelta(days=1)) for n in names if rng.random() < 0.4])
    assert result(db).comparison.code == "no_evidence"


def retained_total(found) -> int:
    return found.program.retained + found.holdout.retained


@pytest.mark.parametrize(("day", "count", "retained"), [
    (WINDOW_START, 1, True),  # the window's first day
    (UNTIL - timedelta(days=1), 2, True),  # its last
    (WINDOW_START - timedelta(days=1), 1, False),  # the day before it
    (UNTIL, 1, False),  # until is the first day after the period
    (WINDOW_START, 0, False),  # a rollup row with count 0 is no event
])  # fmt: skip
def test_the_retention_window_is_the_last_within_days_of_the_period(db, day, count, retained):
    ids = add_accounts(db, ["one", "other"])
    add_usage(db, [(ids["one"], "login", day)], count=count)
    add_usage(db, [(ids["other"], "logout", WINDOW_START)])  # another event: never
    found = result(db)
    assert found.program.accounts + found.holdout.accounts == 2
    assert retained_total(found) == int(retained)


def test_a_measure_longer_than_the_period_starts_at_the_period(db):
    ids = add_accounts(db, ["before", "inside"])
    add_usage(db, [(ids["before"], "login", SINCE - timedelta(days=1)), (ids["inside"], "login", SINCE)])
    holdout = GlobalHoldout(5.0, ProgramMeasure("login", 120), HOLDOUT.exempt_categories)
    found = result(db, holdout)
    assert found.window_start == SINCE
    assert retained_total(found) == 1  # "inside" only


def test_only_accounts_that_existed_at_the_start_are_compared(db):
    add_accounts(db, ["old-row"], created_at=LONG_AGO)  # recorded long ago, no signup date
    add_accounts(db, ["new-row"], created_at=datetime(2026, 3, 1, tzinfo=UTC))  # recorded at the start: too late
    # The product's signup date decides when there is one, whenever Touchline recorded it.
    add_accounts(db, ["imported-later"], created_at=LATER, signup_at=datetime(2026, 2, 28, 23, 59, tzinfo=UTC))
    add_accounts(db, ["signed-up-later"], created_at=LONG_AGO, signup_at=datetime(2026, 3, 2, tzinfo=UTC))
    found = result(db)
    assert found.program.accounts + found.holdout.accounts == 2


def test_a_lopsided_split_is_flagged(db):
    names = [f"lop-{i}" for i in range(4000)]
    add_accounts(db, [n for n in names if not in_global_holdout(n, 5)])
    held = [n for n in names if in_global_holdout(n, 5)]
    add_accounts(db, held[: len(held) // 2])  # half the control group lost
    found = result(db)
    assert found.srm.mismatch and not found.trustworthy


def _version(s) -> int:
    version = s.scalar(select(RuleVersion.id).where(RuleVersion.rule_id == "r"))
    if version is None:
        version = s.scalar(insert(RuleVersion).values(rule_id="r", version=1, content="", content_hash="x", author="t")
                           .returning(RuleVersion.id))  # fmt: skip
    return version


def add_sent(db, account_id: int, *, category: str = "reengagement", to_contact: bool = True,
             sent_at: datetime = datetime(2026, 4, 1, 12, tzinfo=UTC), status: str = "sent") -> None:  # fmt: skip
    with db.session() as s:
        contact = None
        if to_contact:
            contact = s.scalar(insert(Contact).values(external_id=f"c-{account_id}-{category}-{sent_at:%j}-{status}",
                                                      account_id=account_id, email="p@x.test").returning(Contact.id))  # fmt: skip
        n = s.scalar(select(Delivery.id).order_by(Delivery.id.desc()).limit(1)) or 0
        s.execute(insert(Delivery).values(
            dedupe_key=f"k{n + 1}", rule_id="r", rule_version_id=_version(s), action_index=0, channel="email",
            template="t", account_id=account_id, contact_id=contact, recipient="p@x.test", occurrence=str(n + 1),
            status=status, category=category, sent_at=sent_at if status == "sent" else None, created_at=sent_at,
        ))  # fmt: skip


def test_marketing_messages_that_reached_the_holdout_are_leaks(db):
    names = [f"leak-{i}" for i in range(400)]
    ids = add_accounts(db, names)
    held = [n for n in names if in_global_holdout(n, 5)]
    kept = [n for n in names if not in_global_holdout(n, 5)]
    assert len(held) >= 8
    add_sent(db, ids[held[0]])  # a leak
    add_sent(db, ids[held[1]]), add_sent(db, ids[held[1]], category="product-tips")  # one account, however many
    add_sent(db, ids[held[2]], category="operational")  # exempt
    add_sent(db, ids[held[3]], category="csm-alerts")  # exempt by this policy
    add_sent(db, ids[held[4]], to_contact=False)  # an alert to the owner
    add_sent(db, ids[held[5]], sent_at=datetime(2026, 2, 28, 23, 59, tzinfo=UTC))  # before the period
    add_sent(db, ids[held[6]], sent_at=datetime(2026, 6, 1, tzinfo=UTC))  # after it
    add_sent(db, ids[held[7]], status="skipped")  # recorded, never sent: what the holdout writes
    add_sent(db, ids[kept[0]])  # the program's own accounts are meant to get them
    found = result(db)
    assert found.leaked == 2 and not found.trustworthy


def test_what_it_refuses(db):
    with pytest.raises(GlobalHoldoutOff):
        result(db, Policy())
    with pytest.raises(GlobalHoldoutOff):
        result(db, Policy(global_holdout=GlobalHoldout(0.0)))
    with pytest.raises(ValueError, match="the period is empty"):
        result(db, since=UNTIL, until=SINCE)
    with pytest.raises(TypeError, match="since must be a date"):
        result(db, since=datetime(2026, 3, 1, tzinfo=UTC))
    with pytest.raises(ValueError, match="naive"):
        result(db, now=datetime(2026, 3, 1))


def test_a_period_reaching_past_today_is_partial(db):
    add_accounts(db, [f"p-{i}" for i in range(50)])
    assert result(db, now=datetime(2026, 5, 31, 23, tzinfo=UTC)).partial
    assert not result(db, now=datetime(2026, 6, 1, 0, tzinfo=UTC)).partial
    assert result(db, Policy(global_holdout=HOLDOUT)).percent == 5.0  # a Policy or its GlobalHoldout


# -- end to end: the policy file, the cycle, the sends, the result ------------------------------------


RULE = ("id: win-back\nname: Win back\ncategory: reengagement\nwhen:\n  account.plan: trial\nactions:\n"
        "  - in_app: {template: onboarding/checklist, to: role:admin}\n"
        "max_messages_per_cycle: 100000\n")  # fmt: skip
FIRED = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
POLICY = "global_holdout:\n  percent: {percent}\n  measure: {{event: login, within: 30d}}\n"


def _campaign(db, tmp_path: Path, monkeypatch, percent: str, names: list[str]) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY.format(percent=percent))
    monkeypatch.setenv("TOUCHLINE_POLICY_FILE", str(path))
    rule = validate_text(RULE, "win-back.yaml", expected_id="win-back").rule
    with db.session() as s:
        apply_rules(s, [(rule, RULE)], author="test")
        upsert_accounts(s, [{"id": n, "name": n, "plan": "trial", "owner": "csm@vendor.test",
                             "signup_at": "2026-01-05T00:00:00Z"} for n in names])  # fmt: skip
        upsert_contacts(s, [{"id": f"{n}-a", "account_id": n, "email": f"a@{n}.test", "role": "admin"} for n in names])
    with db.read_session() as s:
        rules = active_rules(s)
    run_cycle(db, rules, FIRED, only_due=False)
    settings = dataclasses.replace(load_settings(), policy_file=path)
    jobs: list = []
    dispatch(db, FIRED, lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
    for job_id, ids in jobs:
        send_claimed(db, settings, job_id, ids, lambda: FIRED + timedelta(minutes=5))
    return path


def test_the_cycles_control_group_is_the_results_holdout_arm_with_no_leak(db, tmp_path, monkeypatch):
    names = [f"e2e-{i}" for i in range(300)]
    path = _campaign(db, tmp_path, monkeypatch, "10%", names)
    with db.read_session() as s:
        skipped = set(s.scalars(select(Account.external_id).join(Delivery, Delivery.account_id == Account.id)
                                .where(Delivery.status == "skipped")))  # fmt: skip
        sent = set(s.scalars(select(Account.external_id).join(Delivery, Delivery.account_id == Account.id)
                             .where(Delivery.status == "sent", Delivery.contact_id.is_not(None))))  # fmt: skip
    assert skipped == {n for n in names if in_global_holdout(n, 10)}
    assert sent == set(names) - skipped
    found = result(db, load_policy(path), since=date(2026, 11, 1), until=date(2026, 12, 1))
    assert found.holdout.accounts == len(skipped) and found.program.accounts == len(names) - len(skipped)
    assert found.leaked == 0


def test_turning_it_on_after_sends_shows_the_leaks(db, tmp_path, monkeypatch):
    names = [f"late-{i}" for i in range(300)]
    path = _campaign(db, tmp_path, monkeypatch, "0%", names)  # off: everyone gets the play
    path.write_text(POLICY.format(percent="10%"))
    found = result(db, load_policy(path), since=date(2026, 11, 1), until=date(2026, 12, 1))
    assert found.leaked == found.holdout.accounts == sum(in_global_holdout(n, 10) for n in names)
    # A period that starts after it was turned on has none.
    assert result(db, load_policy(path), since=date(2026, 11, 24), until=date(2026, 12, 24)).leaked == 0
