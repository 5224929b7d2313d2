"""The send log area of the admin: deliveries filtered in keyset pages, counts by status, CSV export."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from web.sendlog import export as _export  # noqa: F401 (adds its route to bp)
from web.sendlog import detail as _detail  # noqa: F401 (adds the delivery page's routes to bp)
from web.sendlog.views import bp


def init_app(app: Flask) -> None:
    from web.nav import add_nav

    app.register_blueprint(bp)
    add_nav(app, endpoint="sendlog.index", label=_l("Send log"), role="viewer", order=30)
