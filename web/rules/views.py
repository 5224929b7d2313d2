"""The rules workbench: list, rule page, editor, save. Other modules add routes to ``bp``."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("rules", __name__, url_prefix="/admin/rules")
