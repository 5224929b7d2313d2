"""Security headers: the Content-Security-Policy of every page, and HSTS in production."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from engine.compliance import unsubscribe_token
from engine.settings import load_settings
from web import create_app
from web.context import get_settings

TEMPLATES = Path(__file__).resolve().parents[2] / "web" / "templates"
# Inline code a strict policy would block: <script> without src, <style>, style="", onclick="".
INLINE = {
    "script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
    "style element": re.compile(r"<style\b", re.I),
    "style attribute": re.compile(r"\sstyle\s*=", re.I),
    "event handler": re.compile(r"\son[a-z]+\s*=", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}


def directives(header: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in header.split(";") if part.strip())}


def html_pages(app, admin_user, html_paths) -> dict[str, object]:
    """Every HTML page the app serves to a GET: each admin route without arguments,
    the recipients' pages, and the error pages."""
    with app.app_context():
        token = unsubscribe_token(get_settings(), "ann@example.com", "onboarding", contact_id=1)
    paths = [*html_paths(admin_user), f"/u/{token}", f"/preferences/{token}", "/u/not-a-token", "/no-such-page"]
    pages = {path: admin_user.get(path, follow_redirects=True) for path in paths}
    assert all(page.mimetype == "text/html" for page in pages.values())
    return pages


def test_every_page_has_a_policy_without_inline_script(app, admin_user, db, html_paths):
    pages = html_pages(app, admin_user, html_paths)
    assert {"/admin/", "/admin/deliveries/", "/admin/rules/", "/admin/accounts/", "/admin/audit/", "/auth/login"} <= set(pages)
    for path, page in pages.items():
        policy = directives(page.headers["Content-Security-Policy"])
        assert policy["default-src"] == ["'self'"], path
        assert policy["script-src"] == ["'self'"], path
        assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"], path
        assert policy["style-src"] == ["'self'"], path
        assert policy["img-src"] == ["'self'", "data:"], path


def test_the_admin_stylesheet_is_served_from_static(admin_user):
    html = admin_user.get("/admin/").get_data(as_text=True)
    assert '<link rel="stylesheet" href="/static/css/touchline.css">' in html
    css = admin_user.get("/static/css/touchline.css")
    assert css.status_code == 200 and css.mimetype == "text/css" and b"--accent" in css.data


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("*.html")), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_hold_no_inline_code(template):
    text = template.read_text()
    for what, pattern in INLINE.items():
        match = pattern.search(text)
        assert match is None, f"{template.relative_to(TEMPLATES)}: inline {what} {match and match.group(0)!r}"


def test_the_senders_logo_may_come_from_its_own_site_on_the_recipients_pages_only(make_app):
    settings = load_settings()
    logo = "https://user:secret@cdn.example.com:8443/brand/logo.png"
    app = make_app(brand=dataclasses.replace(settings.brand, logo_url=logo))
    with app.app_context():
        token = unsubscribe_token(get_settings(), "ann@example.com", "onboarding", contact_id=1)
    client = app.test_client()
    page = client.get(f"/u/{token}")
    assert logo in page.get_data(as_text=True)
    assert directives(page.headers["Content-Security-Policy"])["img-src"] == ["'self'", "data:", "https://cdn.example.com:8443"]
    login = client.get("/auth/login")
    assert directives(login.headers["Content-Security-Policy"])["img-src"] == ["'self'", "data:"]


def test_strict_transport_security_in_production_only(db, client):
    assert "Strict-Transport-Security" not in client.get("/auth/login").headers
    settings = dataclasses.replace(load_settings(), env="production", secret_key="x" * 32, redis_url=None)
    production = create_app(settings, database=db).test_client()
    for path in ["/auth/login", "/no-such-page", "/healthz"]:
        assert production.get(path).headers["Strict-Transport-Security"] == "max-age=31536000", path
