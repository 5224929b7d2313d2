"""Every API failure is JSON: ``{"error": {"code": ..., "message": ...}}``."""

from __future__ import annotations

import logging
import time

from flask import Response, jsonify, request
from flask_limiter import RateLimitExceeded
from werkzeug.exceptions import HTTPException

from web.api import bp

log = logging.getLogger(__name__)

# Codes for the HTTP errors werkzeug raises by itself.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
}


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_response(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    response = jsonify(error={"code": code, "message": message})
    response.status_code = status
    response.headers.update(headers or {})
    return response


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return error_response(exc.status, exc.code, exc.message, exc.headers)


@bp.errorhandler(RateLimitExceeded)
def _rate_limited(exc: RateLimitExceeded) -> Response:
    from web.ratelimit import API_AUTH_FAILURE_SCOPE, current_limiter

    retry_after = 1
    current = current_limiter().current_limit
    if current is not None:
        retry_after = max(1, int(current.reset_at - time.time()) + 1)
    if exc.limit.scope == API_AUTH_FAILURE_SCOPE:
        message = (
            f"too many requests with a missing or wrong API key from this address ({exc.description}); "
            f"every request from it is refused for {retry_after}s"
        )
    else:
        message = f"rate limit of {exc.description} for this API key exceeded; retry after {retry_after}s"
    return error_response(429, "rate_limited", message, {"Retry-After": str(retry_after)})


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    return http_error_response(exc)


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    log.exception("API request failed")
    return error_response(500, "internal_error", "the server failed to handle this request; it has been logged")


def http_error_response(exc: HTTPException) -> Response:
    status = exc.code or 500
    message = exc.description or exc.name
    if status == 404:
        message = f"there is no API endpoint at {request.path}; GET /api/v1/openapi.json lists them"
    elif status == 405:
        allowed = ", ".join(m for m in (getattr(exc, "valid_methods", None) or []) if m not in {"HEAD", "OPTIONS"})
        message = f"{request.method} is not allowed on {request.path}" + (f"; use {allowed}" if allowed else "")
    elif status == 413:
        from web.context import get_settings

        message = f"request body is larger than the limit of {get_settings().max_request_bytes} bytes"
    response = error_response(status, HTTP_CODES.get(status, "http_error"), message)
    if status == 405 and getattr(exc, "valid_methods", None):
        response.headers["Allow"] = ", ".join(exc.valid_methods)
    return response
