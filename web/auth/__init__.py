"""Admin sign-in: Flask-Login sessions, CSRF on every form, role checks."""

from __future__ import annotations

from flask import Flask

from web.auth.roles import role_required
from web.auth.users import login_manager
from web.auth import language  # noqa: F401  (adds its route to bp)
from web.auth.views import bp
from web.extensions import csrf

__all__ = ["bp", "init_app", "role_required"]


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    login_manager.init_app(app)
    app.register_blueprint(bp)
