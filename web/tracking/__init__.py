"""Public routes of email tracking, reached from links in emails: ``/t/c/<token>`` (a click)
and ``/t/o/<token>.gif`` (the open pixel). No sign-in: the signed token names the delivery.
See docs/channels.md, "Click tracking and opens"."""

from __future__ import annotations

from flask import Flask

from web.tracking.views import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
