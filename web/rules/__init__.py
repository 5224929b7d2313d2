"""The rules workbench (editor role and up): list, edit, check, plan, save, history."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from web.nav import add_nav
from web.rules import check, history, segments, state, testsend, views  # noqa: F401 (they add their routes to bp)
from web.rules.views import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav(app, endpoint="rules.list_rules", label=_l("Rules"), role="editor", order=20)
