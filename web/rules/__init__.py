"""The rules workbench (editor role and up): list, edit, check, plan, save, history."""

from __future__ import annotations

import importlib

from flask import Flask
from flask_babel import lazy_gettext as _l

from web.nav import add_nav
from web.rules import check, testsend, views  # noqa: F401 (they add their routes to bp)
from web.rules.views import bp

__all__ = ["bp", "init_app"]

# history.py and state.py add their routes to bp too; until they are committed a missing
# one is skipped. Imported here, once, as bp takes no new routes after it is registered.
for _name in ("history", "state"):
    try:
        importlib.import_module(f"web.rules.{_name}")
    except ModuleNotFoundError as missing:
        if missing.name != f"web.rules.{_name}":
            raise


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    add_nav(app, endpoint="rules.list_rules", label=_l("Rules"), role="editor", order=20)
