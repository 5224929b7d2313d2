"""touchline accounts search / show: the CLI twins of the admin's Accounts pages."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from click.testing import CliRunner

from engine.cli import cli
from engine.ingest import upsert_accounts, upsert_contacts
from engine.rules.versions import apply_rules, read_rules
from tests.conftest import ROOT

AT = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def run(*args: str):
    return CliRunner().invoke(cli, ["accounts", *args])


def test_search_prints_rows_and_the_next_page_command(db):
    with db.session() as s:
        upsert_accounts(s, [{"id": f"acct-{i}", "name": f"Shop {i}", "tier": "tech"} for i in range(3)])
        upsert_contacts(s, [{"id": "u1", "account_id": "acct-1", "email": "ann@shop.example"}])
    first = run("search", "acct", "--limit", "2")
    assert first.exit_code == 0, first.output
    assert [line.split("\t")[0] for line in first.stdout.splitlines()] == ["acct-0", "acct-1"]
    assert "more: touchline accounts search 'acct' --after acct-1" in first.stderr
    assert run("search", "shop.example").stdout.splitlines()[0].startswith("acct-1\tShop 1\ttech\t-\t-\t1 contact")
    assert run("search", "zzz").stdout.strip() == "no accounts match"
    bad = run("search", "--tier", "gold")
    assert bad.exit_code == 1 and "unknown tier 'gold'; expected one of high, low, tech" in bad.output


def test_show_prints_the_account_and_each_rule_with_its_conditions(db):
    with db.session() as s:
        apply_rules(s, read_rules([str(ROOT / "rules")]).rules, author="test")
        upsert_accounts(s, [{"id": "stalled", "name": "Stalled Ltd", "tier": "tech", "signup_at": (AT - timedelta(days=10)).isoformat()}])
    shown = run("show", "stalled", "--at", AT.isoformat())
    assert shown.exit_code == 0, shown.output
    lines = shown.output.splitlines()
    assert lines[0] == "stalled  Stalled Ltd"
    at = lines.index("onboarding-stalled-day7 v1: matches")
    assert lines[at + 1 : at + 3] == ["  [yes] all of", "    [yes] account.tier eq 'tech'  (saw: tech)"]
    assert "new-admin-welcome v1: 0 of 0 contacts match" in lines
    missing = run("show", "ghost")
    assert missing.exit_code == 1 and "no account with id 'ghost'" in missing.output
    assert run("show", "stalled", "--at", "soon").exit_code == 2
