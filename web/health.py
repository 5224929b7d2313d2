"""Probes for supervisors and load balancers.

``/healthz``: the process is up and serving. ``/readyz``: it can do its job,
meaning the database answers, its schema is the one this code expects, and
Redis answers PING. Each failing check is named in the JSON body.
"""

from __future__ import annotations

from typing import Any

import redis
from flask import Blueprint, Flask, current_app, jsonify
from sqlalchemy import text

from engine import migrate
from web.context import get_db, get_settings

bp = Blueprint("health", __name__)

PROBE_TIMEOUT_S = 1.0
REDIS_CLIENT_KEY = "touchline.health.redis"
HEAD_REVISION_KEY = "touchline.health.head"


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    checks = {"database": _check_database(), "redis": _check_redis()}
    ready = all(c["ok"] for c in checks.values())
    body = {"status": "ready" if ready else "not ready", "checks": checks}
    return jsonify(body), 200 if ready else 503


def _check_database() -> dict[str, Any]:
    db = get_db()
    try:
        with db.read_session() as session:
            session.execute(text("SELECT 1"))
        current = migrate.current_revision(db)
    except Exception as exc:  # any driver error means "not ready", with its text
        return {"ok": False, "detail": f"database does not answer: {_one_line(exc)}"}
    head = current_app.extensions.get(HEAD_REVISION_KEY)
    if head is None:
        head = current_app.extensions[HEAD_REVISION_KEY] = migrate.head_revision(db)
    if current != head:
        return {
            "ok": False,
            "detail": f"schema is at {current or 'empty'}, this code needs {head}: run 'touchline db upgrade'",
        }
    return {"ok": True, "detail": f"schema at {current}"}


def _check_redis() -> dict[str, Any]:
    url = get_settings().redis_url
    if not url:
        return {"ok": False, "detail": "TOUCHLINE_REDIS_URL is not set"}
    client = current_app.extensions.get(REDIS_CLIENT_KEY)
    if client is None:
        client = current_app.extensions[REDIS_CLIENT_KEY] = redis.Redis.from_url(
            url, socket_connect_timeout=PROBE_TIMEOUT_S, socket_timeout=PROBE_TIMEOUT_S
        )
    try:
        client.ping()
    except redis.RedisError as exc:
        return {"ok": False, "detail": f"redis does not answer PING: {_one_line(exc)}"}
    return {"ok": True, "detail": "PONG"}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
