"""The admin area: every page needs a signed-in user with a role."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from web.admin.views import bp
from web.nav import add_nav

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav(app, endpoint="admin.dashboard", label=_l("Dashboard"), role="viewer", order=10)
