"""``touchline rules``: check rule files before they go live."""

from __future__ import annotations

import sys

import click


@click.group("rules")
def rules_group() -> None:
    """Rule files: check them."""


@rules_group.command("check")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def check_command(paths: tuple[str, ...]) -> None:
    """Validate rule files and folders (default: rules/).

    A folder is checked with its segments/ subfolder. Every problem is
    printed as file:line:column: path: message. Exit status 1 if there is
    any problem, else 0.
    """
    # Imported here so other commands do not pay for the validator.
    from engine.rules.validate import check_paths

    if not paths:
        paths = ("rules",)
    check = check_paths(list(paths))
    for problem in check.problems:
        click.echo(str(problem))
    files = {p.source for p in check.problems}
    if check.problems:
        click.echo(f"{len(check.problems)} problem{'s' if len(check.problems) != 1 else ''} in {len(files)} file{'s' if len(files) != 1 else ''}", err=True)
        sys.exit(1)
    click.echo(f"ok: {_count(len(check.rules), 'rule')} and {_count(check.segments, 'segment')} checked, no problems")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def register(cli: click.Group) -> None:
    cli.add_command(rules_group)
