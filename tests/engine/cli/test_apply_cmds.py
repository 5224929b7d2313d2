import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from engine.cli import cli
from engine.models import Account, Contact, RuleState, RuleVersion, SegmentMembership

RULES = Path(__file__).resolve().parents[3] / "rules"
IDS = (
    "inactive-account-reminder", "key-feature-usage-falling", "new-admin-welcome",
    "onboarding-stalled-day7", "owner-changed-high-touch", "renewal-within-60-days",
)  # fmt: skip


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env=env)


@pytest.fixture
def rules_dir(tmp_path: Path, monkeypatch) -> Path:
    shutil.copytree(RULES, tmp_path / "rules")
    monkeypatch.chdir(tmp_path)  # the commands default to rules/
    monkeypatch.setenv("TOUCHLINE_TEMPLATES_DIR", str(RULES.parent / "email_templates"))
    return tmp_path / "rules"


def test_plan_apply_and_plan_again(db, rules_dir):
    with db.session() as s:
        account = Account(external_id="acct-x", name="X", tier="tech", signup_at=datetime(2026, 11, 10, tzinfo=timezone.utc))
        s.add(account)
        s.flush()
        s.add_all(
            Contact(external_id=f"c{i}", account_id=account.id, role="admin", email=f"c{i}@example.com") for i in range(2)
        )

    result = run("plan", "--at", "2026-11-20T12:00:00Z")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == "plan at 2026-11-20 12:00:00Z"
    start = lines.index("onboarding-stalled-day7: new")
    assert lines[start : start + 4] == [
        "onboarding-stalled-day7: new",
        "  entering 1, leaving 0",
        "  messages: email 2, in_app 2",
        "  sample: acct-x",
    ]
    start = lines.index("new-admin-welcome: new")
    # A contact-level rule counts contacts; acct-x signed up too recently for it.
    assert lines[start + 1 : start + 3] == ["  entering 0 contacts, leaving 0 contacts", "  messages: email 0, in_app 0"]
    assert lines[-1] == "6 new, 0 changed, 0 unchanged"

    result = run("apply", env={"USER": "ann"})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:6] == [f"{rule_id}: version 1 (new)" for rule_id in IDS]
    assert result.output.splitlines()[6].startswith("applied 6 rules, 0 unchanged")
    with db.read_session() as s:  # what the plan predicted is kept for the circuit breaker
        predicted = dict(s.execute(select(RuleVersion.rule_id, RuleVersion.predicted_messages)).all())
    assert set(predicted) == set(IDS) and all(isinstance(n, int) for n in predicted.values())
    assert predicted["owner-changed-high-touch"] == 0  # acct-x has no owner change

    result = run("apply", "--author", "bob")
    assert result.output.splitlines()[:6] == [f"{rule_id}: unchanged (version 1)" for rule_id in IDS]
    assert result.output.splitlines()[6].startswith("applied 0 rules, 6 unchanged")

    result = run("plan", "--at", "2026-11-20T12:00:00Z")
    assert "onboarding-stalled-day7: unchanged; not evaluated now (--all evaluates it)\n  in segment 0 (not evaluated yet)\n" in result.output
    assert result.output.splitlines()[-1] == "0 new, 0 changed, 6 unchanged"
    result = run("plan", "--all", "--at", "2026-11-20T12:00:00Z")
    assert "onboarding-stalled-day7: unchanged\n  entering 1, leaving 0\n  messages: email 2, in_app 2\n" in result.output
    # Once the cycle has run, an unchanged rule shows who is in its segment and since when.
    with db.session() as s:
        account_id = s.scalar(select(Account.id).where(Account.external_id == "acct-x"))
        s.add(SegmentMembership(rule_id="onboarding-stalled-day7", subject_key=f"account:{account_id}", account_id=account_id))
        s.get(RuleState, "onboarding-stalled-day7").last_evaluated_at = datetime(2026, 11, 20, 11, 45, tzinfo=timezone.utc)
    result = run("plan", "--at", "2026-11-20T12:00:00Z")
    assert ("onboarding-stalled-day7: unchanged; not evaluated now (--all evaluates it)\n"
            "  in segment 1 (evaluated 2026-11-20 11:45:00Z)\n  members: acct-x\n") in result.output  # fmt: skip
    assert "new-admin-welcome: unchanged; not evaluated now (--all evaluates it)\n  in segment 0 contacts" in result.output

    path = rules_dir / "onboarding-stalled-day7.yaml"
    path.write_text(path.read_text().replace("holdout: 10%", "holdout: 20%"))
    result = run("apply", str(path))
    assert result.output.splitlines()[0] == "onboarding-stalled-day7: version 2 (changed)"
    with db.read_session() as s:
        authors = dict(s.execute(select(RuleVersion.version, RuleVersion.author).where(RuleVersion.rule_id == "onboarding-stalled-day7")).all())
    assert authors[1] == "ann"


def test_problems_stop_apply_and_fail_plan(db, rules_dir):
    broken = rules_dir / "renewal-within-60-days.yaml"
    broken.write_text(broken.read_text().replace("holdout:", "holdot:"))
    result = run("apply")
    assert result.exit_code == 1
    assert result.output.splitlines()[0].startswith(f"{Path('rules') / 'renewal-within-60-days.yaml'}:")
    assert "unknown key 'holdot'" in result.output
    assert "nothing applied; fix the problems first" in result.output
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(RuleVersion)) == 0

    result = run("plan")
    assert result.exit_code == 1
    assert "unknown key 'holdot'" in result.output.splitlines()[0]
    assert result.output.splitlines()[-1] == "5 new, 0 changed, 0 unchanged"  # the good rules are still planned


def test_bad_at_is_a_usage_error(db, rules_dir):
    result = run("plan", "--at", "yesterday")
    assert result.exit_code == 2
    assert "--at" in result.output


def test_pause_resume_and_list(db, rules_dir):
    assert run("rules", "list").output == "no rules applied yet; run touchline apply\n"
    result = run("rules", "pause", "onboarding-stalled-day7")
    assert result.exit_code == 2 and "Missing option '--reason'" in result.output  # a pause says why
    result = run("rules", "pause", "onboarding-stalled-day7", "--reason", "copy review")
    assert result.exit_code == 1
    assert "no applied rule 'onboarding-stalled-day7' (no rules are applied yet; run touchline apply)" in result.output

    run("apply", "--author", "ann")
    result = run("rules", "pause", "onboarding-stalled-day7", "--reason", "copy review")
    assert (result.exit_code, result.output) == (0, "paused onboarding-stalled-day7: copy review\n")
    lines = run("rules", "list").output.splitlines()
    assert lines[0].split() == ["RULE", "VERSION", "PAUSED", "APPLIED", "AT", "AUTHOR"]
    assert len(lines) == 7
    row = next(line for line in lines if line.startswith("onboarding-stalled-day7"))
    assert row.split()[1:5] == ["1", "yes", "(copy", "review)"] and row.endswith("Z  ann")
    assert run("plan").output.count("(paused)") == 1

    result = run("rules", "resume", "onboarding-stalled-day7")
    assert (result.exit_code, result.output) == (0, "resumed onboarding-stalled-day7\n")
    row = next(line for line in run("rules", "list").output.splitlines() if line.startswith("onboarding-stalled-day7"))
    assert row.split()[1:3] == ["1", "no"]

    result = run("rules", "resume", "nope")
    assert result.exit_code == 1
    assert "no applied rule 'nope' (applied rules: inactive-account-reminder," in result.output


def test_plan_backtest_prints_one_line_per_day(db, rules_dir):
    from engine.ingest import upsert_accounts
    from engine.models import AccountChange, SegmentMembership

    with db.session() as s:
        upsert_accounts(s, [{"id": "acct-h", "name": "H", "tier": "high", "owner": "ann@example.com"},
                            {"id": "acct-t", "name": "T", "tier": "tech", "owner": "tom@example.com"}])  # fmt: skip
        upsert_accounts(s, [{"id": "acct-h", "owner": "bob@example.com"}, {"id": "acct-t", "owner": "tim@example.com"}])
        for change in s.scalars(select(AccountChange)):
            change.changed_at = datetime(2026, 11, 14, 9, 0, tzinfo=timezone.utc)  # six days before --at

    result = run("plan", "--backtest", "7d", "owner-changed-high-touch", "--at", "2026-11-20T12:00:00Z")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[:11] == [
        "backtest of owner-changed-high-touch: 7 days to 2026-11-20, each day evaluated at 12:00:00Z",
        "baseline 2026-11-13 (the day before): 0 matching, taken as members already (their entry is not counted)",
        "DATE        MATCHED  ENTERED  LEFT  FIRED  WEBHOOK  EMAIL",
        "2026-11-14        1        1     0      1        1      1",
        "2026-11-15        1        0     0      0        0      0",
        "2026-11-16        1        0     0      0        0      0",
        "2026-11-17        1        0     0      0        0      0",
        "2026-11-18        1        0     0      0        0      0",
        "2026-11-19        1        0     0      0        0      0",
        "2026-11-20        1        0     0      0        0      0",
        "total                      1     0      1        1      1",
    ]
    assert lines[-1] == "Nothing was written."
    # A rule file given by path works the same; the tech-tier account never matches.
    result = run("plan", str(rules_dir / "owner-changed-high-touch.yaml"), "--backtest", "1d", "owner-changed-high-touch")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[3].split()[1:] == ["1", "0", "0", "0", "0", "0"]
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(SegmentMembership)) == 0


@pytest.mark.parametrize("duration", ["0d", "367d", "30", "1w", "-3d", "2.5d"])
def test_plan_backtest_needs_whole_days(db, rules_dir, duration):
    result = run("plan", "--backtest", duration, "owner-changed-high-touch")
    assert result.exit_code == 2
    assert f"Invalid value for '--backtest': '{duration}': expected whole days from 1d to 366d, such as 30d" in result.output


def test_plan_backtest_errors(db, rules_dir):
    result = run("plan", "--backtest", "30d", "nope")
    assert result.exit_code == 1
    assert "Error: no rule 'nope' in rules/ (rules found: inactive-account-reminder, key-feature-usage-falling," in result.output

    result = run("plan", "--backtest", "30d", "new-admin-welcome")
    assert result.exit_code == 1
    assert "Error: new-admin-welcome: contact-level rules cannot be backtested yet" in result.output

    result = run("plan", "--backtest", "30d", "owner-changed-high-touch", "--backtest", "30d", "new-admin-welcome")
    assert result.exit_code == 2
    assert "--backtest takes one rule at a time" in result.output

    result = run("plan", "--backtest", "30d")
    assert result.exit_code == 2
    assert "'--backtest' requires 2 arguments" in result.output

    result = run("plan", "--all", "--backtest", "30d", "owner-changed-high-touch")
    assert result.exit_code == 2
    assert "--all does not go with --backtest" in result.output

    broken = rules_dir / "owner-changed-high-touch.yaml"
    broken.write_text(broken.read_text().replace("priority:", "priorty:"))
    result = run("plan", "--backtest", "30d", "owner-changed-high-touch")
    assert result.exit_code == 1
    assert "unknown key 'priorty'" in result.output
    assert "no rule 'owner-changed-high-touch' in rules/" in result.output and "files with problems are left out" in result.output


def test_apply_reports_deep_nesting_at_its_position_and_applies_nothing(db, rules_dir):
    deep = "{all: [" * 300 + "{account.tier: tech}" + "]}" * 300
    (rules_dir / "deep.yaml").write_text(f"id: deep\nname: Deep\nwhen: {deep}\nactions:\n  - email: {{template: a, to: owner}}\n")
    result = CliRunner().invoke(cli, ["apply"])
    assert result.exit_code == 1 and result.exception is not None and isinstance(result.exception, SystemExit)
    assert f"rules/deep.yaml:3:{7 + 7 * 32}: nested deeper than 64 levels" in result.output
    assert "nothing applied" in result.output
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(RuleVersion)) == 0


def test_plan_and_apply_report_a_missing_template_at_its_line(db, rules_dir):
    path = rules_dir / "onboarding-stalled-day7.yaml"
    path.write_text(path.read_text().replace("template: onboarding/stalled,", "template: onboarding/stalld,"))
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "onboarding/stalld" in text)
    column = path.read_text().splitlines()[line - 1].index("template") + 1
    expected = (f"rules/onboarding-stalled-day7.yaml:{line}:{column}: actions[0].email.template: template 'onboarding/stalld' "
                "does not exist in ")  # fmt: skip

    planned = run("plan", "--at", "2026-11-20T12:00:00Z")
    assert planned.exit_code == 1
    assert planned.output.startswith(expected) and "(did you mean 'onboarding/stalled'?)" in planned.output
    assert "renewal-within-60-days: new" in planned.output  # the other rules are still planned
    assert "onboarding-stalled-day7: new" not in planned.output

    applied = run("apply")
    assert applied.exit_code == 1 and applied.output.startswith(expected)
    assert "nothing applied" in applied.output
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(RuleVersion)) == 0
