import dataclasses

import pytest
from flask import abort

from engine.settings import load_settings
from web import create_app
from web.context import DATABASE_KEY
from web.errors import TITLES


def test_root_redirects_to_the_admin_dashboard(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_create_app_without_arguments_reads_the_environment(db, redis_url):
    # The db and redis_url fixtures set TOUCHLINE_DATABASE_URL and TOUCHLINE_REDIS_URL.
    app = create_app()
    assert app.extensions[DATABASE_KEY].url == db.url
    assert app.config["MAX_CONTENT_LENGTH"] == load_settings().max_request_bytes
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 200, ready.get_json()


def test_cookies_are_http_only_and_secure_in_production(db):
    dev = create_app(dataclasses.replace(load_settings(), redis_url=None), database=db)
    prod = create_app(
        dataclasses.replace(load_settings(), env="production", secret_key="x" * 32, redis_url=None), database=db
    )
    assert dev.config["SESSION_COOKIE_HTTPONLY"] and dev.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert dev.config["SESSION_COOKIE_SECURE"] is False
    assert prod.config["SESSION_COOKIE_SECURE"] is True and prod.config["REMEMBER_COOKIE_SECURE"] is True


def test_pages_carry_security_headers(client):
    response = client.get("/auth/login")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_unknown_page_outside_the_api_is_html(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "There is no page at this address." in response.get_data(as_text=True)


def test_behind_a_trusted_proxy_the_client_address_is_the_forwarded_one(db, redis_url, monkeypatch):
    from flask import request

    from engine.settings import load_settings
    from web import create_app

    monkeypatch.setenv("TOUCHLINE_TRUSTED_PROXIES", "1")
    app = create_app(load_settings())

    @app.get("/_whoami")
    def whoami():
        return request.remote_addr

    client = app.test_client()
    answer = client.get("/_whoami", headers={"X-Forwarded-For": "203.0.113.7"}, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert answer.get_data(as_text=True) == "203.0.113.7"
    monkeypatch.setenv("TOUCHLINE_TRUSTED_PROXIES", "0")
    plain = create_app(load_settings())
    plain.add_url_rule("/_whoami", view_func=lambda: request.remote_addr)
    answer = plain.test_client().get("/_whoami", headers={"X-Forwarded-For": "203.0.113.7"}, environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert answer.get_data(as_text=True) == "10.0.0.1"


@pytest.mark.parametrize("status", [400, 403, 404])
def test_an_error_page_shows_the_views_own_reason_instead_of_the_generic_line(make_app, status):
    app = make_app()
    app.add_url_rule(f"/probe/{status}", f"probe{status}", lambda: abort(status, description="rule x has no version 9"))
    app.add_url_rule(f"/plain/{status}", f"plain{status}", lambda: abort(status))
    client = app.test_client()
    response = client.get(f"/probe/{status}")
    assert response.status_code == status and "<p>rule x has no version 9</p>" in response.get_data(as_text=True)
    generic = client.get(f"/plain/{status}").get_data(as_text=True)
    assert "rule x" not in generic and "<p>" + TITLES[status][1] + "</p>" in generic
