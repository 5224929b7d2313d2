"""``touchline accounts``: find accounts and read one, as the admin's Accounts pages do."""

from __future__ import annotations

import click


@click.group("accounts")
def accounts_group() -> None:
    """Search accounts; show one account's contacts, history, usage, timeline and rules."""


@accounts_group.command("search")
@click.argument("q", default="")
@click.option("--tier", default=None, help="high, low or tech.")
@click.option("--plan", default=None, help="Exact plan name.")
@click.option("--owner", default=None, help="Exact owner (success manager).")
@click.option("--after", default=None, metavar="ID", help="Start after this account id (the previous page's last).")
@click.option("--limit", default=50, show_default=True, type=int, help="Accounts per page (1-200).")
def search_command(q: str, tier: str | None, plan: str | None, owner: str | None, after: str | None, limit: int) -> None:
    """Accounts whose id, name, contact address or address domain starts with Q
    (names also containing Q, for 3 characters or more), in id order."""
    from engine.accounts import AccountFilter, SearchError, search_accounts
    from engine.cli.context import database

    try:
        flt = AccountFilter(q=q, tier=tier, plan=plan, owner=owner)
        with database().read_session() as session:
            page = search_accounts(session, flt, cursor=after, limit=limit)
    except SearchError as exc:
        raise click.ClickException(str(exc)) from None
    if not page.rows:
        click.echo("no accounts match")
        return
    for row in page.rows:
        click.echo("\t".join([
            row.external_id, row.name, row.tier, row.plan or "-", row.owner or "-",
            f"{row.contacts} contact{'' if row.contacts == 1 else 's'}",
        ]))  # fmt: skip
    if page.next_cursor:
        click.echo(f"more: touchline accounts search {q!r} --after {page.next_cursor}", err=True)


@accounts_group.command("show")
@click.argument("account_id", metavar="ID")
@click.option("--at", "at", default=None, metavar="TIMESTAMP", help="As of this ISO 8601 time.  [default: now]")
@click.option("--timeline-days", default=14, show_default=True, type=int, help="Days of the timeline to print (newest first).")
def show_command(account_id: str, at: str | None, timeline_days: int) -> None:
    """One account: fields, contacts, owner/tier/plan changes, 90-day usage, timeline,
    and whether each applied rule matches it now, condition by condition."""
    from engine.accounts import UnknownAccount, account_detail
    from engine.cli.context import database
    from engine.cli.rules_cmds import _print_tree
    from engine.ingest.fields import FieldError, timestamp
    from engine.models import utcnow

    try:
        now = timestamp(at) if at else utcnow()
    except FieldError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None
    try:
        with database().read_session() as session:
            d = account_detail(session, account_id, now)
    except UnknownAccount as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{d.external_id}  {d.name}")
    click.echo(f"  tier {d.tier}, plan {d.plan or '-'}, owner {d.owner or '-'}, MRR {d.mrr if d.mrr is not None else '-'}")
    click.echo(f"  signed up {_when(d.signup_at)}, renews {_when(d.renewal_at)}, {d.timezone or 'no timezone'}, {d.locale or 'no locale'}")
    for key, value in sorted(d.traits.items()):
        click.echo(f"  trait {key}: {value}")
    click.echo(f"contacts ({len(d.contacts)}):")
    for c in d.contacts:
        unsub = "; ".join(f"{reason} {'all' if cat == '*' else cat}" for cat, reason in c.suppressions)
        click.echo(f"  {c.external_id}\t{c.name or '-'}\t{c.email or '-'}\t{c.role}\t{c.locale or '-'}" + (f"\t{unsub}" if unsub else ""))
    click.echo(f"changes ({len(d.changes)}):")
    for ch in d.changes:
        click.echo(f"  {_when(ch.changed_at)}  {ch.field}: {ch.old_value or '-'} -> {ch.new_value or '-'} ({ch.source})")
    click.echo("usage, last 90 days (events; * read by applied rules):")
    for series in d.usage:
        last7 = sum(count for _, count in series.days[-7:])
        click.echo(f"  {'*' if series.key else ' '} {series.event}: {series.total} in 90 days, {last7} in the last 7")
    click.echo(f"timeline (last {timeline_days} days with activity, UTC):")
    for day in d.timeline[:timeline_days]:
        events = ", ".join(f"{name} {count}" for name, count in day.events)
        click.echo(f"  {day.day}  {events or 'no events'}")
        for item in day.items:
            flagged = f" (flagged: {item.flagged})" if item.flagged else ""
            click.echo(f"    {item.at:%H:%M} {item.kind}{' ' + item.status if item.status else ''}: {item.text}{flagged}")
    click.echo(f"rules ({len(d.rules)}) at {now:%Y-%m-%d %H:%M:%S}Z:")
    for rule in d.rules:
        state = " (paused)" if rule.paused else ""
        if rule.level == "contact":
            verdict = f"{rule.matching} of {rule.subjects} contacts match"
        else:
            verdict = "matches" if rule.matches else "does not match"
        click.echo(f"{rule.rule_id} v{rule.version}{state}: {verdict}")
        for check in rule.checks:
            if rule.level == "contact":
                click.echo(f"  contact {check.subject}")
            _print_tree(check.tree, 2 if rule.level == "contact" else 1)


def _when(value) -> str:
    return f"{value:%Y-%m-%d %H:%M}Z" if value else "-"


def register(cli: click.Group) -> None:
    cli.add_command(accounts_group)
