"""touchline rules history|diff|rollback|export, and plan/apply when the admin edited a live rule."""

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from engine.cli import cli
from engine.rules.edits import save_rule_text
from engine.rules.live_segments import folder_texts

RULES = Path(__file__).resolve().parents[3] / "rules"
RULE = "onboarding-stalled-day7"


def run(*args: str, env: dict[str, str] | None = None):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False, env=env)


@pytest.fixture
def rules_dir(tmp_path: Path, monkeypatch) -> Path:
    shutil.copytree(RULES, tmp_path / "rules")
    monkeypatch.chdir(tmp_path)  # the commands default to rules/
    monkeypatch.setenv("TOUCHLINE_TEMPLATES_DIR", str(RULES.parent / "email_templates"))
    return tmp_path / "rules"


def admin_edit(db, rules_dir: Path) -> None:
    text = (rules_dir / f"{RULE}.yaml").read_text().replace("holdout: 10%", "holdout: 20%")
    with db.session() as s:
        outcome = save_rule_text(s, text, rule_id=RULE, actor="user:bea@example.com", comment="more holdout", segments=folder_texts(rules_dir / "segments"))
    assert outcome.status == "changed"


def test_history_diff_and_rollback(db, rules_dir):
    assert run("apply", "--author", "ann", "-m", "first cut").exit_code == 0
    admin_edit(db, rules_dir)
    lines = run("rules", "history", RULE).output.splitlines()
    assert lines[0].split() == ["VERSION", "ACTIVE", "ORIGIN", "AUTHOR", "AT", "COMMENT"]
    assert lines[1].split()[:4] == ["2", "*", "admin", "bea@example.com"] and lines[1].endswith("Z  more holdout")
    assert lines[2].split()[:3] == ["1", "file", "ann"] and lines[2].endswith("Z  first cut")

    out = run("rules", "diff", RULE, "1", "2").output.splitlines()
    assert out[:2] == [f"--- {RULE} version 1", f"+++ {RULE} version 2"] and "-holdout: 10%" in out and "+holdout: 20%" in out
    assert run("rules", "diff", RULE, "2", "2").output == f"versions 2 and 2 of {RULE} are identical\n"
    result = run("rules", "diff", RULE, "1", "9")
    assert (result.exit_code, result.output) == (1, f"Error: {RULE} has no version 9 (versions: 1, 2)\n")

    result = run("rules", "rollback", RULE, "1")
    assert result.exit_code == 2 and "Missing option '--comment'" in result.output
    result = run("rules", "rollback", RULE, "1", "--comment", "back to the file")
    assert (result.exit_code, result.output) == (0, f"{RULE}: version 3 (rollback to version 1)\n")
    row = run("rules", "history", RULE).output.splitlines()[1]
    assert row.split()[:3] == ["3", "*", "admin"] and row.endswith("Z  rollback to version 1: back to the file")
    result = run("rules", "rollback", RULE, "1", "-m", "again")
    assert result.output == f"{RULE}: version 1's content is already live (version 3); nothing changed\n"
    assert run("rules", "history", "nope").output.startswith("Error: no rule 'nope' has versions (applied rules: ")


def test_export_then_apply_finds_everything_unchanged(db, rules_dir, tmp_path):
    assert run("rules", "export", "out").output == "no rules applied yet; nothing to export\n"
    run("apply")
    admin_edit(db, rules_dir)
    result = run("rules", "export", "out")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert f"{Path('out') / (RULE + '.yaml')}: written" in lines
    assert lines[-1] == "exported 6 rules: 8 files written, 0 unchanged"
    assert (tmp_path / "out" / f"{RULE}.yaml").read_text() == (rules_dir / f"{RULE}.yaml").read_text().replace("holdout: 10%", "holdout: 20%")
    result = run("apply", "out")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("applied 0 rules, 6 unchanged")
    assert run("rules", "export", "out").output.splitlines()[-1] == "exported 6 rules: 0 files written, 8 unchanged"


def test_plan_warns_and_apply_refuses_to_overwrite_an_admin_edit(db, rules_dir):
    run("apply", "--author", "ann")
    admin_edit(db, rules_dir)

    result = run("plan")
    assert result.exit_code == 0
    assert f"{RULE}: changed (drift: its live version was edited in the admin; see below)" in result.stdout.splitlines()
    err = result.stderr.splitlines()
    assert err[0].startswith(f"warning: drift: {RULE}: the live version 2 was edited in the admin by bea@example.com at ")
    assert err[0].endswith(f"Z (more holdout), after the files were last applied; applying {Path('rules') / (RULE + '.yaml')} would replace it:")
    assert "  -holdout: 20%" in err and "  +holdout: 10%" in err
    assert err[-1].startswith("apply refuses these rules unless --overwrite-admin-edits is given")

    result = run("apply")
    assert result.exit_code == 1
    assert "  -holdout: 20%" in result.stderr.splitlines()
    assert result.stderr.splitlines()[-1].startswith(f"not applied: {RULE} was edited in the admin after the files were last applied.")
    assert "version" not in result.stdout  # nothing applied
    assert run("rules", "history", RULE).output.splitlines()[1].split()[:3] == ["2", "*", "admin"]

    result = run("apply", "--overwrite-admin-edits", "--author", "ann")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[-1].startswith("applied 1 rule, 5 unchanged")
    assert f"{RULE}: version 3 (changed)" in result.stdout.splitlines()
    assert "drift" not in run("plan").output
