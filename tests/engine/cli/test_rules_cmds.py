import shutil
from pathlib import Path

from click.testing import CliRunner

from engine.cli import cli

RULES = Path(__file__).resolve().parents[3] / "rules"
TEMPLATES = RULES.parent / "email_templates"

GOOD = "id: {id}\nname: R\nwhen: {{account.tier: tech}}\nactions:\n  - email: {{template: alerts/owner-changed, to: owner}}\n"


def run(*args: str):
    return CliRunner().invoke(cli, ["rules", "check", *args], catch_exceptions=False)


def test_the_shipped_rules_pass(monkeypatch):
    monkeypatch.chdir(RULES.parent)
    result = run()  # default: rules/
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 6 rules and 2 segments checked, no problems")


def test_every_problem_in_every_file_is_printed(tmp_path):
    (tmp_path / "fine.yaml").write_text(GOOD.format(id="fine"))
    (tmp_path / "typo.yaml").write_text(
        "id: typo\nnme: R\nwhen: {account.teir: tech}\nactions:\n  - email: {template: alerts/owner-changed, to: owner}\nholdout: 75%\n"
    )
    (tmp_path / "wrong-id.yaml").write_text(GOOD.format(id="right-id"))
    result = run(str(tmp_path))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    typo, wrong = tmp_path / "typo.yaml", tmp_path / "wrong-id.yaml"
    assert lines[:4] == [
        f"{typo}:2:1: nme: unknown key 'nme'; expected one of: id, name, description, owner, category, priority, "
        "enabled, level, when, trigger, schedule, min_dwell, actions, limits, holdout, goal, send_window, "
        "max_messages_per_cycle (did you mean 'name'?)",
        f"{typo}:3:8: when.account.teir: unknown field 'account.teir'; account fields are external_id, name, plan, mrr, "
        "arr, tier, signup_at, renewal_at, owner, timezone, locale, created_at (or account.traits.<name>) (did you mean 'account.tier'?)",
        f"{typo}:6:1: holdout: holdout 75% is out of range: 0% to 50% (the rest must get the message)",
        f"{wrong}:1:1: id: id 'right-id' does not match the file name wrong-id.yaml; rename one so they agree",
    ]
    assert lines[4] == "4 problems in 2 files"


def test_yaml_refusals_are_positioned_problems(tmp_path, alias_bomb):
    (tmp_path / "bomb.yaml").write_text(alias_bomb)
    (tmp_path / "huge.yaml").write_text("# padding\n" * 7000)
    (tmp_path / "tabs.yaml").write_text("id: tabs\nwhen:\n\t- x\n")
    result = run(str(tmp_path))
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[0] == f"{tmp_path / 'bomb.yaml'}:1:4: anchors (&name) are not allowed; repeat the value instead"
    assert lines[1] == f"{tmp_path / 'huge.yaml'}:1:1: file is 70,000 bytes; the limit is 65,536"
    assert lines[2].startswith(f"{tmp_path / 'tabs.yaml'}:3:1: ")
    assert lines[3] == "3 problems in 3 files"


def test_single_files_and_segment_files(tmp_path):
    shutil.copytree(RULES, tmp_path / "rules")
    segment = tmp_path / "rules" / "segments" / "paying.yaml"
    segment.write_text("id: paying\nwhen: {account.mrr: {gtt: 0}}\n")
    result = run(str(segment))
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        f"{segment}:2:22: when.account.mrr.gtt: unknown operator 'gtt'; expected one of: eq, ne, gt, gte, lt, lte, "
        "between, in, not_in, exists (did you mean 'gt'?)"
    )
    # A rule using the broken segment says so at its reference.
    rule = tmp_path / "rules" / "key-feature-usage-falling.yaml"
    result = run(str(rule))
    assert result.exit_code == 1
    assert "when.all[0].segment: segment 'tech-touch' has problems of its own" in result.output
    untouched = tmp_path / "rules" / "onboarding-stalled-day7.yaml"
    ok = run(str(untouched))
    assert ok.exit_code == 0 and ok.output == "ok: 1 rule and 0 segments checked, no problems\n"


def test_missing_path_is_a_usage_error(tmp_path):
    result = run(str(tmp_path / "nope.yaml"))
    assert result.exit_code == 2 and "does not exist" in result.output


def test_explain_shows_each_condition_with_the_value_seen(db, tmp_path):
    from datetime import datetime, timedelta, timezone

    from engine.ingest import upsert_accounts

    rules_dir = RULES
    at = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
    with db.session() as session:
        upsert_accounts(
            session,
            [
                {"id": "stalled", "tier": "tech", "signup_at": (at - timedelta(days=10)).isoformat()},
                {"id": "big", "tier": "high", "signup_at": (at - timedelta(days=10)).isoformat()},
            ],
        )

    def explain(account: str, *extra: str):
        args = ["explain", "onboarding-stalled-day7", account, "--rules", str(rules_dir), "--at", at.isoformat(), *extra]
        return CliRunner().invoke(cli, args)

    yes = explain("stalled")
    assert yes.exit_code == 0, yes.output
    assert "[yes] account.tier eq 'tech'  (saw: tech)" in yes.output
    assert "[yes] count of 'project_created' in last 30d eq 0.0  (saw: 0.0)" in yes.output
    assert yes.output.strip().endswith("stalled matches onboarding-stalled-day7")
    no = explain("big")
    assert "[no ] account.tier eq 'tech'  (saw: high)" in no.output
    assert no.output.strip().endswith("big does not match onboarding-stalled-day7")
    assert "no account with id 'ghost'" in explain("ghost").output
    unknown = CliRunner().invoke(cli, ["explain", "nope", "stalled", "--rules", str(rules_dir)])
    assert unknown.exit_code == 1 and "no rule 'nope'" in unknown.output
    bad_time = explain("stalled", "--at", "yesterday")
    assert bad_time.exit_code == 2 and "--at" in bad_time.output


CONTACT_RULE = """\
id: quiet-admin
name: Quiet admin
level: contact
when:
  all:
    - contact.role: admin
    - contact.last_seen_at: {older_than: 14d}
    - account.tier: tech
actions:
  - email: {template: nudges/quiet-admin, to: contact}
"""


def test_explain_a_contact_level_rule_for_a_contact(db, tmp_path):
    from datetime import datetime, timedelta, timezone

    from engine.ingest import upsert_accounts, upsert_contacts

    (tmp_path / "quiet-admin.yaml").write_text(CONTACT_RULE)
    at = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)
    with db.session() as session:
        upsert_accounts(session, [{"id": "acme", "tier": "tech"}])
        upsert_contacts(session, [
            {"id": "ann", "account_id": "acme", "role": "admin", "last_seen_at": (at - timedelta(days=20)).isoformat()},
            {"id": "bob", "account_id": "acme", "role": "member"},
        ])  # fmt: skip

    def explain(subject: str):
        return CliRunner().invoke(cli, ["explain", "quiet-admin", subject, "--rules", str(tmp_path), "--at", at.isoformat()])

    ann = explain("ann")
    assert ann.exit_code == 0, ann.output
    assert ann.output.splitlines()[0] == "quiet-admin for contact ann (account acme) at 2026-11-20 12:00:00Z"
    assert "[yes] contact.role eq 'admin'  (saw: admin)" in ann.output
    assert "[yes] account.tier eq 'tech'  (saw: tech)" in ann.output
    assert ann.output.strip().endswith("ann matches quiet-admin")
    bob = explain("bob")
    assert "[no ] contact.role eq 'admin'  (saw: member)" in bob.output
    assert "[no ] contact.last_seen_at older_than: 14d  (saw: missing)" in bob.output
    assert bob.output.strip().endswith("bob does not match quiet-admin")
    # An account's id is not a contact's: the error says so and names the account's contacts.
    wrong = explain("acme")
    assert wrong.exit_code == 1
    assert "no contact with id 'acme'; rule 'quiet-admin' is contact-level" in wrong.output
    assert "(contacts of account acme: ann, bob)" in wrong.output
    assert "no contact with id 'ghost'" in explain("ghost").output


def test_deep_nesting_is_a_positioned_problem_in_rules_segments_and_the_policy(tmp_path):
    # A couple of KB nested a few hundred levels deep: a problem like any other, not a traceback.
    deep = "{all: [" * 300 + "{account.tier: tech}" + "]}" * 300
    (tmp_path / "segments").mkdir()
    (tmp_path / "deep.yaml").write_text(f"id: deep\nname: Deep\nwhen: {deep}\nactions:\n  - email: {{template: a, to: owner}}\n")
    (tmp_path / "segments" / "deeper.yaml").write_text(f"id: deeper\nwhen: {deep}\n")
    (tmp_path / "policy.yaml").write_text("max_messages:\n  " + "[" * 300 + "]" * 300 + "\n")
    result = CliRunner().invoke(cli, ["rules", "check", str(tmp_path)])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert result.exit_code == 1
    assert "Traceback" not in result.output and "RecursionError" not in result.output
    assert sorted(result.output.splitlines()[:3]) == sorted([
        f"{tmp_path / 'segments' / 'deeper.yaml'}:2:{7 + 7 * 32}: nested deeper than 64 levels",
        f"{tmp_path / 'deep.yaml'}:3:{7 + 7 * 32}: nested deeper than 64 levels",
        f"{tmp_path / 'policy.yaml'}:2:{3 + 64}: nested deeper than 64 levels",
    ])  # fmt: skip


MISSING_TEMPLATE = """\
id: stalled
name: Stalled
when: {account.tier: tech}
actions:
  - email: {template: onboarding/stalled, to: role:admin}
  - in_app:
      template: onboarding/stalld
      to: role:admin
"""


def test_a_template_that_does_not_exist_is_a_problem_at_its_line(tmp_path, monkeypatch):
    (tmp_path / "stalled.yaml").write_text(MISSING_TEMPLATE)
    monkeypatch.chdir(TEMPLATES.parent)  # the folder is shown relative to here
    result = run(str(tmp_path), "--templates", str(TEMPLATES))
    assert result.exit_code == 1
    assert result.output.splitlines()[0] == (
        f"{tmp_path / 'stalled.yaml'}:7:7: actions[1].in_app.template: template 'onboarding/stalld' does not exist in "
        "email_templates/ (add onboarding/stalld/en.html there, or name an existing one) (did you mean 'onboarding/stalled'?)"
    )


def test_templates_come_from_the_settings_and_a_missing_folder_is_said(tmp_path, monkeypatch):
    (tmp_path / "stalled.yaml").write_text(MISSING_TEMPLATE)
    monkeypatch.setenv("TOUCHLINE_TEMPLATES_DIR", str(TEMPLATES))
    assert "'onboarding/stalld' does not exist" in run(str(tmp_path)).output
    monkeypatch.setenv("TOUCHLINE_TEMPLATES_DIR", str(tmp_path / "nowhere"))
    result = run(str(tmp_path))
    assert result.exit_code == 0
    assert f"warning: templates not checked: the folder {tmp_path / 'nowhere'} does not exist" in result.output
