"""touchline suppressions: add, list and lift entries of the suppression list."""

from __future__ import annotations

from click.testing import CliRunner

from engine.cli import cli
from engine.cli.suppression_cmds import REASONS
from engine.compliance import STRENGTH, suppression_for, suppressions_of
from engine.models import SUPPRESSION_REASONS


def run(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def rows(db, address: str) -> set[tuple[str, str, str]]:
    with db.read_session() as s:
        return {(r.category, r.reason, r.source) for r in suppressions_of(s, address)}


def test_the_reasons_are_the_models(db):
    assert set(REASONS) == set(SUPPRESSION_REASONS)
    assert list(REASONS) == sorted(REASONS, key=STRENGTH.get, reverse=True)


def test_add_and_list(db):
    added = run("suppressions", "add", " Ann@Example.com ", "--reason", "complained", "--source", "fbl yahoo")
    assert added.exit_code == 0, added.output
    assert added.output.startswith("suppressed ann@example.com in all categories: complained (source fbl yahoo")
    assert run("suppressions", "add", "bob@example.com", "--reason", "unsubscribed", "--category", "newsletter").exit_code == 0
    assert rows(db, "ann@example.com") == {("*", "complained", "fbl yahoo")}
    assert rows(db, "bob@example.com") == {("newsletter", "unsubscribed", "cli")}

    listed = run("suppressions", "list")
    lines = listed.output.splitlines()
    assert lines[0].split() == ["ADDRESS", "CATEGORY", "REASON", "SOURCE", "CREATED", "AT"]
    assert lines[1].split()[:4] == ["bob@example.com", "newsletter", "unsubscribed", "cli"]  # newest first
    assert lines[2].split()[:3] == ["ann@example.com", "all", "complained"] and "fbl yahoo" in lines[2]
    assert len(lines) == 3

    assert len(run("suppressions", "list", "ANN@example.com").output.splitlines()) == 2
    assert len(run("suppressions", "list", "--limit", "1").output.splitlines()) == 2
    only = run("suppressions", "list", "--reason", "unsubscribed").output
    assert "bob@example.com" in only and "ann@example.com" not in only
    assert run("suppressions", "list", "--reason", "bounced").output.strip() == "no suppressions for bounced"


def test_a_complaint_is_not_downgraded(db):
    run("suppressions", "add", "ann@example.com", "--reason", "complained")
    weaker = run("suppressions", "add", "ann@example.com", "--reason", "bounced", "--source", "esp")
    assert weaker.exit_code == 0
    assert weaker.output.startswith("kept the stronger complained: ann@example.com in all categories: complained")
    assert rows(db, "ann@example.com") == {("*", "complained", "cli")}
    stronger = run("suppressions", "add", "bob@example.com", "--reason", "bounced")
    assert stronger.exit_code == 0
    run("suppressions", "add", "bob@example.com", "--reason", "complained", "--source", "fbl")
    assert rows(db, "bob@example.com") == {("*", "complained", "fbl")}


def test_bad_input_is_refused_clearly(db):
    bad_address = CliRunner().invoke(cli, ["suppressions", "add", "not-an-address", "--reason", "bounced"])
    assert bad_address.exit_code == 2 and "not an email address" in bad_address.output
    bad_reason = CliRunner().invoke(cli, ["suppressions", "add", "ann@example.com", "--reason", "spam"])
    assert bad_reason.exit_code == 2 and "'spam' is not one of" in bad_reason.output
    bad_category = CliRunner().invoke(cli, ["suppressions", "add", "ann@example.com", "--reason", "bounced", "--category", "News Letter"])
    assert bad_category.exit_code == 2 and "--category" in bad_category.output
    bad_source = CliRunner().invoke(cli, ["suppressions", "add", "ann@example.com", "--reason", "bounced", "--source", " "])
    assert bad_source.exit_code == 2 and "--source" in bad_source.output
    operational = run("suppressions", "add", "ann@example.com", "--reason", "unsubscribed", "--category", "operational")
    assert operational.exit_code == 1 and "cannot be unsubscribed from" in operational.output
    assert rows(db, "ann@example.com") == set()
    # A bounce does stop operational mail.
    assert run("suppressions", "add", "ann@example.com", "--reason", "bounced", "--category", "operational").exit_code == 0


def test_remove_lifts_unsubscribes(db):
    run("suppressions", "add", "ann@example.com", "--reason", "unsubscribed", "--category", "newsletter")
    run("suppressions", "add", "ann@example.com", "--reason", "unsubscribed", "--category", "onboarding")
    one = run("suppressions", "remove", "ann@example.com", "--category", "newsletter")
    assert one.exit_code == 0, one.output
    assert one.output.startswith("removed ann@example.com in newsletter: unsubscribed")
    assert rows(db, "ann@example.com") == {("onboarding", "unsubscribed", "cli")}
    everything = run("suppressions", "remove", "ann@example.com")
    assert everything.exit_code == 0 and "removed ann@example.com in onboarding" in everything.output
    assert rows(db, "ann@example.com") == set()
    again = run("suppressions", "remove", "ann@example.com")
    assert again.exit_code == 1 and "no suppression of ann@example.com to remove" in again.output


def test_remove_of_one_category_after_leaving_all_rejoins_it(db):
    run("suppressions", "add", "ann@example.com", "--reason", "unsubscribed")
    result = run("suppressions", "remove", "ann@example.com", "--category", "newsletter")
    assert result.exit_code == 0 and result.output.startswith("re-joined newsletter")
    with db.read_session() as s:
        assert suppression_for(s, "ann@example.com", "newsletter") is None
        assert suppression_for(s, "ann@example.com", "onboarding") == "unsubscribed"


def test_a_bounce_is_only_removed_with_force(db):
    run("suppressions", "add", "ann@example.com", "--reason", "bounced", "--source", "esp")
    run("suppressions", "add", "ann@example.com", "--reason", "unsubscribed", "--category", "newsletter")
    refused = run("suppressions", "remove", "ann@example.com")
    assert refused.exit_code == 1
    assert "ann@example.com in all categories: bounced" in refused.output and "--force" in refused.output
    assert rows(db, "ann@example.com") == {("*", "bounced", "esp"), ("newsletter", "unsubscribed", "cli")}  # nothing removed

    # Lifting only the category's own unsubscribe leaves the bounce, and says so.
    own = run("suppressions", "remove", "ann@example.com", "--category", "newsletter")
    assert own.exit_code == 0
    assert "removed ann@example.com in newsletter: unsubscribed" in own.output
    assert "still suppressed in newsletter: bounced" in own.output

    forced = run("suppressions", "remove", "ann@example.com", "--force")
    assert forced.exit_code == 0 and forced.output.startswith("removed ann@example.com in all categories: bounced")
    assert "still" not in forced.output
    assert rows(db, "ann@example.com") == set()
