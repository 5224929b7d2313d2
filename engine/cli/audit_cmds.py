"""``touchline audit list``: read the audit trail (it has no command that changes it)."""

from __future__ import annotations

from datetime import date, datetime, timezone

import click

from engine.cli.context import database

# engine.models.AUDIT_OBJECT_TYPES, spelled out so `touchline --help` does not import
# SQLAlchemy; a test keeps the two equal.
OBJECT_TYPES = ("rule", "segment", "template", "user", "api_key", "suppression", "setting", "test_send")


def _when(value: str | None, param: str) -> date | datetime | None:
    """A date (YYYY-MM-DD: the whole UTC day) or an ISO time (UTC when it names no zone)."""
    if value is None:
        return None
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        at = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: give a date (2026-12-03) or a time (2026-12-03T14:00)", param_hint=param) from None
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


@click.group("audit")
def audit_group() -> None:
    """The audit trail: who changed what, when, before and after."""


@audit_group.command("list")
@click.option("--actor", default=None, help="user:<email>, cli:<name>, api_key:<prefix>, or part of one.")
@click.option("--object-type", type=click.Choice(OBJECT_TYPES), default=None)
@click.option("--object", "object_id", default=None, metavar="ID", help="One object's id (a rule id, an email, a key prefix).")
@click.option("--since", default=None, metavar="WHEN", help="From this date or time (UTC), inclusive.")
@click.option("--until", default=None, metavar="WHEN", help="Up to this date (inclusive) or time (exclusive), UTC.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 500))
@click.option("--before", "cursor", default=None, metavar="CURSOR", help="Continue after the last page (its 'more:' line).")
@click.option("--diff/--no-diff", default=False, help="Show each entry's before/after changes.")
def list_command(actor, object_type, object_id, since, until, limit, cursor, diff) -> None:
    """Entries newest first."""
    from engine.audit import AuditFilter, entry_diff, format_cursor, list_entries, parse_cursor

    try:
        f = AuditFilter(actor=actor, object_type=object_type, object_id=object_id,
                        since=_when(since, "--since"), until=_when(until, "--until"))  # fmt: skip
        after = parse_cursor(cursor) if cursor else None
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    with database().read_session() as session:
        page = list_entries(session, f, after, limit)
        if not page.entries:
            click.echo("no audit entries" + ("" if f.is_empty() else " match these filters"))
            return
        for e in page.entries:
            click.echo(f"{e.at:%Y-%m-%d %H:%M:%S}Z  {e.actor}  {e.action} {e.object_type} {e.object_id}"
                       + (f"  ({e.summary})" if e.summary else ""))  # fmt: skip
            if diff:
                for line in _diff_lines(entry_diff(e)):
                    click.echo(f"    {line}")
    if page.next_cursor:
        click.echo(f"more: --before {format_cursor(page.next_cursor)}")


def _diff_lines(d) -> list[str]:
    import json

    def show(value) -> str:
        return json.dumps(value, ensure_ascii=False)

    lines = list(d.lines)
    for c in d.fields:
        if c.kind == "added":
            lines.append(f"+ {c.path}: {show(c.after)}")
        elif c.kind == "removed":
            lines.append(f"- {c.path}: {show(c.before)}")
        elif c.lines:
            lines += [f"~ {c.path}:", *(f"  {x}" for x in c.lines)]
        else:
            lines.append(f"~ {c.path}: {show(c.before)} -> {show(c.after)}")
    return lines


def register(cli: click.Group) -> None:
    cli.add_command(audit_group)
