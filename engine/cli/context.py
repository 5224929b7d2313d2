"""What every command needs: the settings and the database."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from engine.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:
    from engine.db import Database


def settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


def database(require_current: bool = True) -> Database:
    from engine import migrate
    from engine.db import get_database

    from sqlalchemy.exc import ArgumentError, DBAPIError

    url = settings().database_url
    try:
        db = get_database(url)
        current = migrate.is_up_to_date(db)
    except ArgumentError as exc:
        raise click.ClickException(f"TOUCHLINE_DATABASE_URL is not a database URL: {exc}") from None
    except (DBAPIError, OSError) as exc:
        detail = getattr(exc, "orig", None) or exc
        raise click.ClickException(f"cannot open the database (TOUCHLINE_DATABASE_URL): {detail}") from None
    if require_current and not current:
        raise click.ClickException(
            f"the database at {db.engine.url.render_as_string(hide_password=True)} is not at the latest "
            "schema: run 'touchline db upgrade'"
        )
    return db
