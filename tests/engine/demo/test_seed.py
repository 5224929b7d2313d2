from collections import defaultdict
from datetime import date, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine import migrate
from engine.cli import cli
from engine.db import Database
from engine.demo import ARCHETYPES, EVENT_NAMES, DemoRefused, seed
from engine.models import Account, AccountChange, Contact, DailyUsage, Event


@pytest.fixture(autouse=True)
def _long_retention(monkeypatch):
    """Some tests pin the reference date; keep it inside the raw-event retention for good."""
    monkeypatch.setenv("TOUCHLINE_EVENT_RETENTION_DAYS", "36500")


REF = datetime(2026, 3, 2, tzinfo=timezone.utc)
EN_ZONES = {"America/New_York", "America/Los_Angeles", "Europe/London", "Europe/Berlin", "Australia/Sydney"}


def utc(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def snapshot(db: Database) -> dict:
    """Everything seeding wrote, keyed by external ids (internal ids may differ between databases)."""
    with db.read_session() as s:
        accounts = {a.id: a for a in s.scalars(select(Account))}
        contacts = {c.id: c for c in s.scalars(select(Contact))}
        ext = {i: a.external_id for i, a in accounts.items()}
        return {
            "accounts": sorted(
                (a.external_id, a.name, a.tier, a.plan, str(a.mrr), a.owner, utc(a.signup_at), utc(a.renewal_at),
                 a.timezone, a.locale, sorted(a.traits.items()))
                for a in accounts.values()
            ),  # fmt: skip
            "contacts": sorted(
                (c.external_id, ext[c.account_id], c.email, c.name, c.role, c.locale, c.timezone, utc(c.last_seen_at))
                for c in contacts.values()
            ),
            "events": sorted(
                (e.external_id, ext[e.account_id], contacts[e.contact_id].external_id, e.name, utc(e.occurred_at),
                 sorted(e.properties.items()))
                for e in s.scalars(select(Event))
            ),  # fmt: skip
            "rollups": sorted(
                (ext[u.account_id], u.event_name, u.day, u.count, u.active_contacts) for u in s.scalars(select(DailyUsage))
            ),
            "changes": sorted(
                (ext[c.account_id], c.field, c.old_value, c.new_value, utc(c.changed_at))
                for c in s.scalars(select(AccountChange))
            ),
        }


@pytest.fixture
def other_db(tmp_path):
    other = Database(f"sqlite:///{tmp_path / 'other.db'}")
    migrate.upgrade(other)
    yield other
    other.dispose()


def test_same_seed_and_date_give_identical_data(db, other_db):
    first = seed(db, accounts=60, seed=7, days=60, now=REF)
    second = seed(other_db, accounts=60, seed=7, days=60, now=REF + timedelta(hours=13))  # same UTC day
    assert first["events"] == second["events"] > 1000
    a, b = snapshot(db), snapshot(other_db)
    for key in a:
        assert a[key] == b[key], key
    assert len(a["accounts"]) == 60 and a["changes"]


def test_another_seed_gives_other_data(db, other_db):
    seed(db, accounts=30, seed=1, days=40, now=REF)
    seed(other_db, accounts=30, seed=2, days=40, now=REF)
    a, b = snapshot(db), snapshot(other_db)
    assert a["accounts"] != b["accounts"]
    assert {e[0] for e in a["events"]}.isdisjoint(e[0] for e in b["events"])


def usage(rollups, account, name, start, end):
    """Events of ``name`` on days in [REF+start, REF+end) from the rollups."""
    lo, hi = (REF + timedelta(days=start)).date(), (REF + timedelta(days=end)).date()
    return sum(count for (acc, ev, day), count in rollups.items() if acc == account and ev == name and lo <= day < hi)


def test_archetypes_hold_what_they_promise(db):
    summary = seed(db, accounts=60, seed=42, days=90, now=date(2026, 3, 2))
    assert summary["reference"].startswith("2026-03-02T00:00:00")
    with db.read_session() as s:
        accounts = s.scalars(select(Account)).all()
        contacts = s.scalars(select(Contact)).all()
        rollups = {(u.account_id, u.event_name, u.day): u.count for u in s.scalars(select(DailyUsage))}
        changes = s.scalars(select(AccountChange)).all()
        oldest = min(utc(t) for t in s.scalars(select(Event.occurred_at)))
        newest = max(utc(t) for t in s.scalars(select(Event.occurred_at)))

    assert REF - timedelta(days=90) <= oldest and newest < REF
    assert {name for (_, name, _) in rollups} <= set(EVENT_NAMES)
    by_archetype = defaultdict(list)
    for a in accounts:
        by_archetype[a.traits["archetype"]].append(a)
    assert set(by_archetype) == set(ARCHETYPES)
    assert summary["archetypes"] == {k: len(v) for k, v in by_archetype.items()}

    tiers = {t: [a for a in accounts if a.tier == t] for t in ("high", "low", "tech")}
    assert [len(tiers[t]) for t in ("high", "low", "tech")] == [3, 15, 42]
    assert all(a.owner for a in tiers["high"] + tiers["low"]) and not any(a.owner for a in tiers["tech"])
    assert all(a.plan == "enterprise" and a.mrr >= 4000 for a in tiers["high"])
    assert all(a.plan in ("starter", "team") and a.mrr < 600 for a in tiers["tech"])

    per_account = defaultdict(list)
    for c in contacts:
        per_account[c.account_id].append(c)
        assert c.locale in ("ja", "en") and c.timezone in EN_ZONES | {"Asia/Tokyo"}
        if c.locale == "ja":
            assert c.timezone == "Asia/Tokyo"
    assert all(1 <= len(per_account[a.id]) <= 8 for a in accounts)
    assert all(any(c.role == "admin" for c in per_account[a.id]) for a in accounts)
    assert {a.locale for a in accounts} == {"ja", "en"}

    owner_changes = {c.account_id: c for c in changes if c.field == "owner"}
    for name, group in by_archetype.items():
        for a in group:
            signup, renewal = utc(a.signup_at), utc(a.renewal_at)
            reports = [usage(rollups, a.id, "report_run", start, start + 14) for start in (-28, -14)]
            last_30 = sum(usage(rollups, a.id, n, -30, 0) for n in EVENT_NAMES)
            assert (a.id in owner_changes) == (name == "owner_changed"), a.external_id
            assert (renewal <= REF + timedelta(days=60)) == (name == "renewal_approaching"), a.external_id
            assert renewal > REF
            assert (last_30 == 0) == (name == "churned"), a.external_id
            if name in ("stalled_onboarding", "onboarded"):
                assert REF - timedelta(days=30) < signup < REF - timedelta(days=7)
                created = usage(rollups, a.id, "project_created", -90, 0)
                assert (created == 0) == (name == "stalled_onboarding")
                if name == "stalled_onboarding":
                    assert usage(rollups, a.id, "login", -30, 0) >= 3 and sum(reports) == 0
            else:
                assert signup < REF - timedelta(days=90)
            falling = reports[0] > 0 and reports[1] < 0.5 * reports[0]
            assert falling == (name == "falling_usage"), a.external_id
            if name == "falling_usage":
                assert reports[1] < 0.4 * reports[0] and reports[0] >= 8
                assert usage(rollups, a.id, "login", -14, 0) >= 2  # logins hide the fall
            if name in ("healthy", "owner_changed", "renewal_approaching"):
                assert min(reports) >= 3 and reports[1] >= 0.5 * reports[0]
            if name == "owner_changed":
                change = owner_changes[a.id]
                assert REF - timedelta(days=30) <= utc(change.changed_at) < REF
                assert change.new_value == a.owner != change.old_value


def test_refuses_a_database_with_accounts(db):
    seed(db, accounts=5, seed=1, days=40, now=REF)
    with pytest.raises(DemoRefused, match="--force"):
        seed(db, accounts=5, seed=1, days=40, now=REF)


def test_cli_refuses_without_force_and_reseeding_changes_nothing(db):
    runner = CliRunner()
    args = ["demo", "--accounts", "40", "--days", "40", "--date", "2026-03-02"]
    first = runner.invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "seeded 40 accounts" in first.output
    before = snapshot(db)

    refused = runner.invoke(cli, args)
    assert refused.exit_code == 1
    assert "already has 40 accounts" in refused.output and "--force" in refused.output

    forced = runner.invoke(cli, [*args, "--force"])
    assert forced.exit_code == 0, forced.output
    assert snapshot(db) == before  # same seed and day: every row already there, no new owner changes


def test_cli_minimum_days_matches_the_generator():
    from engine.cli import demo_cmds
    from engine.demo.generate import MIN_DAYS

    assert demo_cmds.MIN_DAYS == MIN_DAYS
