"""Rate limits: per API key on the HTTP API, per client address on the login form
and on failed API authentications, and per account on failed sign-ins.

Counters live in Redis so that every web process shares them; with no Redis
configured they fall back to process memory, which is said in the log. If Redis
goes away while running, the limiter falls back to memory rather than refusing
ingest, and goes back to Redis when it answers again.
"""

from __future__ import annotations

import logging

from flask import Flask, current_app, g, request
from flask_limiter import Limiter

from engine.settings import Settings

LIMITER_KEY = "touchline.limiter"
LOGIN_RATE_LIMIT = "10/minute"
# Failed sign-ins per account, from any number of addresses: guessing one account's
# password from many machines meets this one (past it, a right password waits too).
LOGIN_ACCOUNT_FAILURE_LIMIT = "5/minute;20/hour"
# Failed API authentications (401s) per client address; past it every API request from
# the address gets 429, a right key's too, until the window ends.
API_AUTH_FAILURE_LIMIT = "10/minute"
API_AUTH_FAILURE_SCOPE = "api-auth-failures"
# The nudge API (web.inapp), per address: an office behind one address may have hundreds of
# people on the product (per contact: settings.inapp_rate_limit).
INAPP_ADDRESS_LIMIT = "1200/minute"

log = logging.getLogger(__name__)


def client_address() -> str:
    return request.remote_addr or "unknown"


def login_account() -> str:
    """The account a sign-in attempt names, as its form sends it (normalised as engine.auth does)."""
    return "account:" + (request.form.get("email") or "").strip().lower()[:320]


def api_key_identity() -> str:
    # Set by web.api.keys.authenticate, which runs before the limiter.
    key_id = g.get("api_key_id")
    return f"apikey:{key_id}" if key_id is not None else f"addr:{client_address()}"


def inapp_contact() -> str:
    # Set by web.inapp.api.authenticate, which runs before the limiter.
    return f"contact:{g.inapp_identity.contact_id}"


def init_limiter(app: Flask, settings: Settings) -> Limiter:
    if settings.redis_url:
        storage_uri = settings.redis_url
    else:
        storage_uri = "memory://"
        log.warning(
            "TOUCHLINE_REDIS_URL is not set: API rate limits are counted in this process's memory "
            "only, so each web process enforces its own limit"
        )
    limiter = Limiter(
        key_func=client_address,
        storage_uri=storage_uri,
        storage_options={"socket_connect_timeout": 1, "socket_timeout": 1} if settings.redis_url else {},
        key_prefix=f"{settings.queue_prefix}:ratelimit",
        strategy="fixed-window",
        in_memory_fallback_enabled=True,
        headers_enabled=False,
    )
    limiter.init_app(app)
    # Shared: one budget per key across all API endpoints, not one per endpoint.
    limiter.shared_limit(
        settings.api_rate_limit,
        scope="api",
        key_func=api_key_identity,
        # A request without a valid key spends no key's budget, only the failure budget below.
        exempt_when=lambda: "api_auth_error" in g,
    )(app.blueprints["api"])
    # Checked before the request is refused or served, spent only by a 401.
    limiter.shared_limit(
        API_AUTH_FAILURE_LIMIT,
        scope=API_AUTH_FAILURE_SCOPE,
        key_func=client_address,
        deduct_when=lambda response: response.status_code == 401,
    )(app.blueprints["api"])
    limiter.limit(LOGIN_RATE_LIMIT, methods=["POST"], key_func=client_address)(app.blueprints["auth"])
    limiter.limit(
        LOGIN_ACCOUNT_FAILURE_LIMIT,
        methods=["POST"],
        key_func=login_account,
        # Spent by a wrong password only; other POSTs of the area (sign-out, language) never.
        deduct_when=lambda response: response.status_code == 401,
        exempt_when=lambda: request.endpoint != "auth.login",
    )(app.blueprints["auth"])
    if "inapp" in app.blueprints:
        inapp = app.blueprints["inapp"]
        limiter.shared_limit(settings.inapp_rate_limit, scope="inapp-contact", key_func=inapp_contact,
                             exempt_when=lambda: "inapp_identity" not in g)(inapp)  # fmt: skip
        limiter.shared_limit(INAPP_ADDRESS_LIMIT, scope="inapp-address", key_func=client_address)(inapp)
        limiter.shared_limit(API_AUTH_FAILURE_LIMIT, scope="inapp-auth-failures", key_func=client_address,
                             deduct_when=lambda response: response.status_code == 401
                             and g.get("inapp_failure_counts", True))(inapp)  # fmt: skip
    app.extensions[LIMITER_KEY] = limiter
    return limiter


def current_limiter() -> Limiter:
    return current_app.extensions[LIMITER_KEY]
