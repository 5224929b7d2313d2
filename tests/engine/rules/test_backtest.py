"""Backtests on small hand-made histories, day by day, and against the real evaluation cycle."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

import pytest
from sqlalchemy import func, select

from engine.db import Database
from engine.ingest import track_events, upsert_accounts, upsert_contacts
from engine.models import AccountChange, Delivery, RuleState, RuleVersion, SegmentMembership
from engine.rules.backtest import Backtest, backtest, report_lines
from engine.rules.cycle import run_cycle
from engine.rules.schema import Rule
from engine.rules.validate import validate_text

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)
TODAY = NOW.date()
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def make_rule(
    when: str, trigger: str = "on_enter", dwell: str = "0d", actions: str | None = None, level: str = ""
) -> Rule:
    actions = actions or "  - email: {template: t/hello, to: contacts}\n"
    text = (f"id: r\nname: R\n{level}when:\n  {when}\ntrigger: {trigger}\nmin_dwell: {dwell}\n"
            f"actions:\n{actions}")  # fmt: skip
    result = validate_text(text, "r.yaml", expected_id="r")
    assert result.rule is not None, result.problems
    return result.rule


def add_accounts(db: Database, *records: dict) -> None:
    with db.session() as s:
        result = upsert_accounts(s, list(records))
    assert not result.rejected and result.accepted == len(records), result


def add_contacts(db: Database, *records: dict) -> None:
    with db.session() as s:
        result = upsert_contacts(s, list(records))
    assert not result.rejected, result.rejected


def logins(db: Database, account: str, days_ago: set[int]) -> None:
    """One login at 09:00 UTC on each of these days before today."""
    records = [
        {"id": f"{account}-{k}", "account_id": account, "name": "login",
         "timestamp": datetime.combine(TODAY - k * DAY, time(9), tzinfo=timezone.utc).isoformat()}
        for k in sorted(days_ago)
    ]  # fmt: skip
    with db.session() as s:
        result = track_events(s, records, now=NOW, retention_days=400)
    assert not result.rejected and result.accepted == len(records), result


def change_owner(db: Database, account: str, owner: str, at: datetime) -> None:
    """Change the owner through ingest, then date the recorded change back to ``at``."""
    add_accounts(db, {"id": account, "owner": owner})
    with db.session() as s:
        change = s.scalars(select(AccountChange).order_by(AccountChange.id.desc()).limit(1)).one()
        assert (change.field, change.new_value) == ("owner", owner)
        change.changed_at = at


def column(result: Backtest, name: str) -> list[int]:
    return [getattr(d, name) for d in result.days]


def by_day(days: int, values: dict[int, int]) -> list[int]:
    """A column of ``days`` rows (oldest first) from {days before today: value}."""
    return [values.get(k, 0) for k in range(days - 1, -1, -1)]


def nothing_written(db: Database) -> None:
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(SegmentMembership)) == 0
        assert s.scalar(select(func.count()).select_from(Delivery)) == 0


def test_an_account_enters_on_the_day_its_usage_stops(db):
    add_accounts(db, {"id": "quiet", "name": "Quiet"}, {"id": "busy", "name": "Busy"}, {"id": "never", "name": "Never"})
    logins(db, "quiet", set(range(8, 41)))  # last login 8 days ago
    logins(db, "busy", set(range(0, 41)))
    add_contacts(
        db,
        {"id": "q1", "account_id": "quiet", "email": "a@example.com"},
        {"id": "q2", "account_id": "quiet", "email": "b@example.com"},
        {"id": "q3", "account_id": "quiet", "email": "a@example.com"},  # shares an address: one message
        {"id": "q4", "account_id": "quiet"},  # no address: no email, still an in-app recipient
    )
    rule = make_rule(
        "event.login.count: {in_last: 3d, eq: 0}",
        actions="  - email: {template: t/a, to: contacts}\n  - in_app: {template: t/b, to: contacts}\n",
    )
    with db.read_session() as s:
        result = backtest(s, rule, 10, NOW)

    assert [d.day for d in result.days] == [TODAY - k * DAY for k in range(9, -1, -1)]
    # "never" matches on the baseline day already: a member from the start, not an entry.
    assert (result.baseline, result.baseline_matched) == (TODAY - 10 * DAY, 1)
    # The 3-day window is empty from 5 days ago (logins up to 8 days ago).
    assert column(result, "matched") == [1, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    assert column(result, "entered") == by_day(10, {5: 1})
    assert column(result, "left") == [0] * 10
    assert column(result, "fired") == by_day(10, {5: 1})
    assert [d.messages for d in result.days][4] == {"email": 2, "in_app": 4}
    assert result.total_messages() == {"email": 2, "in_app": 4}
    nothing_written(db)


def test_owner_history_is_read_as_of_each_day(db):
    add_accounts(db, *({"id": a, "name": a, "owner": "ann"} for a in ("moved", "twice", "late", "still")))
    change_owner(db, "moved", "bob", NOW - 10 * DAY - HOUR)  # before the day's evaluation time
    change_owner(db, "twice", "bob", NOW - 20 * DAY + HOUR)  # after it: counts from the next day
    change_owner(db, "twice", "carol", NOW - 5 * DAY - HOUR)
    change_owner(db, "late", "bob", NOW - 3 * DAY + 2 * HOUR)

    with db.read_session() as s:
        is_bob = backtest(s, make_rule("account.owner: bob"), 30, NOW)
        changed = backtest(s, make_rule("account.owner.changed: {in_last: 7d}"), 30, NOW)

    bob = {"moved": range(0, 11), "twice": range(6, 20), "late": range(0, 3)}
    assert is_bob.baseline_matched == 0
    assert column(is_bob, "matched") == by_day(30, {k: sum(k in r for r in bob.values()) for k in range(30)})
    assert column(is_bob, "entered") == by_day(30, {10: 1, 19: 1, 2: 1})
    assert column(is_bob, "left") == by_day(30, {5: 1})
    assert column(is_bob, "fired") == column(is_bob, "entered")

    # A change counts on its UTC day, but only once it has happened (not before the day's evaluation time).
    recent = {"moved": range(4, 11), "twice-1": range(14, 20), "twice-2": range(0, 6), "late": range(0, 3)}
    assert column(changed, "matched") == by_day(30, {k: sum(k in r for r in recent.values()) for k in range(30)})
    assert column(changed, "entered") == by_day(30, {10: 1, 19: 1, 5: 1, 2: 1})
    assert column(changed, "left") == by_day(30, {3: 1, 13: 1})
    nothing_written(db)


# Days before today without a login, so matching "no login today": P leaves and
# comes back within min_dwell, Q stays throughout, R stays 3 days then re-enters.
NO_LOGIN = {"p": {12, 11, *range(0, 10)}, "q": set(range(0, 14)), "r": {8, 7, 6, 1, 0}}
DWELL_REMIND = dict(when="event.login.count: {in_last: 1d, eq: 0}", trigger="{while_matching: {every: 3d}}", dwell="2d")


def flickering_accounts(db: Database) -> None:
    add_accounts(db, *({"id": a, "name": a} for a in NO_LOGIN))
    add_contacts(db, *({"id": f"{a}-1", "account_id": a, "email": f"{a}@example.com"} for a in NO_LOGIN))
    for account, quiet in NO_LOGIN.items():
        logins(db, account, set(range(0, 16)) - quiet)


def test_min_dwell_debounce_and_reminders(db):
    flickering_accounts(db)
    with db.read_session() as s:
        result = backtest(s, make_rule(**DWELL_REMIND), 15, NOW)

    assert result.baseline_matched == 0
    assert column(result, "matched") == by_day(15, {k: sum(k in q for q in NO_LOGIN.values()) for k in range(15)})
    assert column(result, "entered") == by_day(15, {13: 1, 12: 1, 9: 1, 8: 1, 1: 1})
    assert column(result, "left") == by_day(15, {10: 1, 5: 1})
    # Q: entry once it has stayed 2 days (11), then every 3 days from its entry (10, 7, 4, 1).
    # P: its first stay ends before 2 days; its re-entry comes 1 day after leaving, so that
    # entry is debounced (7) and only its reminders fire (6, 3, 0). R: entry (6); its
    # re-entry one day ago has not stayed 2 days yet.
    assert column(result, "fired") == by_day(15, {11: 1, 10: 1, 7: 1, 6: 2, 4: 1, 3: 1, 1: 1, 0: 1})
    assert column(result, "debounced") == by_day(15, {7: 1})
    assert [d.messages["email"] for d in result.days] == column(result, "fired")
    assert result.total("fired") == 9
    nothing_written(db)


def test_agrees_with_the_evaluation_cycle_run_every_day(db):
    flickering_accounts(db)
    rule = make_rule(**DWELL_REMIND)
    with db.read_session() as s:
        result = backtest(s, rule, 15, NOW)
    with db.session() as s:
        version = RuleVersion(rule_id=rule.id, version=1, content="(test)", content_hash="0" * 64, author="test")
        s.add(version)
        s.flush()
        s.add(RuleState(rule_id=rule.id, active_version_id=version.id))
    with db.read_session() as s:
        state, version = s.scalars(select(RuleState)).one(), s.scalars(select(RuleVersion)).one()

    for row in result.days:
        at = datetime.combine(row.day, NOW.timetz())
        outcome = run_cycle(db, [(state, version, rule)], at, only_due=False).rules[0]
        assert outcome.status == "evaluated", outcome
        seen = (outcome.matched, outcome.entered, outcome.exited, outcome.fired, outcome.debounced, outcome.deliveries)
        assert seen == (row.matched, row.entered, row.left, row.fired, row.debounced, row.messages["email"]), row.day


def test_report_table(db):
    flickering_accounts(db)
    with db.read_session() as s:
        result = backtest(s, make_rule(**DWELL_REMIND), 3, NOW)
    lines = report_lines(result)
    assert lines[:7] == [
        "backtest of r: 3 days to 2026-11-20, each day evaluated at 12:00:00Z",
        "baseline 2026-11-17 (the day before): 2 matching, taken as members already (their entry is not counted)",
        "DATE        MATCHED  ENTERED  LEFT  FIRED  EMAIL",
        "2026-11-18        2        0     0      0      0",
        "2026-11-19        3        1     0      0      0",
        "2026-11-20        3        0     0      2      2",
        "total                      1     0      2      2",
    ]
    # P and Q count as members since the baseline, so their first reminder is due 3 days after it.
    assert "Nothing was written." in lines


def test_refuses_contact_rules_and_bad_lengths(db):
    contact_rule = make_rule("contact.role: admin", level="level: contact\n",
                             actions="  - email: {template: t/a, to: contact}\n")  # fmt: skip
    with db.read_session() as s:
        with pytest.raises(ValueError, match="contact-level rules cannot be backtested yet"):
            backtest(s, contact_rule, 30, NOW)
        for days in (0, 367):
            with pytest.raises(ValueError, match="expected 1 to 366 days"):
                backtest(s, make_rule("account.owner: bob"), days, NOW)
        with pytest.raises(ValueError, match="naive datetime"):
            backtest(s, make_rule("account.owner: bob"), 3, NOW.replace(tzinfo=None))
