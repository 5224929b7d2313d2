"""Signed-in sessions end on sign-out, password change, deactivation and after idling.

A session cookie is client-side; these tests copy it to a second client (as someone
who took it from the browser would) and check what the server still accepts.
"""

from __future__ import annotations

import time
from datetime import timedelta

import itsdangerous.timed
import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from engine import auth
from engine.cli import cli
from engine.models import User

SIGNED_IN_PAGE = "/admin/"


def copy_of(client: FlaskClient) -> FlaskClient:
    """A second browser holding a copy of ``client``'s session cookie."""
    cookie = client.get_cookie("session")
    assert cookie is not None, "not signed in"
    other = client.application.test_client()
    other.set_cookie("session", cookie.value)
    assert other.get(SIGNED_IN_PAGE).status_code == 200
    return other


def signed_out(client: FlaskClient) -> bool:
    response = client.get(SIGNED_IN_PAGE)
    return response.status_code == 302 and response.headers["Location"].startswith("/auth/login")


@pytest.fixture
def signed_in(app: Flask, make_user, login) -> tuple[FlaskClient, str]:
    make_user("admin", "second-admin@example.test")  # the last active admin cannot be disabled
    email = make_user("admin")
    client = app.test_client()
    assert login(client, email).status_code == 302
    return client, email


def test_sign_out_ends_a_copied_session(signed_in, csrf_token):
    client, _email = signed_in
    stolen = copy_of(client)
    token = csrf_token(client.get(SIGNED_IN_PAGE).get_data(as_text=True))
    assert client.post("/auth/logout", data={"csrf_token": token}).status_code == 302
    assert signed_out(client)
    assert signed_out(stolen)


def test_password_change_ends_every_session(signed_in, db):
    client, email = signed_in
    stolen = copy_of(client)
    with db.session() as session:
        auth.change_password(session, email, "a brand new password")
    assert signed_out(client) and signed_out(stolen)


@pytest.mark.parametrize("command", [["users", "password", "--password", "a brand new password"], ["users", "disable"]])
def test_the_cli_ends_sessions_too(signed_in, command):
    client, email = signed_in
    result = CliRunner().invoke(cli, [*command, email], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert signed_out(client)


def test_enabling_a_user_again_does_not_revive_old_sessions(signed_in, db, login, password):
    client, email = signed_in
    stolen = copy_of(client)
    with db.session() as session:
        auth.set_active(session, email, False)
        auth.set_active(session, email, True)
    assert signed_out(stolen) and signed_out(client)
    assert login(client, email, password).status_code == 302  # a new sign-in works
    assert client.get(SIGNED_IN_PAGE).status_code == 200


def test_a_session_from_before_generations_is_refused(app, db, make_user):
    """A cookie whose user id has no generation (signed before 0010) means: sign in again."""
    email = make_user("admin")
    with db.read_session() as session:
        user_id = session.scalar(select(User.id).where(User.email == email))
    client = app.test_client()
    with client.session_transaction() as cookie:
        cookie["_user_id"], cookie["_fresh"] = str(user_id), True
    assert signed_out(client)


class Clock:
    """itsdangerous's clock, which dates and checks the session cookie's signature, moved forward."""

    def __init__(self) -> None:
        self.offset = 0.0

    def time(self) -> float:
        return time.time() + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta.total_seconds()


@pytest.fixture
def clock(monkeypatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(itsdangerous.timed, "time", clock)
    return clock


def test_a_session_idle_for_12_hours_ends_an_active_one_does_not(signed_in, clock):
    client, _email = signed_in
    assert client.application.permanent_session_lifetime == timedelta(hours=12)
    stolen = copy_of(client)
    for _ in range(3):  # 33 hours in all, never 12 without a request
        clock.advance(timedelta(hours=11))
        assert client.get(SIGNED_IN_PAGE).status_code == 200
    assert signed_out(stolen)  # its copy was last used 33 hours ago
    clock.advance(timedelta(hours=12, seconds=1))
    assert signed_out(client)


def test_the_idle_limit_is_a_setting(make_app, make_user, login, clock):
    app = make_app(session_idle_minutes=30)
    client = app.test_client()
    assert login(client, make_user("viewer")).status_code == 302
    clock.advance(timedelta(minutes=29))
    assert client.get(SIGNED_IN_PAGE).status_code == 200
    clock.advance(timedelta(minutes=30, seconds=1))
    assert signed_out(client)


def test_the_session_cookie_is_permanent_so_the_browser_drops_it_when_idle(app, make_user, login):
    client = app.test_client()
    response = login(client, make_user("viewer"))
    set_cookie = response.headers["Set-Cookie"]
    assert set_cookie.startswith("session=") and "Expires=" in set_cookie and "HttpOnly" in set_cookie
