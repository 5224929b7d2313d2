"""``touchline results [RULE]``: campaign results against the holdout (engine.results.report);
``touchline results measure``: one goal outcomes pass now (engine.results.outcomes)."""

from __future__ import annotations

import csv
import dataclasses
import json
import sys

import click


class _RuleOrCommand(click.Group):
    """``touchline results [RULE] [options]`` reads as ``touchline results show ...``: a rule's
    id is never taken for a subcommand, and the subcommands stay where they were."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or (args[0] not in self.commands and args[0] not in ("--help", "-h")):
            args = ["show", *args]
        return super().parse_args(ctx, args)


@click.group("results", cls=_RuleOrCommand)
def results_group() -> None:
    """Rules measured against their goals and holdout groups.

    \b
    touchline results                  every rule's verdict
    touchline results RULE             one rule: funnel, arms, variants, checks
    touchline results measure          record goal outcomes now
    touchline results recompute RULE   measure all its firings with its current goal
    touchline results program          the whole program against the global holdout"""


@results_group.command("show")
@click.argument("rule_id", required=False)
@click.option("--variant", default=None, help="Only this A/B variant against the control group.")
@click.option("--detect", default=5.0, show_default=True, type=float, metavar="POINTS",
              help="The uplift, in percentage points, that 'more accounts needed' plans for.")  # fmt: skip
@click.option("--json", "as_json", is_flag=True, help="The results as JSON (as the API serves them).")
@click.option("--csv", "as_csv", is_flag=True, help="One CSV row per rule and treated group.")
def show_command(rule_id: str | None, variant: str | None, detect: float, as_json: bool, as_csv: bool) -> None:
    """The results of RULE, or of every rule without one."""
    from engine.cli.context import database
    from engine.results.report import all_results, rule_results

    if as_json and as_csv:
        raise click.UsageError("choose one of --json and --csv")
    if not 0 < detect < 100:
        raise click.BadParameter(f"{detect:g} points: give an uplift between 0 and 100 points (e.g. 5)", param_hint="--detect")
    if variant is not None and rule_id is None:
        raise click.UsageError("--variant needs a RULE")
    with database().read_session() as session:
        try:
            found = ([rule_results(session, rule_id, detect=detect / 100, variant=variant)] if rule_id
                     else all_results(session, detect=detect / 100))  # fmt: skip
        except (LookupError, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        data = [r.as_dict() for r in found]
        click.echo(json.dumps(data[0] if rule_id else data, indent=2))
    elif as_csv:
        _write_csv(found)
    elif rule_id:
        _print_rule(found[0])
    else:
        _print_overview(found)


def _write_csv(found) -> None:
    from engine.results.report import ROW_FIELDS, flat_rows

    writer = csv.DictWriter(sys.stdout, fieldnames=ROW_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in found:
        writer.writerows(flat_rows(r))


def _rate(x: int, n: int) -> str:
    return f"{x / n:.1%} ({x:,}/{n:,})" if n else "-"


def _print_overview(found) -> None:
    if not found:
        click.echo("no rules applied yet: touchline apply")
        return
    for r in found:
        flags = "".join([" HARM" if r.harm else "", " SRM" if r.srm and r.srm.mismatch else ""])
        if r.overall is None:
            click.echo(f"{r.rule_id}: {r.headline}")
            continue
        click.echo(f"{r.rule_id} [{r.code}]{flags}: treated {_rate(r.overall.converted, r.overall.units)}, "
                   f"control {_rate(r.control_converted, r.control_units)}; {r.goal.text}")  # fmt: skip
        click.echo(f"  {r.headline}")


def _print_rule(r) -> None:
    from engine.results.stats import points

    click.echo(f"{r.rule_id}: {r.name}" + (" (paused)" if r.paused else ""))
    click.echo(r.headline)
    if r.goal is None:
        return
    versions = ", ".join(str(v) for v in r.goal.versions)
    click.echo(f"goal: {r.goal.text} (version{'s' if len(r.goal.versions) > 1 else ''} {versions})")
    if r.goal.other_goal_units:
        click.echo(f"  {r.goal.other_goal_units:,} outcomes measured against earlier goals are left out "
                   f"(touchline results recompute {r.rule_id} measures them with this goal)")  # fmt: skip
    if r.goal.recomputed_at:
        click.echo(f"  earlier versions measured again with this goal on {r.goal.recomputed_at:%Y-%m-%d %H:%M} UTC")
    if r.measured_until:
        click.echo(f"measured until {r.measured_until:%Y-%m-%d %H:%M} UTC")
    for harm in r.harm.reasons if r.harm else ():
        click.echo(f"HARM: {harm}")
    for note in r.notes:
        click.echo(f"NOTE: {note}")

    o, c = r.overall.funnel, r.control
    rows = [("fired", r.fired.accounts, None), ("assigned", o.assigned, c.assigned), ("sent", o.sent, None),
            ("delivered", o.delivered, None), ("bounced", o.bounced, None), ("opened", o.opened, None),
            ("clicked", o.clicked, None), ("clicked (flagged)", o.clicked_flagged, None),
            ("measured", r.overall.units, r.control_units), ("converted", r.overall.converted, r.control_converted),
            ("still in window", r.overall.open, r.control_open), ("unsubscribed", o.unsubscribed, c.unsubscribed)]  # fmt: skip
    click.echo(f"\n{'accounts':<20}{'treated':>12}{'control':>12}")
    for label, t, k in rows:
        click.echo(f"{label:<20}{t:>12,}{'' if k is None else f'{k:,}':>12}")

    for a in [r.overall, *r.variants]:
        seq, fixed = a.sequential, a.fixed
        click.echo(f"\n{a.name or 'all treated'} vs control (alpha {a.alpha:g})")
        click.echo(f"  conversion: treated {_rate(a.converted, a.units)}, control {_rate(r.control_converted, r.control_units)}")
        if seq.enough:
            d, lo, hi = points(seq.uplift_abs, seq.low, seq.high)
            click.echo(f"  daily (always-valid): {d} points, interval {lo} to {hi}, p = {seq.p_value:.3g} -> {seq.code}")
        else:
            click.echo(f"  daily (always-valid): {seq.verdict}")
        if fixed.enough:
            d, lo, hi = points(fixed.uplift_abs, fixed.uplift_abs_low, fixed.uplift_abs_high)
            rel = "" if fixed.uplift_rel is None else (
                f", relative {fixed.uplift_rel:+.1%} ({fixed.uplift_rel_low:+.1%} to {fixed.uplift_rel_high:+.1%})")
            click.echo(f"  fixed-horizon (read once, at the end): {d} points ({lo} to {hi}){rel}, "
                       f"p = {fixed.p_value:.3g}, {fixed.method}")  # fmt: skip
        if a.more is not None and a.more.treated + a.more.control:
            click.echo(f"  {a.more.text}")
    if r.srm is not None:
        split = ", ".join(f"{k} {n:,} (expected {r.srm.expected[k]:,.0f})" for k, n in sorted(r.srm.observed.items()))
        verdict = "MISMATCH" if r.srm.mismatch else "as drawn"
        click.echo(f"\nsplit: {split}; {verdict}" + (f" (p = {r.srm.p_value:.3g})" if r.srm.p_value is not None else ""))


@results_group.command("program")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), default=None, metavar="YYYY-MM-DD",
              help="First day of the period (UTC); default: 90 days before --until.")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), default=None, metavar="YYYY-MM-DD",
              help="The day after the period (UTC); default: today.")
@click.option("--json", "as_json", is_flag=True, help="The result as JSON.")
def program_command(since, until, as_json: bool) -> None:
    """The whole program against the policy's global holdout: retention of every other account
    against the holdout's, over the period (docs/results.md, "Global holdout")."""
    from datetime import UTC, datetime, timedelta

    from engine.cli.context import database
    from engine.delivery.policy import PolicyError, current_policy
    from engine.results.program import GlobalHoldoutOff, program_result
    from engine.results.report import plain

    end = until.date() if until else datetime.now(UTC).date()
    start = since.date() if since else end - timedelta(days=90)
    try:
        policy = current_policy()
    except PolicyError as exc:
        raise click.ClickException(f"the policy file cannot be used: {exc}") from None
    with database().read_session() as session:
        try:
            result = program_result(session, policy, since=start, until=end)
        except (GlobalHoldoutOff, ValueError) as exc:
            raise click.ClickException(str(exc)) from None
    if as_json:
        data = plain(dataclasses.asdict(result)) | {"trustworthy": result.trustworthy}
        click.echo(json.dumps(data, indent=2))
        return
    c = result.comparison
    click.echo(f"program vs global holdout ({result.percent:g}%), {result.since} to {result.until} (UTC, until excluded)"
               + (" -- the period is not over: its last days are still coming in" if result.partial else ""))  # fmt: skip
    click.echo(f"retained: {result.event} on a day of the last {result.within} days ({result.window_start} on)")
    click.echo(f"  program  {_rate(result.program.retained, result.program.accounts)}")
    click.echo(f"  holdout  {_rate(result.holdout.retained, result.holdout.accounts)}")
    click.echo(c.verdict)
    if c.enough:
        click.echo(f"  {c.method}")
    if result.srm.mismatch:
        click.echo(f"WARNING: the holdout holds {result.holdout.accounts:,} accounts where {result.percent:g}% would be "
                   f"about {result.srm.expected.get('holdout', 0):,.0f} (p = {result.srm.p_value:.2g})")  # fmt: skip
    if result.leaked:
        click.echo(f"WARNING: {result.leaked:,} holdout accounts got a marketing message in the period "
                   "(sent before the holdout was on at this percent): the comparison is not reliable")  # fmt: skip


@results_group.command("recompute")
@click.argument("rule_id")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def recompute_command(rule_id: str, yes: bool) -> None:
    """Measure every firing of RULE_ID again with its active version's goal.

    Results otherwise read only the versions whose goal is the active one's; this replaces
    the goal of every earlier version (audited) and measures all their firings again. A
    condition goal can only be found true from now on: windows already ended stay unconverted."""
    from engine.audit import cli_actor
    from engine.cli.context import database
    from engine.results.recompute import NothingToRecompute, recompute

    if not yes:
        click.confirm(f"Measure every firing of {rule_id} again with its active version's goal?", abort=True)
    try:
        report = recompute(database(), rule_id, actor=cli_actor())
    except NothingToRecompute as exc:
        raise click.ClickException(str(exc)) from None
    moved = ", ".join(str(v) for v in report.versions_moved) or "none (they had the same goal)"
    click.echo(f"{rule_id}: every firing measured with version {report.version}'s goal; "
               f"earlier versions with another goal: {moved}")  # fmt: skip
    m = report.measured
    click.echo(f"{report.outcomes_deleted:,} outcomes measured again: added {m.added:,}, converted {m.converted:,}, "
               f"closed {m.closed:,} in {m.duration_ms:,} ms")  # fmt: skip


@results_group.command("measure")
@click.option("--full", is_flag=True, help="Look at every delivery and event again, not only what came since the last pass.")
def measure_command(full: bool) -> None:
    """Record goal outcomes now: add those of messages sent and held out, convert, close ended windows.

    The scheduler runs the same pass every 5 minutes; running it by hand as well is harmless."""
    from engine.cli.context import database
    from engine.results.outcomes import measure

    report = measure(database(), full=full)
    kind = f"full pass ({report.why_full})" if report.full else "incremental pass"
    click.echo(f"{kind}: added {report.added:,}, converted {report.converted:,}, closed {report.closed:,} "
               f"in {report.duration_ms:,} ms")  # fmt: skip
    if report.corrected:
        click.echo(f"{report.corrected:,} conversions moved earlier by events read after them")
    if report.reclocked:
        click.echo(f"{report.reclocked:,} exposures moved earlier by a send of the same firing recorded late")


def register(cli: click.Group) -> None:
    cli.add_command(results_group)
