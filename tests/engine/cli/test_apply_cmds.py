import shutil
from datetime import datetime, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from engine.cli import cli
from engine.models import Account, Contact, RuleVersion

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
    assert "new-admin-welcome: new; not planned: contact-level" in lines
    assert lines[-1] == "6 new, 0 changed, 0 unchanged"

    result = run("apply", env={"USER": "ann"})
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:6] == [f"{rule_id}: version 1 (new)" for rule_id in IDS]
    assert result.output.splitlines()[6].startswith("applied 6 rules, 0 unchanged")

    result = run("apply", "--author", "bob")
    assert result.output.splitlines()[:6] == [f"{rule_id}: unchanged (version 1)" for rule_id in IDS]
    assert result.output.splitlines()[6].startswith("applied 0 rules, 6 unchanged")

    result = run("plan", "--at", "2026-11-20T12:00:00Z")
    assert "onboarding-stalled-day7: unchanged; not planned (use --all)" in result.output
    assert result.output.splitlines()[-1] == "0 new, 0 changed, 6 unchanged"
    result = run("plan", "--all", "--at", "2026-11-20T12:00:00Z")
    assert "onboarding-stalled-day7: unchanged\n  entering 1, leaving 0\n  messages: email 2, in_app 2\n" in result.output

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
