"""The results area: every rule measured against its goal and holdout, and one rule's results
(viewer role); ``touchline results`` is its CLI twin, engine.results.report does the work."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from web.results.views import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    from web.nav import add_nav

    app.register_blueprint(bp)
    add_nav(app, endpoint="results.list_results", label=_l("Results"), role="viewer", order=50)
