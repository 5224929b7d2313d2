"""The admin area: every page needs a signed-in user with a role."""

from __future__ import annotations

from flask import Flask

from web.admin.views import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
