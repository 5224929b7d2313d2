"""``touchline plan``, ``touchline apply`` and ``touchline rules pause/resume/list``."""

from __future__ import annotations

import getpass
import os
import re
import sys

import click

from engine.cli.rules_cmds import TEMPLATES, known_templates, rules_group

PATHS = click.argument("paths", nargs=-1, type=click.Path(exists=True))


def _load(paths: tuple[str, ...], templates_dir: str | None):
    from engine.rules.versions import read_rules

    loaded = read_rules(list(paths) or ["rules"], known_templates(templates_dir))
    for problem in loaded.problems:
        click.echo(str(problem))
    if loaded.problems:
        files = {p.source for p in loaded.problems}
        n = len(loaded.problems)
        click.echo(f"{n} problem{'s' if n != 1 else ''} in {len(files)} file{'s' if len(files) != 1 else ''}", err=True)
    return loaded


@click.command("plan")
@PATHS
@TEMPLATES
@click.option("--all", "plan_all", is_flag=True, help="Also plan rules that are unchanged since they were applied.")
@click.option("--at", "at", default=None, metavar="TIMESTAMP", help="Plan as of this ISO 8601 time.  [default: now]")
@click.option(
    "--backtest", "backtest", nargs=2, multiple=True, metavar="DURATION RULE",
    help="Replay RULE (its id) over the last DURATION days (e.g. 30d) instead, day by day.",
)  # fmt: skip
def plan_command(
    paths: tuple[str, ...], templates_dir: str | None, plan_all: bool, at: str | None, backtest: tuple[tuple[str, str], ...]
) -> None:
    """Show what applying rule files (default: rules/) would do now: accounts
    entering and leaving each rule's segment and messages per channel.

    With --backtest 30d RULE: replay that rule over the last 30 days and show,
    day by day, the accounts entering and leaving and the messages.

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
    if backtest:
        _backtest(paths, templates_dir, backtest, plan_all, now)
        return
    from engine.rules.drift import find_drift

    loaded = _load(paths, templates_dir)
    with database().read_session() as session:
        plans = plan(session, loaded.rules, now, include_unchanged=plan_all)
        drifts = find_drift(session, loaded.rules)
    click.echo(f"plan at {now:%Y-%m-%d %H:%M:%S}Z")
    drifted = {d.rule_id for d in drifts}
    for p in plans:
        head = f"{p.rule_id}: {p.status}" + (" (paused)" if p.paused else "")
        if p.rule_id in drifted:
            head += " (drift: its live version was edited in the admin; see below)"
        unit = " contacts" if p.level == "contact" else ""  # a contact-level rule counts contacts
        if not p.planned:
            # Unchanged: its segment as the evaluation cycle left it, and how to evaluate it now.
            when = f"evaluated {p.evaluated_at:%Y-%m-%d %H:%M:%S}Z" if p.evaluated_at else "not evaluated yet"
            click.echo(f"{head}; {p.note}")
            click.echo(f"  in segment {p.members}{unit} ({when})")
            if p.member_sample:
                click.echo(f"  members: {', '.join(p.member_sample)}")
            continue
        click.echo(head)
        click.echo(f"  entering {p.entering}{unit}, leaving {p.leaving}{unit}")
        click.echo("  messages: " + (", ".join(f"{channel} {n}" for channel, n in p.messages.items()) or "none"))
        if p.sample:
            click.echo(f"  sample: {', '.join(p.sample)}")
    counts = {s: sum(1 for p in plans if p.status == s) for s in ("new", "changed", "unchanged")}
    click.echo(", ".join(f"{n} {s}" for s, n in counts.items()))
    if drifts:
        _echo_drift(drifts)
        click.echo("apply refuses these rules unless --overwrite-admin-edits is given; to keep the admin's "
                   "version, write it to files first: touchline rules export DIR", err=True)  # fmt: skip
    if loaded.problems:
        sys.exit(1)


def _echo_drift(drifts) -> None:
    """Each rule edited in the admin since the files' last apply, with the diff from the live version to its file."""
    for drift in drifts:
        click.echo(f"warning: drift: {drift.describe()}:", err=True)
        for line in drift.diff.splitlines():
            click.echo(f"  {line}", err=True)


def _backtest_days(text: str) -> int:
    from engine.rules.backtest import MAX_DAYS

    match = re.fullmatch(r"([0-9]+)d", text.strip())
    days = int(match.group(1)) if match else 0
    if not 1 <= days <= MAX_DAYS:
        message = f"{text!r}: expected whole days from 1d to {MAX_DAYS}d, such as 30d"
        raise click.BadParameter(message, param_hint="'--backtest'")
    return days


def _backtest(paths: tuple[str, ...], templates_dir: str | None, spec: tuple[tuple[str, str], ...], plan_all: bool, now) -> None:
    from engine.cli.context import database
    from engine.rules.backtest import backtest, report_lines

    if len(spec) > 1:
        raise click.UsageError("--backtest takes one rule at a time")
    if plan_all:
        raise click.UsageError("--all does not go with --backtest")
    duration, rule_id = spec[0]
    days = _backtest_days(duration)
    loaded = _load(paths, templates_dir)
    found = [s.rule for s in loaded.rules if s.rule.id == rule_id]
    if not found:
        where = ", ".join(paths) or "rules/"
        known = ", ".join(sorted(s.rule.id for s in loaded.rules)) or "none"
        broken = "; files with problems are left out" if loaded.problems else ""
        raise click.ClickException(f"no rule {rule_id!r} in {where} (rules found: {known}{broken})")
    rule = found[0]
    if rule.level != "account":
        raise click.ClickException(f"{rule_id}: contact-level rules cannot be backtested yet")
    with database().read_session() as session:
        result = backtest(session, rule, days, now)
    for line in report_lines(result):
        click.echo(line)
    if loaded.problems:
        sys.exit(1)


@click.command("apply")
@PATHS
@TEMPLATES
@click.option("--author", default=None, help="Who applies the rules.  [default: $USER, else 'unknown']")
@click.option("--comment", "-m", default=None, help="Why, kept with each new version.  [default: 'applied from FILE']")
@click.option(
    "--overwrite-admin-edits", is_flag=True,
    help="Replace live versions edited in the admin since the files' last apply (see touchline plan) with the files.",
)  # fmt: skip
def apply_command(
    paths: tuple[str, ...], templates_dir: str | None, author: str | None, comment: str | None, overwrite_admin_edits: bool
) -> None:
    """Make rule files (default: rules/) the active versions.

    A rule whose file (and segments) is unchanged keeps its version. Nothing
    is applied if any file has problems, or if a rule's live version was
    edited in the admin since the files were last applied (drift) and
    --overwrite-admin-edits is not given.
    """
    from engine.audit import cli_actor
    from engine.cli.context import database
    from engine.rules.apply import apply_sources
    from engine.rules.drift import AdminEditsDrift
    from engine.rules.versions import current_git_commit

    loaded = _load(paths, templates_dir)
    if loaded.problems:
        click.echo("nothing applied; fix the problems first", err=True)
        sys.exit(1)
    if not loaded.rules:
        raise click.ClickException("no rules found to apply")
    author = author or os.environ.get("USER") or _login() or "unknown"
    commit = current_git_commit((list(paths) or ["rules"])[0])
    try:
        with database().session() as session:
            applied = apply_sources(
                session, loaded.rules, actor=cli_actor(), origin="file", author=author, git_commit=commit,
                comment=comment, overwrite_admin_edits=overwrite_admin_edits,
            )  # fmt: skip
    except AdminEditsDrift as exc:
        _echo_drift(exc.drifts)
        click.echo(str(exc), err=True)
        sys.exit(1)
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
@click.option("--reason", required=True, help="Why (required): shown in the rule list and kept in the audit trail.")
def pause_command(rule: str, reason: str) -> None:
    """Stop RULE (its id) from being evaluated until it is resumed."""
    from engine.audit import cli_actor
    from engine.cli.context import database
    from engine.rules.versions import ReasonRequired, UnknownRule, pause_rule

    try:
        with database().session() as session:
            pause_rule(session, rule, reason, actor=cli_actor())
    except (UnknownRule, ReasonRequired) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"paused {rule}: {reason.strip()}")


@rules_group.command("resume")
@click.argument("rule")
def resume_command(rule: str) -> None:
    """Evaluate RULE (its id) again."""
    from engine.audit import cli_actor
    from engine.cli.context import database
    from engine.rules.versions import UnknownRule, resume_rule

    try:
        with database().session() as session:
            resume_rule(session, rule, actor=cli_actor())
    except UnknownRule as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"resumed {rule}")


@rules_group.command("list")
@click.option("--wide", is_flag=True, help="Also name, trigger, last evaluation, segment size and the last 7 days' sent/held out/skipped (the admin's rules list).")
def list_command(wide: bool) -> None:
    """Applied rules: active version, paused, when and by whom applied."""
    from engine.cli.context import database
    from engine.rules.versions import active_versions

    if wide:
        _list_wide()
        return
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


def _list_wide() -> None:
    """engine.rules.overview, as the admin's rules list shows it; the state's reason on its own line."""
    from engine.cli.context import database
    from engine.models import utcnow
    from engine.rules.overview import rules_overview

    with database().read_session() as session:
        rules = rules_overview(session, utcnow())
    if not rules:
        click.echo("no rules applied yet; run touchline apply")
        return
    head = ("RULE", "NAME", "CATEGORY", "TRIGGER", "STATE", "VERSION", "LAST EVALUATED", "IN SEGMENT", "SENT 7D", "HELD OUT 7D", "SKIPPED 7D")
    table = [head]
    for r in rules:
        evaluated = f"{r.last_evaluated_at:%Y-%m-%d %H:%M:%S}Z" if r.last_evaluated_at else "never"
        table.append((r.rule_id, r.name, r.category, r.trigger, r.state, f"{r.version} ({r.author})", evaluated,
                      f"{r.in_segment:,}", f"{r.sent:,}", f"{r.held_out:,}", f"{r.skipped:,}"))  # fmt: skip
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    numeric = range(7, len(head))  # counts right-aligned
    for row, rule in zip(table, [None, *rules]):
        click.echo("  ".join(c.rjust(w) if i in numeric else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))).rstrip())
        if rule is not None and rule.paused_reason:
            click.echo(f"  {rule.state}: {rule.paused_reason}")


def register(cli: click.Group) -> None:
    # pause, resume and list join the rules group when this module is imported.
    cli.add_command(plan_command)
    cli.add_command(apply_command)
