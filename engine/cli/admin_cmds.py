"""``touchline users`` and ``touchline api-keys``."""

from __future__ import annotations

import click

from engine.cli.context import database
from engine.roles import USER_ROLES

# The database parts are imported inside each command: `touchline --help`
# and the process commands should not pay for SQLAlchemy at start-up.


@click.group("users")
def users_group() -> None:
    """Admin users."""


@users_group.command("create")
@click.argument("email")
@click.option("--role", type=click.Choice(USER_ROLES), default="viewer", show_default=True)
@click.password_option(help="Prompted for when not given.")
def create_user(email: str, role: str, password: str) -> None:
    """Create an admin user."""
    from engine import auth

    with database().session() as session:
        try:
            auth.create_user(session, email, password, role)
        except auth.AuthError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"created {role} {email}")


@users_group.command("list")
def list_users() -> None:
    """List admin users."""
    from sqlalchemy import select

    from engine.models import User

    with database().read_session() as session:
        for user in session.scalars(select(User).order_by(User.email)):
            click.echo(f"{user.email:40} {user.role:8} {'active' if user.active else 'disabled'}")


@click.group("api-keys")
def keys_group() -> None:
    """Ingest API keys."""


@keys_group.command("create")
@click.argument("name")
def create_key(name: str) -> None:
    """Create an API key named NAME and print its token (shown only once)."""
    from engine import auth

    with database().session() as session:
        try:
            key, token = auth.create_api_key(session, name)
        except auth.AuthError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"API key {key.name!r} (prefix {key.prefix}); store this token now, it is not shown again:")
    click.echo(token)


@keys_group.command("list")
def list_keys() -> None:
    """List API keys (prefix, name, state)."""
    from sqlalchemy import select

    from engine.models import ApiKey

    with database().read_session() as session:
        for key in session.scalars(select(ApiKey).order_by(ApiKey.created_at)):
            state = f"revoked {key.revoked_at:%Y-%m-%d}" if key.revoked_at else "active"
            click.echo(f"{key.prefix}  {key.name:30} {state}")


@keys_group.command("revoke")
@click.argument("prefix")
def revoke_key(prefix: str) -> None:
    """Revoke the active key with PREFIX."""
    from engine import auth

    with database().session() as session:
        try:
            key = auth.revoke_api_key(session, prefix)
        except auth.AuthError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"revoked {key.prefix} ({key.name})")


def register(cli: click.Group) -> None:
    cli.add_command(users_group)
    cli.add_command(keys_group)
