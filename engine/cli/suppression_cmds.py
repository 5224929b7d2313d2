"""``touchline suppressions``: see, add and lift entries of the suppression list."""

from __future__ import annotations

import click

from engine.cli.context import database

# engine.models.SUPPRESSION_REASONS, strongest first; spelled out because the
# database parts are imported inside each command (`touchline --help` should
# not pay for SQLAlchemy). A test keeps the two equal.
REASONS = ("complained", "bounced", "unsubscribed")


def _address(address: str) -> str:
    from engine.compliance import InvalidAddress, normalise_address

    try:
        return normalise_address(address)
    except InvalidAddress as exc:
        raise click.BadParameter(str(exc), param_hint="'ADDRESS'") from None


def _category(category: str | None) -> str | None:
    from engine.compliance import InvalidCategory, check_category

    try:
        return None if category is None else check_category(category)
    except InvalidCategory as exc:
        raise click.BadParameter(str(exc), param_hint="--category") from None


def _shown(category: str) -> str:
    from engine.models import ALL_CATEGORIES

    return "all" if category == ALL_CATEGORIES else category


def _describe(row) -> str:
    where = "all categories" if _shown(row.category) == "all" else row.category
    return f"{row.address} in {where}: {row.reason} (source {row.source}, {row.created_at:%Y-%m-%d %H:%M}Z)"


@click.group("suppressions")
def suppressions_group() -> None:
    """The suppression list: who is not mailed, in which category, and why."""


@suppressions_group.command("add")
@click.argument("address")
@click.option("--reason", required=True, type=click.Choice(REASONS), help="Why: a complaint (feedback loop), a bounce, an unsubscribe.")
@click.option("--category", default=None, metavar="NAME", help="Only this category.  [default: all categories]")
@click.option("--source", default="cli", show_default=True, help="Where it came from (at most 100 characters).")
def add_command(address: str, reason: str, category: str | None, source: str) -> None:
    """Stop mail to ADDRESS. A weaker reason never replaces a stronger one
    (complained > bounced > unsubscribed); adding one again changes nothing."""
    from engine.audit import cli_actor
    from engine.compliance import UnsubscribeNotAllowed, suppress

    address, category = _address(address), _category(category)
    with database().session() as session:
        try:
            row = suppress(session, address, reason, category, source, actor=cli_actor())
        except UnsubscribeNotAllowed as exc:
            raise click.ClickException(f"{exc}; use --reason bounced or complained to stop them") from None
        except ValueError as exc:  # the address, category and reason are checked already
            raise click.BadParameter(str(exc), param_hint="--source") from None
        described = _describe(row)
    if row.reason != reason:
        click.echo(f"kept the stronger {row.reason}: {described}")
    else:
        click.echo(f"suppressed {described}")


@suppressions_group.command("list")
@click.argument("address", required=False)
@click.option("--reason", default=None, type=click.Choice(REASONS), help="Only this reason.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10_000))
def list_command(address: str | None, reason: str | None, limit: int) -> None:
    """The latest suppressions, newest first; with ADDRESS, only its own."""
    from sqlalchemy import select

    from engine.models import Suppression

    query = select(Suppression).order_by(Suppression.created_at.desc(), Suppression.id.desc()).limit(limit)
    if address is not None:
        query = query.where(Suppression.address == _address(address))
    if reason is not None:
        query = query.where(Suppression.reason == reason)
    with database().read_session() as session:
        rows = list(session.scalars(query))
    if not rows:
        click.echo("no suppressions" + (f" of {address}" if address else "") + (f" for {reason}" if reason else ""))
        return
    table = [("ADDRESS", "CATEGORY", "REASON", "SOURCE", "CREATED AT")]
    table += [(r.address, _shown(r.category), r.reason, r.source, f"{r.created_at:%Y-%m-%d %H:%M:%S}Z") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        click.echo("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip())


@suppressions_group.command("remove")
@click.argument("address")
@click.option("--category", default=None, metavar="NAME", help="Only this category's suppression.  [default: every one of ADDRESS]")
@click.option("--force", is_flag=True, help="Also remove bounces and complaints.")
def remove_command(address: str, category: str | None, force: bool) -> None:
    """Lift the unsubscribes of ADDRESS: the person asked to be mailed again.

    Bounces and complaints are about the address, not a choice, so they are
    only removed with --force. With --category, after an unsubscribe from all,
    that category is re-joined as on the preference page.
    """
    from engine.audit import cli_actor
    from engine.compliance import rejoined_categories, remove_suppressions, resubscribe, suppressions_of

    address, category = _address(address), _category(category)
    where = f" in {category}" if category else ""
    with database().session() as session:
        before = suppressions_of(session, address)
        rejoined_before = rejoined_categories(session, address)
        in_scope = [r for r in before if category is None or r.category == category]
        hard = [r for r in in_scope if r.reason != "unsubscribed"]
        if hard and not force:
            raise click.ClickException(
                "; ".join(map(_describe, hard)) + ": bounces and complaints are about the address, "
                "not a choice; pass --force to remove them"
            )
        described = {r.id: _describe(r) for r in before}
        if hard:
            remove_suppressions(session, address, category, actor=cli_actor())
        still = resubscribe(session, address, category, actor=cli_actor())
        left = {r.id for r in suppressions_of(session, address)}
        rejoined = rejoined_categories(session, address) - rejoined_before
    removed = [text for row_id, text in described.items() if row_id not in left]
    if not removed and not rejoined:
        others = f"; it has {', '.join(described.values())}" if described else ""
        raise click.ClickException(f"no suppression of {address}{where} to remove{others}")
    for text in removed:
        click.echo(f"removed {text}")
    for name in sorted(rejoined):
        click.echo(f"re-joined {name}: the unsubscribe from all stays for the other categories")
    if still:
        click.echo(f"{address} is still suppressed{where or ' in general'}: {still}")


def register(cli: click.Group) -> None:
    cli.add_command(suppressions_group)
