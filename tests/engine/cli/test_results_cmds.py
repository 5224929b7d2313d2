"""touchline results measure: one goal outcomes pass from the command line."""

from __future__ import annotations

from click.testing import CliRunner

from engine.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_measure_prints_what_the_pass_did(db, deliveries_with_one_lost):
    deliveries_with_one_lost(2)  # a rule without a goal: its deliveries get no outcomes
    first = run("results", "measure")
    assert first.exit_code == 0, first.output
    assert first.output.startswith("full pass (no full pass yet): added 0, converted 0, closed 0 in ")
    second = run("results", "measure")
    assert second.output.startswith("incremental pass: added 0, converted 0, closed 0 in ")
    forced = run("results", "measure", "--full")
    assert forced.output.startswith("full pass (asked for): added 0, converted 0, closed 0 in ")


def test_results_of_one_rule_in_words_and_numbers(db, campaign):
    campaign(accounts=400, treated_rate=0.6, control_rate=0.2)
    out = run("results", "trial-nudge")
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0] == "trial-nudge: Trial nudge"
    assert lines[1].startswith("Treated accounts convert more than control:")
    assert "goal: project_created within 14 days (version 1)" in out.output
    assert "daily (always-valid): +" in out.output and "-> better" in out.output
    assert "fixed-horizon (read once, at the end): +" in out.output
    assert "split: control " in out.output and "as drawn" in out.output
    # The same through the show subcommand.
    assert run("results", "show", "trial-nudge").output == out.output


def test_results_overview_json_and_csv(db, campaign):
    import csv
    import io
    import json

    campaign(accounts=60, treated_rate=0.5, control_rate=0.5)
    overview = run("results")
    assert overview.exit_code == 0
    assert overview.output.startswith("trial-nudge [")
    data = json.loads(run("results", "--json").output)
    assert [r["rule_id"] for r in data] == ["trial-nudge"]
    one = json.loads(run("results", "trial-nudge", "--json").output)
    assert one["overall"]["units"] + one["control_units"] == 60
    rows = list(csv.DictReader(io.StringIO(run("results", "--csv").output)))
    assert [r["arm"] for r in rows] == ["all"] and int(rows[0]["treated_units"]) == one["overall"]["units"]


def test_results_errors_are_clear(db, campaign):
    campaign(accounts=20)
    unknown = CliRunner().invoke(cli, ["results", "nope"])
    assert unknown.exit_code == 1 and "no rule 'nope': apply it first" in unknown.output
    variant = CliRunner().invoke(cli, ["results", "trial-nudge", "--variant", "b"])
    assert variant.exit_code == 1 and "has no variant 'b'" in variant.output
    detect = CliRunner().invoke(cli, ["results", "trial-nudge", "--detect", "0"])
    assert detect.exit_code == 2 and "between 0 and 100 points" in detect.output
    both = CliRunner().invoke(cli, ["results", "--json", "--csv"])
    assert both.exit_code == 2 and "one of --json and --csv" in both.output
    for result in (unknown, variant, detect, both):
        assert "Traceback" not in result.output


def test_the_program_against_the_global_holdout(db, tmp_path, monkeypatch):
    import json
    from datetime import UTC, date, datetime

    from sqlalchemy import insert

    from engine.delivery.holdout import in_global_holdout
    from engine.models import Account, DailyUsage

    off = CliRunner().invoke(cli, ["results", "program"])
    assert off.exit_code == 1 and "no global holdout on" in off.output
    policy = tmp_path / "policy.yaml"
    policy.write_text("global_holdout: {percent: 10%, measure: {event: login, within: 30d}}\n")
    monkeypatch.setenv("TOUCHLINE_POLICY_FILE", str(policy))
    long_ago = datetime(2025, 1, 1, tzinfo=UTC)
    with db.session() as s:
        s.execute(insert(Account), [{"id": i + 1, "external_id": f"a{i}", "name": f"A{i}", "created_at": long_ago,
                                     "updated_at": long_ago} for i in range(400)])  # fmt: skip
        # Every program account logs in within the last 30 days; no holdout account does.
        s.execute(insert(DailyUsage), [{"account_id": i + 1, "event_name": "login", "day": date(2026, 5, 20), "count": 1,
                                        "active_contacts": 1} for i in range(400) if not in_global_holdout(f"a{i}", 10)])  # fmt: skip
    out = run("results", "program", "--since", "2026-03-01", "--until", "2026-06-01")
    assert out.exit_code == 0, out.output
    held = sum(in_global_holdout(f"a{i}", 10) for i in range(400))
    assert "program vs global holdout (10%), 2026-03-01 to 2026-06-01" in out.output
    assert f"holdout  0.0% (0/{held:,})" in out.output and f"program  100.0% ({400 - held:,}/{400 - held:,})" in out.output
    data = json.loads(run("results", "program", "--since", "2026-03-01", "--until", "2026-06-01", "--json").output)
    assert data["holdout"]["accounts"] == held and data["trustworthy"] is True
    empty = CliRunner().invoke(cli, ["results", "program", "--since", "2026-06-01", "--until", "2026-06-01"])
    assert empty.exit_code == 1 and "the period is empty" in empty.output


def test_recompute_from_the_command_line(db, campaign):
    campaign(accounts=30)
    asked = CliRunner().invoke(cli, ["results", "recompute", "trial-nudge"], input="n\n")
    assert asked.exit_code == 1 and "Aborted" in asked.output
    done = run("results", "recompute", "trial-nudge", "--yes")
    assert done.exit_code == 0, done.output
    assert "trial-nudge: every firing measured with version 1's goal" in done.output
    assert "30 outcomes measured again" in done.output
    unknown = CliRunner().invoke(cli, ["results", "recompute", "nope", "--yes"])
    assert unknown.exit_code == 1 and "no rule 'nope'" in unknown.output
