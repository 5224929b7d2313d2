"""The HTTP API under /api/v1: JSON in, JSON out, API-key authenticated."""

from __future__ import annotations

from flask import Blueprint, Flask

from web.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api/v1")

# Imported for their routes and handlers on ``bp``.
from web.api import errors, ingest, keys, openapi, results, suppressions  # noqa: E402,F401


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
    # The API's description, readable without a key.
    app.register_blueprint(openapi.public_bp)
    # Bearer tokens, not cookies, authenticate the API: there is nothing to forge.
    csrf.exempt(bp)
    # An app-level hook (blueprint hooks run after the limiter's), so that the
    # limiter can count per API key, a bad key spends no key's budget, and failed
    # authentications are counted per client address.
    app.before_request(keys.authenticate)
