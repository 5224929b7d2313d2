"""``touchline deliveries`` and ``touchline dispatch``: the send log from the command line."""

from __future__ import annotations

import click

@click.group("deliveries", invoke_without_command=True)
@click.pass_context
def deliveries_group(ctx: click.Context) -> None:
    """Deliveries by status (no subcommand), or a list of them."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(summary_command)


@deliveries_group.command("summary")
def summary_command() -> None:
    """How many deliveries each rule has in each status."""
    from engine.cli.context import database
    from engine.delivery.log import status_counts

    with database().read_session() as session:
        by_rule = status_counts(session)
    if not by_rule:
        click.echo("no deliveries yet")
        return
    for rule_id, counts in by_rule.items():
        click.echo(f"{rule_id}: " + ", ".join(f"{s} {n:,}" for s, n in counts.items()))
    unknown = sum(c.get("unknown", 0) for c in by_rule.values())
    if unknown:
        click.echo(f"{unknown:,} unknown: their worker stopped mid-send; see `touchline deliveries list --status unknown`")


@deliveries_group.command("list")
@click.option("--status", "statuses", multiple=True, help="Only this status (repeatable).")
@click.option("--rule", "rule_id", default=None, help="Only this rule.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def list_command(statuses: tuple[str, ...], rule_id: str | None, limit: int) -> None:
    """The latest deliveries, newest first, with their reason."""
    from engine.cli.context import database
    from engine.delivery.log import latest

    with database().read_session() as session:
        try:
            rows = latest(session, statuses, rule_id, limit)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--status") from None
    if not rows:
        click.echo("no deliveries" + (f" with status {', '.join(statuses)}" if statuses else "") + (f" of rule {rule_id}" if rule_id else ""))
        return
    table = [("ID", "AT (UTC)", "STATUS", "RULE", "CHANNEL", "ACCOUNT", "RECIPIENT", "REASON")]
    table += [(str(r.id), f"{r.at:%Y-%m-%d %H:%M}", r.status, r.rule_id, r.channel, r.account, r.recipient, r.reason or "")
              for r in rows]  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        click.echo("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip())


@click.command("dispatch")
def dispatch_command() -> None:
    """Sweep and dispatch once now (what the scheduler does every TOUCHLINE_DISPATCH_SECONDS): needs Redis and a worker to send."""
    from engine.jobs.send import dispatch_tick

    outcome = dispatch_tick()
    click.echo(", ".join(f"{k} {v}" for k, v in outcome.items()))


def register(cli: click.Group) -> None:
    cli.add_command(deliveries_group)
    cli.add_command(dispatch_command)
