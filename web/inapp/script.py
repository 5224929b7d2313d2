"""The snippet, served for the product's pages to load from another origin."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_file

script_bp = Blueprint("inapp_script", __name__)
SCRIPT = Path(__file__).resolve().parents[1] / "static" / "inapp" / "touchline.js"


@script_bp.get("/inapp/touchline.js")
def snippet() -> Response:
    response = send_file(SCRIPT, mimetype="text/javascript", max_age=300, conditional=True)
    # Loaded by <script> on the product's own origin.
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
