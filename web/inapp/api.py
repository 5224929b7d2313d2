"""``/api/v1/inapp/<app>``: a contact's nudges and what happened to them.

Every answer is JSON. The contact comes from the verified identity token
(engine.inapp.tokens), never from the request; browsers may call only from the
app's origins (CORS), and a request from another origin is refused.
"""

from __future__ import annotations

import functools
import json
import logging
from datetime import datetime
from pathlib import Path

from flask import Blueprint, Response, g, jsonify, request
from flask_limiter import RateLimitExceeded
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from engine.delivery.policy import NO_POLICY, Policy, PolicyError, load_policy
from engine.inapp.nudges import BadEvent, NudgeNotFound, active_nudges, record_event
from engine.inapp.tokens import Identity, InvalidToken, verify_token
from engine.models import InAppApp, utcnow
from web.api.errors import error_response, http_error_response
from web.context import get_db, get_settings

log = logging.getLogger(__name__)
bp = Blueprint("inapp", __name__, url_prefix="/api/v1/inapp/<app_id>")
MAX_BODY_BYTES = 4096
MAX_ID = 2**63 - 1  # nudges.id is a 64-bit integer; a larger one in the URL cannot even be looked up
CHALLENGE = 'Bearer realm="touchline-inapp"'
ALLOWED_HEADERS = "Authorization, Content-Type, If-None-Match"
EXPOSED_HEADERS = "ETag, Retry-After"


class InAppError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def authenticate() -> None:
    """App-level hook for this blueprint: find the contact, or keep why not for the route to answer.

    It runs before the limiter, so the limiter counts requests per contact and
    failed authentications per address (web.ratelimit).
    """
    if request.blueprint != "inapp" or request.method == "OPTIONS":
        return
    try:
        g.inapp_identity = _identity()
    except InAppError as exc:
        g.inapp_auth_error = exc


def _identity() -> Identity:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InAppError(401, "missing_token", "send the identity token as 'Authorization: Bearer <token>' (docs/inapp.md)",
                         {"WWW-Authenticate": CHALLENGE})  # fmt: skip
    app_id = (request.view_args or {}).get("app_id", "")
    with get_db().read_session() as session:
        try:
            return verify_token(session, app_id, token.strip())
        except InvalidToken as exc:
            # An expired token is the snippet's normal way to ask for a new one, not a guess: it
            # spends none of the address's failure budget (web.ratelimit), which an office shares.
            g.inapp_failure_counts = not exc.expired
            raise InAppError(401, "invalid_token", str(exc), {"WWW-Authenticate": f'{CHALLENGE}, error="invalid_token"'}) from None


@bp.before_request
def _gate() -> Response | None:
    origin = request.headers.get("Origin")
    if origin is not None and origin not in _origins(request.view_args["app_id"]):
        # No Access-Control-Allow-Origin: the browser hides even this answer from the calling page.
        raise InAppError(403, "origin_not_allowed", f"origin {origin} is not allowed for this app; add it with "
                         "touchline inapp-keys origins --add")  # fmt: skip
    g.inapp_origin_allowed = True
    if request.method == "OPTIONS":
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = "GET, POST"
        response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
        return response
    error = g.pop("inapp_auth_error", None)
    if error is not None:
        raise error
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        raise InAppError(413, "payload_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
    return None


@bp.after_request
def _cors(response: Response) -> Response:
    origin = request.headers.get("Origin")
    # An answer made before _gate checked the origin (the limiter's 429) checks it here.
    if origin is not None and response.status_code != 403 and (
        g.get("inapp_origin_allowed") or origin in _origins(request.view_args["app_id"])
    ):
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
    response.vary.add("Origin")
    response.headers.setdefault("Cache-Control", "private, no-cache")
    return response


def _origins(app_id: str) -> list[str]:
    with get_db().read_session() as session:
        return list(session.scalar(select(InAppApp.origins).where(InAppApp.app_id == app_id)) or [])


@bp.get("/nudges")
def list_nudges(app_id: str) -> Response:
    who: Identity = g.inapp_identity
    with get_db().read_session() as session:
        found = active_nudges(session, who.contact_id, who.account_id, utcnow(), _policy())
    if found.etag in _etags(request.headers.get("If-None-Match", "")):
        response = Response(status=304)
    else:
        response = jsonify(found.as_json())
    response.headers["ETag"] = found.etag
    return response


def _etags(header: str) -> set[str]:
    return {part.strip().removeprefix("W/") for part in header.split(",") if part.strip()}


@bp.post("/nudges/<int:nudge_id>/events")
def post_event(app_id: str, nudge_id: int) -> Response:
    who: Identity = g.inapp_identity
    body = _json_body()
    if not isinstance(body, dict):
        raise InAppError(400, "bad_request", 'the body must be a JSON object such as {"type": "seen"}')
    unknown = set(body) - {"type", "until"}
    if unknown:
        raise InAppError(400, "bad_request", f"unknown field {sorted(unknown)[0]!r}; the fields are type and until")
    until = None
    if body.get("until") is not None:
        until = _time(body["until"])
    now = utcnow()
    if nudge_id > MAX_ID:
        raise InAppError(404, "not_found", f"no nudge {nudge_id} for this contact")
    with get_db().session() as session:
        try:
            done = record_event(session, who.contact_id, nudge_id, str(body.get("type")), now, until)
        except NudgeNotFound:
            raise InAppError(404, "not_found", f"no nudge {nudge_id} for this contact") from None
        except BadEvent as exc:
            raise InAppError(400, "bad_request", str(exc)) from None
    return jsonify(nudge=done.nudge_id, type=done.type, at=done.at.strftime("%Y-%m-%dT%H:%M:%SZ"), first=done.first)


def _json_body() -> object:
    """The body's JSON (None if it is not JSON), read only up to the limit: a chunked body has
    no Content-Length for _gate to check, and would otherwise be read whole."""
    data = request.stream.read(MAX_BODY_BYTES + 1)
    if len(data) > MAX_BODY_BYTES:
        raise InAppError(413, "payload_too_large", f"the body is larger than {MAX_BODY_BYTES} bytes")
    if not request.is_json:
        return None
    try:
        return json.loads(data)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than the parser goes
        return None


def _time(value: object) -> datetime:
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    raise InAppError(400, "bad_request", "until must be an ISO 8601 time with a zone, such as 2026-12-04T09:00:00Z")


def _policy() -> Policy:
    path = get_settings().policy_file
    if path is None:
        return NO_POLICY
    try:
        return _policy_at(Path(path), Path(path).stat().st_mtime_ns)
    except (OSError, PolicyError):
        return NO_POLICY  # the dispatcher reports a broken policy; the product's page still gets its nudges


@functools.lru_cache(maxsize=4)
def _policy_at(path: Path, mtime_ns: int) -> Policy:
    return load_policy(path)


@bp.errorhandler(InAppError)
def _inapp_error(exc: InAppError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.headers)


@bp.errorhandler(RateLimitExceeded)
def _rate_limited(exc: RateLimitExceeded) -> Response:
    return error_response(429, "rate_limited", f"too many requests ({exc.description}); retry in a minute",
                          {"Retry-After": "60"})  # fmt: skip


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return http_error_response(exc)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    log.exception("in-app request failed")
    return error_response(500, "internal_error", "the server failed to handle this request; it has been logged")
