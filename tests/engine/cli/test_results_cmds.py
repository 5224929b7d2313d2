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
