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


def filter_options(command):
    """The send log's filters (engine.delivery.log.LogFilter) as options, the admin page's names."""
    options = [
        click.option("--rule", default=None, help="Only this rule."),
        click.option("--status", "status", multiple=True, help="Only this status (repeatable)."),
        click.option("--channel", default=None, help="Only this channel: email, in_app or webhook."),
        click.option("--account", default=None, help="Only this account (its external id)."),
        click.option("--recipient", default=None, help="Only this recipient address."),
        click.option("--since", default=None, metavar="YYYY-MM-DD", help="Written on or after this day (UTC)."),
        click.option("--until", default=None, metavar="YYYY-MM-DD", help="Written on or before this day (UTC)."),
        click.option("--reason", default=None, help="Reason containing this text (searched in the newest rows of the other filters)."),
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def _filter(values: dict):
    from engine.delivery.log import FilterError, LogFilter

    try:
        return LogFilter.parse(values)
    except FilterError as exc:
        raise click.BadParameter(exc.message, param_hint=f"--{exc.field}") from None


@deliveries_group.command("list")
@filter_options
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def list_command(limit: int, **values) -> None:
    """The latest deliveries, newest first, with their reason."""
    from engine.cli.context import database
    from engine.delivery.log import FilterError, page

    f = _filter(values)
    with database().read_session() as session:
        try:
            got = page(session, f, limit=limit)
        except FilterError as exc:
            raise click.BadParameter(exc.message, param_hint=f"--{exc.field}") from None
    rows = got.rows
    if not rows:
        said = ", ".join(f"{k} {' or '.join(v) if isinstance(v, list) else v}" for k, v in f.params().items())
        click.echo("no deliveries" + (f" with {said}" if said else ""))
        if got.searched:
            click.echo(f"(the reason was searched for in the newest {got.searched:,} of the other filters)")
        return
    table = [("ID", "AT (UTC)", "STATUS", "RULE", "CHANNEL", "ACCOUNT", "RECIPIENT", "REASON")]
    table += [(str(r.id), f"{r.created_at:%Y-%m-%d %H:%M}", r.status, r.rule_id, r.channel, r.account,
               f"{r.contact_name} <{r.recipient}>" if r.contact_name else r.recipient, r.reason or "")
              for r in rows]  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        click.echo("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip())


@deliveries_group.command("export")
@filter_options
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True, allow_dash=True), default="-",
              show_default=True, help="CSV file to write (- for standard output).")  # fmt: skip
def export_command(output: str, **values) -> None:
    """Every delivery matching the filters as CSV, newest first, read in chunks (any number of rows)."""
    from engine.cli.context import database
    from engine.csvfile import write_csv
    from engine.delivery.log import EXPORT_HEADER, FilterError, export_record, export_rows, page

    f = _filter(values)
    db = database()
    with db.read_session() as session:  # a bad rule or account is refused before the file is opened
        try:
            page(session, f, limit=1)
        except FilterError as exc:
            raise click.BadParameter(exc.message, param_hint=f"--{exc.field}") from None
    with click.open_file(output, "w", encoding="utf-8") as out:
        n = write_csv(out, EXPORT_HEADER, map(export_record, export_rows(db, f)))
    if output != "-":
        click.echo(f"{n:,} deliveries written to {output}", err=True)


@deliveries_group.command("show")
@click.argument("delivery_id", type=int)
@click.option("--raw", is_flag=True, help="Print only the message exactly as it was sent (the MIME bytes for email).")
def show_command(delivery_id: int, raw: bool) -> None:
    """One delivery: who, which rule, its status history, the explanation stored when the rule
    fired, the checks it passed, its clicks and opens, and the message as it was sent (headers and text part)."""
    from engine.cli.context import database
    from engine.delivery.detail import delivery_detail

    with database().read_session() as session:
        detail = delivery_detail(session, delivery_id)
    if detail is None:
        raise click.ClickException(f"no delivery {delivery_id}: see `touchline deliveries list` for the ids")
    if raw:
        if detail.message is None:
            raise click.ClickException(f"delivery {delivery_id} has no stored message: nothing was handed over")
        click.echo(detail.message.raw, nl=False)  # bytes: written as they are
        return
    d = detail.delivery
    account = f"{detail.account.name} ({detail.account.external_id})" if detail.account else f"account {d.account_id}"
    person = f"{detail.contact.name} <{detail.contact.address}>" if detail.contact.name else detail.contact.address
    version = f" v{detail.rule.version}" if detail.rule.version else ""
    click.echo(f"Delivery {d.id}: {d.status}" + (" (a test send)" if detail.is_test else ""))
    for label, value in (("Rule", f"{d.rule_id}{version}, action {d.action_index + 1} ({d.channel}, {d.template})"),
                         ("Account", account), ("Recipient", person), ("Category", d.category),
                         ("Attempts", str(d.attempts)), ("Message-ID", d.message_id or "-"),
                         ("Provider", d.provider_response or "-"), ("Reason", d.reason or "-")):  # fmt: skip
        click.echo(f"  {label + ':':<12}{value}")
    click.echo("\nHistory (UTC):")
    for change in detail.history:
        extra = f" [{change.detail}]" if change.detail else ""
        click.echo(f"  {change.at:%Y-%m-%d %H:%M:%S}  {change.status:<10} {change.reason or ''}{extra}".rstrip())
    click.echo("\nExplanation" + (f" (when the rule fired, {detail.explanation.at}):" if detail.explanation else ": none stored"))
    for line in detail.explanation.lines if detail.explanation else ():
        mark = {True: "yes", False: "no"}.get(line.held, "?")
        saw = f"  (saw {line.saw!r})" if line.has_value else ""
        click.echo(f"  {'  ' * line.depth}[{mark:>3}] {line.condition}{saw}")
    click.echo("\nChecks:")
    for verdict in detail.verdicts:
        click.echo(f"  {verdict.check:<12}{verdict.outcome:<12}{verdict.text}")
    if d.channel == "email":
        e = detail.engagements
        click.echo(f"\nClicks and opens: {e.clicks} clicks by people, {e.flagged_clicks} flagged as link scanners', "
                   f"{e.opens} opens ({e.flagged_opens} flagged)")  # fmt: skip
        for r in e.rows:
            judged = f"flagged: {r.flagged}" if r.flagged else "a person"
            click.echo(f"  {r.at:%Y-%m-%d %H:%M:%S}  {r.kind:<6}{r.url or '-'}  {r.method} {r.address or '-'}  {judged}")
    if detail.nudge is not None:
        n = detail.nudge

        def when(at) -> str:
            return f"{at:%Y-%m-%d %H:%M:%S}" if at else "-"

        click.echo(f"\nIn the product: a {n.kind}, priority {n.priority}; first seen {when(n.seen_at)}, clicked {when(n.clicked_at)}, "
                   f"dismissed {when(n.dismissed_at)}, snoozed until {when(n.snoozed_until)}, expires {when(n.expires_at)}")  # fmt: skip
    message = detail.message
    if message is None:
        click.echo("\nMessage: none stored (nothing was handed over)")
        return
    click.echo(f"\nMessage as sent (attempt {message.attempt}, {message.at:%Y-%m-%d %H:%M:%S} UTC):")
    for name, value in message.headers:
        click.echo(f"  {name}: {value}")
    click.echo("\n" + (message.text or "(no text part)"))


@click.command("dispatch")
def dispatch_command() -> None:
    """Sweep and dispatch once now (what the scheduler does every TOUCHLINE_DISPATCH_SECONDS): needs Redis and a worker to send."""
    from engine.jobs.send import dispatch_tick

    outcome = dispatch_tick()
    click.echo(", ".join(f"{k} {v}" for k, v in outcome.items()))


def register(cli: click.Group) -> None:
    cli.add_command(deliveries_group)
    cli.add_command(dispatch_command)
