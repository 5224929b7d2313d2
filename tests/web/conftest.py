"""Fixtures for the web layer: an app on the test database and the real Redis."""

from __future__ import annotations

import dataclasses
import os
import re
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from engine.auth import create_api_key, create_user
from engine.db import Database
from engine.embedded.process import free_port
from engine.settings import load_settings
from web import create_app

PASSWORD = "correct horse battery"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"')


@pytest.fixture
def make_app(db: Database, redis_url: str) -> Callable[..., Flask]:
    """Build an app on the test database; keyword arguments override settings."""

    def factory(**overrides) -> Flask:
        settings = dataclasses.replace(load_settings(), **{"database_url": db.url, "redis_url": redis_url, **overrides})
        app = create_app(settings, database=db)
        app.config["TESTING"] = True
        return app

    return factory


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def api_token(db: Database) -> str:
    with db.session() as session:
        _key, token = create_api_key(session, "test client")
    return token


@pytest.fixture
def auth(api_token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_token}"}


@pytest.fixture
def make_user(db: Database) -> Callable[[str, str], str]:
    """Create a user with ``role``; returns the email. The password is PASSWORD."""

    def factory(role: str, email: str | None = None) -> str:
        email = email or f"{role}@example.test"
        with db.session() as session:
            create_user(session, email, PASSWORD, role=role)
        return email

    return factory


def _csrf_token(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1) or match.group(2)


def _login(client: FlaskClient, email: str, password: str = PASSWORD, **kwargs):
    page = client.get("/auth/login")
    token = _csrf_token(page.get_data(as_text=True))
    return client.post(
        "/auth/login", data={"email": email, "password": password, "csrf_token": token}, **kwargs
    )


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def csrf_token() -> Callable[[str], str]:
    """The CSRF token in a page's HTML."""
    return _csrf_token


@pytest.fixture
def login() -> Callable[..., object]:
    """Sign ``client`` in through the form: login(client, email, password=PASSWORD)."""
    return _login


@pytest.fixture
def login_as(app: Flask, make_user) -> Callable[[str], FlaskClient]:
    """A fresh client signed in through the form as a new user with ``role``."""

    def factory(role: str) -> FlaskClient:
        client = app.test_client()
        response = _login(client, make_user(role))
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return factory


@pytest.fixture
def admin_user(login_as) -> FlaskClient:
    """A client signed in as an admin."""
    return login_as("admin")



# -- a real browser (Debian's Chromium through Playwright) on a live server --------

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


@pytest.fixture
def chromium_path() -> Path:
    if not CHROMIUM.exists():
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI installs it, so this is a broken CI setup")
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
def chromium_args() -> list[str]:
    return list(CHROMIUM_ARGS)


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """The app served by a real HTTP server on loopback, in a thread."""
    port = free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture
def html_paths(app: Flask) -> Callable[[FlaskClient], list[str]]:
    """Every page path (a GET route without arguments) that answers ``client`` with HTML:
    as areas add routes, the page-wide tests cover them; downloads and JSON are left out."""

    def collect(client: FlaskClient) -> list[str]:
        paths = sorted(
            rule.rule
            for rule in app.url_map.iter_rules()
            if "GET" in rule.methods
            and not rule.arguments
            and not rule.rule.startswith(("/api/", "/healthz", "/readyz", "/static"))
        )
        return [path for path in paths if client.get(path, follow_redirects=True).mimetype == "text/html"]

    return collect


def _browser_sign_in(page, base_url: str, email: str, password: str = PASSWORD, path: str | None = "/auth/login") -> None:
    """Sign a Playwright ``page`` in through the real sign-in form: open ``base_url + path``
    (a page that asks for sign-in sends the browser to the form, and back there once signed in),
    fill in the email and password, press Sign in. ``path=None``: the form is already open."""
    if path is not None:
        page.goto(f"{base_url}{path}")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()


@pytest.fixture
def browser_sign_in() -> Callable[..., None]:
    """Sign a browser page in through the form:
    browser_sign_in(page, live_server, email, password=PASSWORD, path="/auth/login")."""
    return _browser_sign_in


@pytest.fixture
def screenshots(tmp_path: Path) -> Path:
    """Where browser tests save their screenshots: $SCREENSHOT_DIR, else the test's tmp folder
    (never the checkout: docs/images/ is updated by hand from these)."""
    folder = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
