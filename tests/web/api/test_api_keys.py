from datetime import timedelta

import pytest
from sqlalchemy import select, update

from engine.auth import create_api_key, revoke_api_key
from engine.models import ApiKey, utcnow


def assert_401(response, code):
    assert response.status_code == 401
    assert response.json["error"]["code"] == code
    assert response.headers["WWW-Authenticate"].startswith('Bearer realm="touchline"')


def test_ping_with_a_valid_key_names_the_key(client, auth):
    response = client.get("/api/v1/ping", headers=auth)
    assert response.status_code == 200
    assert response.json["ok"] is True and response.json["key"]["name"] == "test client"


@pytest.mark.parametrize("path", ["/api/v1/ping", "/api/v1/events", "/api/v1/accounts", "/api/v1/contacts"])
def test_every_endpoint_needs_a_key(client, path):
    method = client.get if path.endswith("ping") else client.post
    assert_401(method(path, json={"events": []}), "missing_api_key")


@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("Basic dXNlcjpwYXNz", "invalid_authorization"),
        ("Bearer", "invalid_authorization"),
        ("Bearer tl_0000_not-a-real-key", "invalid_api_key"),
        ("Bearer something-else", "invalid_api_key"),
    ],
)
def test_bad_authorization_headers_are_refused(client, api_token, header, code):
    assert_401(client.get("/api/v1/ping", headers={"Authorization": header}), code)


def test_revoked_key_is_refused_at_once(client, db, api_token, auth):
    assert client.get("/api/v1/ping", headers=auth).status_code == 200
    with db.session() as session:
        prefix = session.scalar(select(ApiKey.prefix))
        revoke_api_key(session, prefix)
    assert_401(client.get("/api/v1/ping", headers=auth), "invalid_api_key")


def test_last_used_is_written_at_most_once_a_minute(client, db, auth):
    def last_used():
        with db.read_session() as session:
            return session.scalar(select(ApiKey.last_used_at))

    assert last_used() is None
    client.get("/api/v1/ping", headers=auth)
    first = last_used()
    assert first is not None and utcnow() - first < timedelta(seconds=30)
    client.get("/api/v1/ping", headers=auth)
    assert last_used() == first  # within the minute: no write

    stale = utcnow() - timedelta(minutes=2)
    with db.session() as session:
        session.execute(update(ApiKey).values(last_used_at=stale))
    client.get("/api/v1/ping", headers=auth)
    assert last_used() > stale


def test_each_key_is_told_apart(client, db):
    with db.session() as session:
        _, one = create_api_key(session, "one")
        _, two = create_api_key(session, "two")
    names = [client.get("/api/v1/ping", headers={"Authorization": f"Bearer {t}"}).json["key"]["name"] for t in (one, two)]
    assert names == ["one", "two"]
