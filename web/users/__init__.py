"""Users and API keys in the admin: the admin role only; every change is audited by engine.auth."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from web.users.apikeys import bp as apikeys_bp
from web.users.views import bp


def init_app(app: Flask) -> None:
    from web.nav import add_nav

    app.register_blueprint(bp)
    app.register_blueprint(apikeys_bp)
    add_nav(app, endpoint="users.index", label=_l("Users"), role="admin", order=70)
    add_nav(app, endpoint="apikeys.index", label=_l("API keys"), role="admin", order=75)
