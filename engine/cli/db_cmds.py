"""``touchline db``: schema migrations."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click

from engine.cli.context import database


@contextmanager
def _revision_errors() -> Iterator[None]:
    """Alembic's own errors (unknown revision, ...) as a one-line message, not a traceback."""
    from alembic.util import CommandError

    try:
        yield
    except CommandError as exc:
        raise click.ClickException(f"{exc}; 'touchline db current' shows the revisions") from None


@click.group("db")
def db_group() -> None:
    """Database schema migrations (Alembic)."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def upgrade(revision: str) -> None:
    """Upgrade the schema to REVISION (default: the latest)."""
    from engine import migrate

    db = database(require_current=False)
    before = migrate.current_revision(db)
    with _revision_errors():
        migrate.upgrade(db, revision)
    click.echo(f"database schema: {before or 'empty'} -> {migrate.current_revision(db)}")


@db_group.command("downgrade")
@click.argument("revision")
def downgrade(revision: str) -> None:
    """Downgrade the schema to REVISION ('base' drops every table)."""
    from engine import migrate

    db = database(require_current=False)
    with _revision_errors():
        migrate.downgrade(db, revision)
    click.echo(f"database schema now at {migrate.current_revision(db) or 'empty'}")


@db_group.command("current")
def current() -> None:
    """Show the schema revision and whether it is the latest."""
    from engine import migrate

    db = database(require_current=False)
    cur, head = migrate.current_revision(db), migrate.head_revision(db)
    click.echo(f"current: {cur or 'empty'}  latest: {head}{'' if cur == head else '  (run: touchline db upgrade)'}")


def register(cli: click.Group) -> None:
    cli.add_command(db_group)
