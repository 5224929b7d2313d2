"""The rules workbench (editor role and up): list, edit, check, plan, save, history."""

from __future__ import annotations

import importlib

from flask import Flask

from web.rules import views
from web.rules.views import bp

__all__ = ["bp", "init_app"]

# Route modules that add to ``bp``; history and state are being written now, so a
# missing one is skipped until it lands.
_ROUTE_MODULES = ("history", "state")


def init_app(app: Flask) -> None:
    for name in _ROUTE_MODULES:
        try:
            importlib.import_module(f"web.rules.{name}")
        except ModuleNotFoundError as missing:
            if missing.name != f"web.rules.{name}":
                raise
    app.register_blueprint(bp)
