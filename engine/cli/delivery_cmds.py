"""``touchline deliveries`` and ``touchline dispatch``: the send log from the command line."""

from __future__ import annotations

import click

STATUSES_SHOWN_FIRST = ("unknown", "failed", "deferred", "pending", "queued", "sending")


@click.group("deliveries", invoke_without_command=True)
@click.pass_context
def deliveries_group(ctx: click.Context) -> None:
    """Deliveries by status (no subcommand), or a list of them."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(summary_command)


@deliveries_group.command("summary")
def summary_command() -> None:
    """How many deliveries each rule has in each status."""
    from sqlalchemy import func, select

    from engine.cli.context import database
    from engine.models import Delivery

    with database().read_session() as session:
        rows = session.execute(
            select(Delivery.rule_id, Delivery.status, func.count()).group_by(Delivery.rule_id, Delivery.status)
        ).all()
    if not rows:
        click.echo("no deliveries yet")
        return
    by_rule: dict[str, dict[str, int]] = {}
    for rule_id, status, n in rows:
        by_rule.setdefault(rule_id, {})[status] = n
    for rule_id in sorted(by_rule):
        counts = by_rule[rule_id]
        order = [s for s in STATUSES_SHOWN_FIRST if s in counts] + sorted(s for s in counts if s not in STATUSES_SHOWN_FIRST)
        click.echo(f"{rule_id}: " + ", ".join(f"{s} {counts[s]:,}" for s in order))
    unknown = sum(c.get("unknown", 0) for c in by_rule.values())
    if unknown:
        click.echo(f"{unknown:,} unknown: their worker stopped mid-send; see `touchline deliveries list --status unknown`")


@deliveries_group.command("list")
@click.option("--status", "statuses", multiple=True, help="Only this status (repeatable).")
@click.option("--rule", "rule_id", default=None, help="Only this rule.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def list_command(statuses: tuple[str, ...], rule_id: str | None, limit: int) -> None:
    """The latest deliveries, newest first, with their reason."""
    from sqlalchemy import select

    from engine.cli.context import database
    from engine.models import DELIVERY_STATUSES, Account, Delivery

    unknown = [s for s in statuses if s not in DELIVERY_STATUSES]
    if unknown:
        raise click.BadParameter(f"{', '.join(unknown)}: expected one of {', '.join(DELIVERY_STATUSES)}", param_hint="--status")
    stmt = select(Delivery, Account.external_id).join(Account, Account.id == Delivery.account_id)
    if statuses:
        stmt = stmt.where(Delivery.status.in_(statuses))
    if rule_id:
        stmt = stmt.where(Delivery.rule_id == rule_id)
    with database().read_session() as session:
        rows = session.execute(stmt.order_by(Delivery.id.desc()).limit(limit)).all()
    for d, account in rows:
        when = d.sent_at or d.due_at
        reason = f"  {d.reason}" if d.reason else ""
        click.echo(f"{d.id}  {when:%Y-%m-%d %H:%M}Z  {d.status:<10} {d.rule_id}  {d.channel}  {account}  {d.recipient}{reason}")


@click.command("dispatch")
def dispatch_command() -> None:
    """Sweep and dispatch once now (what the scheduler does every minute): needs Redis and a worker to send."""
    from engine.jobs.send import dispatch_tick

    outcome = dispatch_tick()
    click.echo(", ".join(f"{k} {v}" for k, v in outcome.items()))


def register(cli: click.Group) -> None:
    cli.add_command(deliveries_group)
    cli.add_command(dispatch_command)
