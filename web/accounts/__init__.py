"""The accounts area: search accounts and read one (viewer role); ``touchline accounts`` is its CLI twin."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from web.accounts.views import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    from web.nav import add_nav

    app.register_blueprint(bp)
    add_nav(app, endpoint="accounts.list_accounts", label=_l("Accounts"), role="viewer", order=40)
