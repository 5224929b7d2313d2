"""``touchline rules``: check rule files before they go live."""

from __future__ import annotations

import sys
from pathlib import Path

import click


@click.group("rules")
def rules_group() -> None:
    """Rule files: check them; list, pause and resume applied rules."""


TEMPLATES = click.option(
    "--templates", "templates_dir", default=None, type=click.Path(file_okay=False),
    help="Folder of message templates the rules' actions must name.  [default: TOUCHLINE_TEMPLATES_DIR]",
)  # fmt: skip


def known_templates(templates_dir: str | None):
    """The message templates rule actions may name (engine.rules.validate.KnownTemplates).

    None, with a warning, when the folder does not exist: the rules are then
    checked without their templates rather than all refused.
    """
    from engine.rules.validate import KnownTemplates
    from engine.templates.library import TemplateLibrary

    if templates_dir is None:
        from engine.cli.context import settings

        folder = settings().templates_dir
    else:
        folder = Path(templates_dir)
    if not folder.is_dir():
        click.echo(f"warning: templates not checked: the folder {folder} does not exist (TOUCHLINE_TEMPLATES_DIR or --templates)", err=True)
        return None
    try:
        shown = str(folder.resolve().relative_to(Path.cwd()))
    except ValueError:
        shown = str(folder)
    return KnownTemplates(shown, frozenset(TemplateLibrary(folder).names()))


@rules_group.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
@TEMPLATES
def check_command(paths: tuple[str, ...], templates_dir: str | None) -> None:
    """Validate rule files and folders (default: rules/).

    A folder is checked with its segments/ subfolder and its fatigue policy
    (policy.yaml), if it has one; a file named policy.yaml is checked as a
    policy. Every template an action names must exist. Every problem is
    printed as file:line:column: path: message. Exit status 1 if there is
    any problem, else 0.
    """
    # Imported here so other commands do not pay for the validator.
    from engine.delivery.policy import FILE_NAME, check_policy_file
    from engine.rules.validate import Check, check_paths

    if not paths:
        paths = ("rules",)
    rule_paths = [p for p in paths if Path(p).name != FILE_NAME or Path(p).is_dir()]
    policies = [Path(p) for p in paths if Path(p).name == FILE_NAME and not Path(p).is_dir()]
    policies += [Path(p) / FILE_NAME for p in rule_paths if Path(p).is_dir() and (Path(p) / FILE_NAME).is_file()]
    check = check_paths(rule_paths, known_templates(templates_dir)) if rule_paths else Check()
    problems = list(check.problems)
    for policy in policies:
        problems += check_policy_file(policy)[1]
    for problem in problems:
        click.echo(str(problem))
    files = {p.source for p in problems}
    if problems:
        click.echo(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {len(files)} file{'s' if len(files) != 1 else ''}", err=True)
        sys.exit(1)
    checked = f"policy {', '.join(map(str, policies))}"
    if not rule_paths:
        click.echo(f"ok: {checked} checked, no problems")
        return
    click.echo(f"ok: {_count(len(check.rules), 'rule')} and {_count(check.segments, 'segment')} checked, no problems"
               + (f" ({checked} too)" if policies else ""))  # fmt: skip


@click.command("explain")
@click.argument("rule")
@click.argument("account", metavar="SUBJECT")
@click.option("--rules", "rules_dir", default="rules", show_default=True, type=click.Path(exists=True, file_okay=False), help="Folder of rule files.")
@click.option("--at", "at", default=None, metavar="TIMESTAMP", help="Evaluate as of this ISO 8601 time.  [default: now]")
def explain_command(rule: str, account: str, rules_dir: str, at: str | None) -> None:
    """Show, for SUBJECT, each condition of RULE (its id), the value seen and
    whether it held. SUBJECT is an account's external id, or for a rule with
    level: contact a contact's external id."""
    from sqlalchemy import select

    from engine.cli.context import database
    from engine.ingest.fields import FieldError, timestamp
    from engine.models import Account, Contact, utcnow
    from engine.rules.evaluate import explain
    from engine.rules.facts import events_of, load_contact_facts, load_facts, rules_of
    from engine.rules.validate import check_paths

    try:
        now = timestamp(at) if at else utcnow()
    except FieldError as exc:
        raise click.BadParameter(str(exc), param_hint="--at") from None
    check = check_paths([rules_dir])
    found = {r.id: r for r in check.rules}
    if rule not in found:
        own = [p for p in check.problems if f"/{rule}.yaml" in p.source or p.source == f"{rule}.yaml"]
        for problem in own:
            click.echo(str(problem), err=True)
        if own:
            raise click.ClickException(f"rule {rule!r} has problems; fix them first (touchline rules check)")
        raise click.ClickException(f"no rule {rule!r} in {rules_dir}/ (rules there: {', '.join(sorted(found)) or 'none'})")
    chosen = found[rule]
    events, rules = events_of(chosen.when), rules_of(chosen.when)
    with database().read_session() as session:
        if chosen.level == "contact":
            row = session.execute(
                select(Contact.id, Account.external_id).join(Account, Account.id == Contact.account_id)
                .where(Contact.external_id == account)
            ).first()  # fmt: skip
            if row is None:
                raise click.ClickException(_no_contact(session, rule, account))
            tree = explain(chosen.when, load_contact_facts(session, row[0], now, events, rules), now)
            subject = f"contact {account} (account {row[1]})"
        else:
            account_id = session.scalar(select(Account.id).where(Account.external_id == account))
            if account_id is None:
                raise click.ClickException(f"no account with id {account!r}")
            tree = explain(chosen.when, load_facts(session, account_id, now, events, rules), now)
            subject = f"account {account}"
    click.echo(f"{chosen.id} for {subject} at {now:%Y-%m-%d %H:%M:%S}Z")
    _print_tree(tree, 1)
    click.echo(f"{account} {'matches' if tree.held else 'does not match'} {chosen.id}")


def _no_contact(session, rule: str, given: str) -> str:
    """The error for a contact-level rule given something that is not a contact's id."""
    from sqlalchemy import select

    from engine.models import Account, Contact

    message = f"no contact with id {given!r}; rule {rule!r} is contact-level, so give a contact's external id"
    account_id = session.scalar(select(Account.id).where(Account.external_id == given))
    if account_id is not None:
        ids = list(session.scalars(
            select(Contact.external_id).where(Contact.account_id == account_id).order_by(Contact.external_id).limit(6)
        ))  # fmt: skip
        shown = ", ".join(ids[:5]) + (", ..." if len(ids) > 5 else "")
        message += f" (contacts of account {given}: {shown or 'none'})"
    return message


def _print_tree(node, depth: int) -> None:
    seen = "" if node.children else f"  (saw: {'missing' if node.value is None else node.value})"
    click.echo(f"{'  ' * depth}[{'yes' if node.held else 'no '}] {node.text}{seen}")
    for child in node.children:
        _print_tree(child, depth + 1)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def register(cli: click.Group) -> None:
    cli.add_command(rules_group)
    cli.add_command(explain_command)
