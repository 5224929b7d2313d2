"""The templates area (editor role): the message templates by folder and locale, which rules use
each, the checker's problems, a preview for a real account and a test send to oneself."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from web.msgtemplates.views import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    from web.nav import add_nav

    app.register_blueprint(bp)
    add_nav(app, endpoint="templates.list_templates", label=_l("Templates"), role="editor", order=25)
