"""Public unsubscribe and preference pages, reached from links in emails.

No sign-in: a signed token in the URL names the recipient and stands in for
the CSRF token, so this blueprint, and only it, is exempt from CSRF (mail
providers POST ``List-Unsubscribe=One-Click`` without any cookie or form token).
"""

from __future__ import annotations

from flask import Flask

from web.extensions import csrf
from web.unsubscribe.views import bp

__all__ = ["bp", "init_app"]


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    csrf.exempt(bp)
