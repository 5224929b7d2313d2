"""``touchline users`` and ``touchline api-keys``."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import TYPE_CHECKING

import click

from engine.cli.context import database
from engine.roles import USER_ROLES

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

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
    _change_user(lambda auth, session, actor: auth.create_user(session, email, password, role, actor=actor))
    click.echo(f"created {role} {email}")


@users_group.command("password")
@click.argument("email")
@click.password_option(help="Prompted for when not given.")
def set_password(email: str, password: str) -> None:
    """Set a user's password; the user's open sessions end."""
    _change_user(lambda auth, session, actor: auth.change_password(session, email, password, actor=actor))
    click.echo(f"password changed for {email.strip().lower()}; their sessions have ended")


@users_group.command("disable")
@click.argument("email")
def disable_user(email: str) -> None:
    """Stop a user signing in; the user's open sessions end."""
    _change_user(lambda auth, session, actor: auth.set_active(session, email, False, actor=actor))
    click.echo(f"disabled {email.strip().lower()}; their sessions have ended")


@users_group.command("enable")
@click.argument("email")
def enable_user(email: str) -> None:
    """Let a disabled user sign in again."""
    _change_user(lambda auth, session, actor: auth.set_active(session, email, True, actor=actor))
    click.echo(f"enabled {email.strip().lower()}")


def _change_user(change: Callable[[ModuleType, Session, str], object]) -> None:
    """Run ``change(engine.auth, session, actor)`` in one transaction (with its audit row);
    a refusal of engine.auth's as a CLI error."""
    from engine import auth
    from engine.audit import cli_actor

    with database().session() as session:
        try:
            change(auth, session, cli_actor())
        except auth.AuthError as exc:
            raise click.ClickException(str(exc)) from None


@users_group.command("role")
@click.argument("email")
@click.argument("role", type=click.Choice(USER_ROLES))
def set_role(email: str, role: str) -> None:
    """Give a user another role (the last active admin keeps theirs)."""
    _change_user(lambda auth, session, actor: auth.set_role(session, email, role, actor=actor))
    click.echo(f"{email.strip().lower()} is now {role}")


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
    from engine.audit import cli_actor

    with database().session() as session:
        try:
            key, token = auth.create_api_key(session, name, actor=cli_actor())
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
    from engine.audit import cli_actor

    with database().session() as session:
        try:
            key = auth.revoke_api_key(session, prefix, actor=cli_actor())
        except auth.AuthError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"revoked {key.prefix} ({key.name})")


def register(cli: click.Group) -> None:
    cli.add_command(users_group)
    cli.add_command(keys_group)
