"""The audit trail in the admin: read-only, for every signed-in role."""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from web.audit.views import bp


def init_app(app: Flask) -> None:
    from web.nav import add_nav

    app.register_blueprint(bp)
    add_nav(app, endpoint="audit.index", label=_l("Audit trail"), role="viewer", order=60)
