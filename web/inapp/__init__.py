"""The nudge API the product's page calls (``/api/v1/inapp/<app>``), and the snippet it loads
(``/inapp/touchline.js``). Authenticated by the product's identity token, not by an API key
or a session: docs/inapp.md."""

from __future__ import annotations

from flask import Flask

from web.extensions import csrf
from web.inapp.api import authenticate, bp
from web.inapp.script import script_bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    app.register_blueprint(script_bp)
    # A bearer token, not a cookie, authenticates these calls: there is nothing to forge.
    csrf.exempt(bp)
    # App-level, before the limiter's hook: the limiter then counts per contact (web.ratelimit).
    app.before_request(authenticate)
