"""Every route of the app, from the URL map: who may reach it.

Public by nature (and so left out): static files, "/" (a redirect), health probes, sign-in and the
signed-in user's own session (the auth area), a recipient's unsubscribe and
preference pages and its email's tracked links (a signed token instead of a sign-in), and everything under /api/
(an API key, or the product's identity token under /api/v1/inapp/), and the in-app snippet. Every other route refuses an anonymous request (a redirect to
sign-in), every state-changing one refuses a viewer, every admin-only one an editor,
and every one names its role (``role_required`` sets ``view.required_role``).
Routes added later are checked without editing this file.
"""

from __future__ import annotations

import pytest
from flask import Flask
from werkzeug.routing import IntegerConverter, Rule

PUBLIC_BLUEPRINTS = {"health", "auth", "unsubscribe", "tracking", "inapp_script"}
PUBLIC_ENDPOINTS = {"static", "index"}  # index: "/" only redirects to the dashboard, which checks
STATE_CHANGING = {"POST", "PUT", "PATCH", "DELETE"}


def is_public(rule: Rule) -> bool:
    blueprint = rule.endpoint.rpartition(".")[0]
    return rule.endpoint in PUBLIC_ENDPOINTS or blueprint in PUBLIC_BLUEPRINTS or rule.rule.startswith("/api/")


def guarded_routes(app: Flask) -> list[tuple[Rule, str, str]]:
    """(rule, method, a URL for it) of every non-public route."""
    urls = app.url_map.bind("localhost")
    found = []
    for rule in app.url_map.iter_rules():
        if is_public(rule):
            continue
        values = {arg: 1 if isinstance(conv, IntegerConverter) else "x" for arg, conv in rule._converters.items()}
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule, method, urls.build(rule.endpoint, values, method=method)))
    return found


def required_role(app: Flask, rule: Rule) -> str | None:
    return getattr(app.view_functions[rule.endpoint], "required_role", None)


def _send(client, method: str, url: str, token: str):
    # A valid CSRF token, so that the refusal seen is the access check's, not the CSRF one's.
    data = {"csrf_token": token} if method in STATE_CHANGING else None
    return client.open(url, method=method, data=data, headers={"X-CSRFToken": token})


def test_the_map_has_guarded_routes_of_every_kind(app):
    routes = guarded_routes(app)
    assert any(m == "GET" for _, m, _ in routes) and any(m in STATE_CHANGING for _, m, _ in routes)
    assert any(required_role(app, r) == "admin" for r, _, _ in routes)


def test_every_guarded_view_names_its_role(app):
    missing = sorted({r.endpoint for r, _, _ in guarded_routes(app) if required_role(app, r) is None})
    assert missing == [], f"views without role_required: {missing}"


def test_state_changing_routes_need_more_than_the_viewer_role(app):
    viewer_writes = sorted({f"{m} {r.rule}" for r, m, _ in guarded_routes(app) if m in STATE_CHANGING and required_role(app, r) == "viewer"})
    assert viewer_writes == [], f"state-changing routes open to viewers: {viewer_writes}"


def test_anonymous_requests_are_sent_to_sign_in(app, csrf_token):
    client = app.test_client()
    token = csrf_token(client.get("/auth/login").get_data(as_text=True))
    wrong = []
    for rule, method, url in guarded_routes(app):
        response = _send(client, method, url, token)
        if response.status_code != 302 or not response.headers["Location"].startswith("/auth/login"):
            wrong.append(f"{method} {url}: {response.status_code}")
    assert wrong == []


@pytest.mark.parametrize("role", ["viewer", "editor"])
def test_lesser_roles_are_refused(app, login_as, csrf_token, role):
    from web.auth.roles import RANK

    client = login_as(role)
    token = csrf_token(client.get("/admin/").get_data(as_text=True))
    wrong = []
    for rule, method, url in guarded_routes(app):
        needed = required_role(app, rule) or "admin"
        if RANK[needed] <= RANK[role]:
            continue
        response = _send(client, method, url, token)
        if response.status_code != 403:
            wrong.append(f"{method} {url} (needs {needed}): {response.status_code}")
    assert wrong == []
