"""``touchline inapp-keys``: the product's app id, its allowed origins and signing keys (docs/inapp.md)."""

from __future__ import annotations

import click

from engine.cli.context import database


@click.group("inapp-keys")
def inapp_group() -> None:
    """Keys the product signs in-app identity tokens with."""


@inapp_group.command("create")
@click.option("--origin", "origins", multiple=True, metavar="URL",
              help="A web origin allowed to call the nudge API from a browser, e.g. https://app.example.com (repeatable).")  # fmt: skip
def create(origins: tuple[str, ...]) -> None:
    """Create a signing key (and the app, with the first one); the secret is shown only once."""
    from engine.audit import cli_actor
    from engine.inapp.keys import OriginError, create_key

    with database().session() as session:
        try:
            new = create_key(session, actor=cli_actor(), origins=list(origins))
        except OriginError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"app id:  {new.app_id}")
    click.echo(f"key id:  {new.kid}")
    click.echo(f"secret:  {new.secret}")
    click.echo("Store the secret in the product backend now; it is not shown again. Sign tokens with HS256 and kid "
               "in the header (docs/inapp.md).")  # fmt: skip


@inapp_group.command("list")
def list_() -> None:
    """The app id, its allowed origins and its keys (never their secrets)."""
    from engine.inapp.keys import list_keys

    with database().read_session() as session:
        app, keys = list_keys(session)
    if app is None:
        click.echo("no in-app app yet: touchline inapp-keys create --origin https://app.example.com")
        return
    click.echo(f"app id:  {app.app_id}")
    click.echo(f"origins: {', '.join(app.origins) or '(none: browsers are refused)'}")
    for key in keys:
        state = f"revoked {key.revoked_at:%Y-%m-%d %H:%M}Z" if key.revoked_at else "active"
        click.echo(f"{key.kid}  created {key.created_at:%Y-%m-%d %H:%M}Z by {key.created_by}  {state}")


@inapp_group.command("revoke")
@click.argument("kid")
def revoke(kid: str) -> None:
    """Revoke key KID: tokens signed with it are refused from the next request."""
    from engine.audit import cli_actor
    from engine.inapp.keys import UnknownKey, revoke_key

    with database().session() as session:
        try:
            key = revoke_key(session, kid, actor=cli_actor())
        except UnknownKey as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"revoked {key.kid}")


@inapp_group.command("origins")
@click.option("--add", "add", multiple=True, metavar="URL", help="Allow this origin (repeatable).")
@click.option("--remove", "remove", multiple=True, metavar="URL", help="Stop allowing this origin (repeatable).")
def origins(add: tuple[str, ...], remove: tuple[str, ...]) -> None:
    """Show, add or remove the web origins allowed to call the nudge API."""
    from engine.audit import cli_actor
    from engine.inapp.keys import OriginError, UnknownKey, set_origins

    with database().session() as session:
        try:
            now = set_origins(session, actor=cli_actor(), add=list(add), remove=list(remove))
        except (OriginError, UnknownKey) as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"origins: {', '.join(now) or '(none: browsers are refused)'}")


def register(cli: click.Group) -> None:
    cli.add_command(inapp_group)
