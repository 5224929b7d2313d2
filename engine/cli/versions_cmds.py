"""``touchline rules history|diff|rollback|export``: a rule's versions, the admin's history page as commands."""

from __future__ import annotations

from pathlib import Path

import click

from engine.cli.rules_cmds import rules_group


@rules_group.command("history")
@click.argument("rule")
def history_command(rule: str) -> None:
    """Every version of RULE (its id), newest first: origin, author, when, comment."""
    from engine.cli.context import database
    from engine.rules.history import rule_history
    from engine.rules.versions import UnknownRule

    try:
        with database().read_session() as session:
            versions = rule_history(session, rule)
    except UnknownRule as exc:
        raise click.ClickException(str(exc)) from None
    table = [("VERSION", "ACTIVE", "ORIGIN", "AUTHOR", "AT", "COMMENT")]
    for v in versions:
        origin = f"file {v.git_commit[:12]}" if v.origin == "file" and v.git_commit else v.origin
        comment = (f"rollback to version {v.restored_from}: " if v.restored_from else "") + (v.comment or "")
        table.append((str(v.version), "*" if v.active else "", origin, v.author, f"{v.created_at:%Y-%m-%d %H:%M:%S}Z", comment))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        click.echo("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip())


@rules_group.command("diff")
@click.argument("rule")
@click.argument("old", type=int)
@click.argument("new", type=int)
def diff_command(rule: str, old: int, new: int) -> None:
    """What changed in RULE (its id) from version OLD to version NEW, as a unified diff."""
    from engine.cli.context import database
    from engine.rules.edits import UnknownVersion
    from engine.rules.history import version_diff
    from engine.rules.versions import UnknownRule

    try:
        with database().read_session() as session:
            diff = version_diff(session, rule, old, new)
    except (UnknownRule, UnknownVersion) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(diff.unified or f"versions {old} and {new} of {rule} are identical", nl=bool(not diff.unified))


@rules_group.command("rollback")
@click.argument("rule")
@click.argument("version", type=int)
@click.option("--comment", "-m", required=True, help="Why (required): kept with the new version and in the audit trail.")
def rollback_command(rule: str, version: int, comment: str) -> None:
    """Make VERSION of RULE (its id) live again, as a new version with that content."""
    from engine.audit import cli_actor
    from engine.cli.context import database
    from engine.rules.edits import RollbackRefused, UnknownVersion, rollback_rule
    from engine.rules.versions import ReasonRequired, UnknownRule

    try:
        with database().session() as session:
            applied = rollback_rule(session, rule, version, actor=cli_actor(), comment=comment)
    except RollbackRefused as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(str(exc)) from None
    except (UnknownRule, UnknownVersion, ReasonRequired) as exc:
        raise click.ClickException(str(exc)) from None
    if applied.status == "unchanged":
        click.echo(f"{rule}: version {version}'s content is already live (version {applied.version}); nothing changed")
    else:
        click.echo(f"{rule}: version {applied.version} (rollback to version {version})")


@rules_group.command("export")
@click.argument("folder", type=click.Path(file_okay=False, path_type=Path))
def export_command(folder: Path) -> None:
    """Write the live version of every applied rule to FOLDER as rule files,
    with the segments each carries in FOLDER/segments, exactly as stored:
    touchline apply FOLDER then finds every rule unchanged."""
    from engine.cli.context import database
    from engine.rules.export import ExportConflict, export_rules

    try:
        with database().read_session() as session:
            result = export_rules(session, folder)
    except ExportConflict as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write to {folder}: {exc.strerror or exc}") from None
    if not result.rules:
        click.echo("no rules applied yet; nothing to export")
        return
    for written in result.files:
        click.echo(f"{written.path}: {written.status}")
    for other in result.others:
        click.echo(f"warning: {other} is not a live rule; touchline apply {folder} would apply it too", err=True)
    n = sum(1 for w in result.files if w.status == "written")
    click.echo(f"exported {result.rules} rule{'s' if result.rules != 1 else ''}: {n} file{'s' if n != 1 else ''} written, "
               f"{len(result.files) - n} unchanged")  # fmt: skip


def register(cli: click.Group) -> None:
    # The commands join the rules group when this module is imported.
    pass
