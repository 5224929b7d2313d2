"""End to end on the demo: a campaign with a known uplift is planted (`touchline demo
--plant-uplift`), the shipped rules are applied, the outcomes pass measures it, and `touchline
results` finds the planted uplift inside its intervals; with nothing planted, it finds no winner.

The planted value is the difference in conversion *probability* between the arms; each account
converts by its own draw, so the observed difference scatters around it as real data would.
The seeds are fixed, so these checks come out the same on every run."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from engine.cli import cli
from engine.demo import reference_time
from engine.demo.campaign import campaign_for
from engine.demo.generate import COHORT, build_plan
from engine.models import Account, Contact, Delivery
from engine.rules.compiler import matching_account_ids, matching_contact_ids
from engine.rules.validate import check_paths

ROOT = Path(__file__).resolve().parents[3]
RULES = ROOT / "rules"
TEMPLATES = ROOT / "email_templates"
RULE_ID = "onboarding-stalled-day7"


def run(*args: str) -> str:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def apply_shipped_rules() -> str:
    return run("apply", str(RULES), "--templates", str(TEMPLATES))


def plant(accounts: int, seed: int, uplift_points: float, cohort: int) -> tuple[str, object]:
    out = run("demo", "--accounts", str(accounts), "--days", "60", "--seed", str(seed), "--plant-uplift",
              str(uplift_points), "--cohort", str(cohort), "--rules", str(RULES))  # fmt: skip
    # The plan the command seeded (today's reference), to compare with what the results read.
    rule = check_paths([str(RULES)]).rules
    campaign = campaign_for(next(r for r in rule if r.id == RULE_ID), uplift=uplift_points / 100, cohort=cohort)
    return out, build_plan(accounts, seed, 60, reference_time(), campaign=campaign)


def results() -> dict:
    run("results", "measure")
    return json.loads(run("results", RULE_ID, "--json"))


def drawn(plan) -> dict[str, tuple[int, int]]:
    return {
        arm: (sum(m.arm == arm for m in plan.cohort), sum(m.arm == arm and m.converted_at is not None for m in plan.cohort))
        for arm in ("treated", "control")
    }


def intervals(r: dict) -> dict[str, tuple[float, float]]:
    seq, fixed = r["overall"]["sequential"], r["overall"]["fixed"]
    return {"always-valid": (seq["low"], seq["high"]), "fixed-horizon": (fixed["uplift_abs_low"], fixed["uplift_abs_high"])}


def report(label: str, planted: float, r: dict) -> None:
    o = r["overall"]
    found = ", ".join(f"{name} {lo:+.3f} to {hi:+.3f}" for name, (lo, hi) in intervals(r).items())
    print(
        f"\n{label}: planted {planted:+.3f}; treated {o['converted']}/{o['units']}, control "
        f"{r['control_converted']}/{r['control_units']}, observed {o['fixed']['uplift_abs']:+.3f}; {found}; "
        f"verdict {r['code']}: {r['headline']}"
    )


def test_results_find_the_planted_uplift(db):
    # As `touchline up` does on a fresh database: the shipped rules are live, then the demo is seeded.
    apply_shipped_rules()
    out, plan = plant(accounts=150, seed=42, uplift_points=15, cohort=2000)
    assert "recorded its deliveries (version 1)" in out and "applied" not in out.split("planted:")[1]
    arms = drawn(plan)

    with db.read_session() as s:
        # The campaign's firings held the rule's condition when they fired, by the engine's own explanation.
        trees = s.scalars(select(Delivery.explanation).where(Delivery.rule_id == RULE_ID)).all()
        assert len(trees) == 2 * 2000 and all(t["tree"]["ok"] for t in trees)
        # ... and today no shipped rule matches the cohort: it sits apart from the archetypes.
        cohort = {a.id for a in s.scalars(select(Account)) if a.traits["archetype"] == COHORT}
        contacts = dict(s.execute(select(Contact.id, Contact.account_id)).all())
        assert len(cohort) == 2000
        for now in (plan.reference - timedelta(microseconds=1), plan.reference + timedelta(hours=23, minutes=59)):
            for rule in check_paths([str(RULES)]).rules:
                if rule.level == "contact":
                    hits = {a for _, a in matching_contact_ids(s, rule.when, now)}
                else:
                    hits = matching_account_ids(s, rule.when, now)
                assert not hits & cohort, (rule.id, now)

    r = results()
    planted = 0.15
    report("uplift planted", planted, r)
    o = r["overall"]
    assert (o["units"], o["converted"]) == arms["treated"] and (r["control_units"], r["control_converted"]) == arms["control"]
    assert r["code"] == "better" and o["fixed"]["code"] == "better"
    for name, (low, high) in intervals(r).items():
        assert 0 < low < planted < high, name
    assert r["harm"] is None and not r["srm"]["mismatch"]
    assert r["headline"].startswith("Treated accounts convert more than control")


def test_no_uplift_planted_gives_no_winner(db):
    # The other order: the demo applies the campaign's rule itself; applying the shipped rules after keeps it.
    out, plan = plant(accounts=20, seed=7, uplift_points=0, cohort=1500)
    assert f"applied {RULES / (RULE_ID + '.yaml')} as version 1" in out
    assert f"{RULE_ID}: unchanged (version 1)" in apply_shipped_rules()

    r = results()
    report("nothing planted", 0.0, r)
    o = r["overall"]
    arms = drawn(plan)
    assert (o["units"], o["converted"]) == arms["treated"] and (r["control_units"], r["control_converted"]) == arms["control"]
    assert r["code"] not in ("better", "worse") and o["fixed"]["code"] not in ("better", "worse")
    for name, (low, high) in intervals(r).items():
        assert low < 0 < high, name
    assert r["harm"] is None


def test_the_cli_refuses_what_it_cannot_plant(db, tmp_path):
    runner = CliRunner()
    result = runner.invoke(cli, ["demo", "--accounts", "5", "--days", "59", "--plant-uplift", "10"])
    assert result.exit_code == 2 and "at least 60 days" in result.output
    result = runner.invoke(cli, ["demo", "--accounts", "5", "--cohort", "50"])
    assert result.exit_code == 2 and "give --plant-uplift too" in result.output
    result = runner.invoke(cli, ["demo", "--accounts", "5", "--days", "60", "--plant-uplift", "10", "--rules", str(tmp_path)])
    assert result.exit_code == 1 and f"needs the rule {RULE_ID}" in result.output
    result = runner.invoke(cli, ["demo", "--accounts", "5", "--days", "60", "--plant-uplift", "90", "--rules", str(RULES)])
    assert result.exit_code == 1 and "outside 0-100%" in result.output
    with db.read_session() as s:  # refused before seeding anything
        assert s.scalars(select(Account)).first() is None


def test_cli_constants_match_the_generator():
    from engine.cli import demo_cmds
    from engine.demo.generate import CAMPAIGN_MIN_DAYS, CampaignPlan

    assert demo_cmds.CAMPAIGN_MIN_DAYS == CAMPAIGN_MIN_DAYS
    assert demo_cmds.CAMPAIGN_RULE == CampaignPlan(uplift=0).rule_id


@pytest.fixture(autouse=True)
def _quiet_policy(monkeypatch):
    """The shipped policy file (no global holdout), whatever the environment says."""
    monkeypatch.setenv("TOUCHLINE_POLICY_FILE", str(RULES / "policy.yaml"))
