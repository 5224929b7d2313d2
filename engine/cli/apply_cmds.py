"""``touchline plan``, ``touchline apply`` and ``touchline rules pause/resume/list``."""

from __future__ import annotations

import getpass
import os
import sys

import click

from engine.cli.rules_cmds import rules_group

PATHS = click.argument("paths", nargs=-1, type=click.Path(exists=True))


def _load(paths: tuple[str, ...]):
    from engine.rules.versions import read_rules

    loaded = read_rules(list(paths) or ["rules"])
    for problem in loaded.problems:
        click.echo(str(problem))
    if loaded.problems:
        files = {p.source for p in loaded.problems}
        n = len(loaded.problems)
        click.echo(f"{n} problem{'s' if n != 1 else ''} in {len(files)} file{'s' if len(files) != 1 else ''}", err=True)
    return loaded


@click.command("plan")
@PATHS
@click.option("--all", "plan_all", is_flag=True, help="Also plan rules that are unchanged since they were applied.")
@click.option("--at", "at", default=None, metavar="TIMESTAMP", help="Plan as of this ISO 8601 time.  [default: now]")
def plan_command(paths: tuple[str, ...], plan_all: bool, at: str | None) -> None:
    """Show what applying rule files (default: rules/) would do now: accounts
    entering and leaving each rule's segment and messages per channel.

    Counts are before holdout, limits and send windows. Writes nothing.
    Exit status 1 if any file has problems.
    """
    from engine.cli.context import database
    from engine.ingest.fields import FieldError, timestamp
    from engine.models import utcnow
    from engine.rules.plan import plan

    try:
        now = timestamp(at) if at else utcnow()
    except FieldError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None
    loaded = _load(paths)
    with database().read_session() as session:
        plans = plan(session, loaded.rules, now, include_unchanged=plan_all)
    click.echo(f"plan at {now:%Y-%m-%d %H:%M:%S}Z")
    for p in plans:
        head = f"{p.rule_id}: {p.status}" + (" (paused)" if p.paused else "")
        if not p.planned:
            click.echo(f"{head}; {p.note}")
            continue
        click.echo(head)
        click.echo(f"  entering {p.entering}, leaving {p.leaving}")
        click.echo("  messages: " + (", ".join(f"{channel} {n}" for channel, n in p.messages.items()) or "none"))
        if p.sample:
            click.echo(f"  sample: {', '.join(p.sample)}")
    counts = {s: sum(1 for p in plans if p.status == s) for s in ("new", "changed", "unchanged")}
    click.echo(", ".join(f"{n} {s}" for s, n in counts.items()))
    if loaded.problems:
        sys.exit(1)


@click.command("apply")
@PATHS
@click.option("--author", default=None, help="Who applies the rules.  [default: $USER, else 'unknown']")
def apply_command(paths: tuple[str, ...], author: str | None) -> None:
    """Make rule files (default: rules/) the active versions.

    A rule whose file (and segments) is unchanged keeps its version. Nothing
    is applied if any file has problems.
    """
    from engine.cli.context import database
    from engine.rules.versions import apply_rules, current_git_commit

    loaded = _load(paths)
    if loaded.problems:
        click.echo("nothing applied; fix the problems first", err=True)
        sys.exit(1)
    if not loaded.rules:
        raise click.ClickException("no rules found to apply")
    author = author or os.environ.get("USER") or _login() or "unknown"
    commit = current_git_commit((list(paths) or ["rules"])[0])
    with database().session() as session:
        applied = apply_rules(session, loaded.rules, author, commit)
    for a in applied:
        click.echo(f"{a.rule_id}: unchanged (version {a.version})" if a.status == "unchanged" else f"{a.rule_id}: version {a.version} ({a.status})")
    changed = sum(1 for a in applied if a.status != "unchanged")
    click.echo(f"applied {changed} rule{'s' if changed != 1 else ''}, {len(applied) - changed} unchanged" + (f" (commit {commit[:12]})" if commit else ""))


def _login() -> str | None:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return None


@rules_group.command("pause")
@click.argument("rule")
@click.option("--reason", default=None, help="Why, shown in the rule list.")
def pause_command(rule: str, reason: str | None) -> None:
    """Stop RULE (its id) from being evaluated until it is resumed."""
    from engine.cli.context import database
    from engine.rules.versions import UnknownRule, pause_rule

    try:
        with database().session() as session:
            pause_rule(session, rule, reason)
    except UnknownRule as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"paused {rule}" + (f": {reason}" if reason else ""))


@rules_group.command("resume")
@click.argument("rule")
def resume_command(rule: str) -> None:
    """Evaluate RULE (its id) again."""
    from engine.cli.context import database
    from engine.rules.versions import UnknownRule, resume_rule

    try:
        with database().session() as session:
            resume_rule(session, rule)
    except UnknownRule as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"resumed {rule}")


@rules_group.command("list")
def list_command() -> None:
    """Applied rules: active version, paused, when and by whom applied."""
    from engine.cli.context import database
    from engine.rules.versions import active_versions

    with database().read_session() as session:
        rows = sorted(active_versions(session).items())
    if not rows:
        click.echo("no rules applied yet; run touchline apply")
        return
    table = [("RULE", "VERSION", "PAUSED", "APPLIED AT", "AUTHOR")]
    for rule_id, (state, version) in rows:
        paused = "yes" + (f" ({state.paused_reason})" if state.paused_reason else "") if state.paused else "no"
        table.append((rule_id, str(version.version), paused, f"{version.created_at:%Y-%m-%d %H:%M:%S}Z", version.author))
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        click.echo("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[-1]]).rstrip())


def register(cli: click.Group) -> None:
    # pause, resume and list join the rules group when this module is imported.
    cli.add_command(plan_command)
    cli.add_command(apply_command)
