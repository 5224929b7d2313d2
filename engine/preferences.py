"""A user's own preferences in the admin (today: the language)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from engine.models import User

ADMIN_LOCALES = ("en", "ja")


class PreferenceError(ValueError):
    pass


def set_user_locale(session: Session, user_id: int, locale: str | None) -> None:
    """Remember the admin language ``user_id`` chose; None goes back to following the browser."""
    if locale is not None and locale not in ADMIN_LOCALES:
        raise PreferenceError(f"unknown language {locale!r}; expected one of {', '.join(ADMIN_LOCALES)}")
    user = session.get(User, user_id)
    if user is None:
        raise PreferenceError(f"no user with id {user_id}")
    user.locale = locale
