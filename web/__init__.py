"""The Flask web layer: admin pages, the HTTP API and health probes.

``create_app()`` is the one entry point; ``touchline web`` and ``touchline up``
serve what it returns with waitress. Everything the app needs comes from
``engine.settings`` and one ``engine.db.Database`` per app.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from engine.db import Database
from engine.settings import Settings, load_settings
from web import accounts, admin, api, audit, auth, errors, health, nav, rules, security, sendlog, templating, unsubscribe, users
from web import demo_product, inapp, msgtemplates
from web import tracking
from web import results
from web.context import DATABASE_KEY, SETTINGS_KEY
from web.ratelimit import init_limiter


def create_app(settings: Settings | None = None, database: Database | None = None) -> Flask:
    settings = settings or load_settings()
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
        # Idle expiry: sign-in makes the session permanent, so its cookie is signed
        # again on every request and refused this long after the last one.
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=settings.session_idle_minutes),
        SESSION_REFRESH_EACH_REQUEST=True,
        # Sign-in sets no remember-me cookie; should one appear, it lasts no longer.
        REMEMBER_COOKIE_DURATION=timedelta(minutes=settings.session_idle_minutes),
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=settings.production,
    )
    if settings.trusted_proxies:
        # Behind a reverse proxy every client has the proxy's address; the
        # login rate limit and logs need the client's own, from X-Forwarded-For.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.trusted_proxies, x_proto=settings.trusted_proxies)
    app.extensions[SETTINGS_KEY] = settings
    app.extensions[DATABASE_KEY] = database or Database(settings.database_url)

    errors.init_app(app)
    health.init_app(app)
    from web import i18n  # here, not at the top: `python -m web.i18n` runs it as a script

    i18n.init_app(app)
    templating.init_app(app)
    nav.init_app(app)
    auth.init_app(app)
    admin.init_app(app)
    accounts.init_app(app)
    results.init_app(app)
    sendlog.init_app(app)
    audit.init_app(app)
    users.init_app(app)
    rules.init_app(app)
    msgtemplates.init_app(app)
    # Public pages from links in emails: no sign-in, CSRF exempt (signed token instead).
    unsubscribe.init_app(app)
    tracking.init_app(app)
    # The API authenticates in an app-level hook that must run before the
    # limiter's, so the limiter is set up after it.
    api.init_app(app)
    inapp.init_app(app)
    # Only with TOUCHLINE_DEMO_PRODUCT (touchline up's demo data): a page that mints identity tokens.
    demo_product.init_app(app)
    init_limiter(app, settings)
    security.init_app(app, settings)
    return app
