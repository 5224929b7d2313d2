"""The nudge API through the real app: identity, isolation, ETags, events, CORS, limits."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt

from engine.models import utcnow

ORIGIN = "https://app.example.com"


def auth(token: str, **headers) -> dict:
    return {"Authorization": f"Bearer {token}", **headers}


def test_list_with_etag_and_304(client, inapp_nudges):
    w = inapp_nudges
    url = f"/api/v1/inapp/{w.app_id}/nudges"
    first = client.get(url, headers=auth(w.token()))
    assert first.status_code == 200 and first.json["unread"] == 2
    assert [n["kind"] for n in first.json["nudges"]] == ["banner", "card"]
    assert first.headers["Cache-Control"] == "private, no-cache"
    etag = first.headers["ETag"]
    again = client.get(url, headers=auth(w.token(), **{"If-None-Match": etag}))
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    client.post(f"{url}/{w.nudge[('ann', 'banner')]}/events", headers=auth(w.token()), json={"type": "seen"})
    changed = client.get(url, headers=auth(w.token(), **{"If-None-Match": etag}))
    assert changed.status_code == 200 and changed.json["unread"] == 1


def test_a_contacts_token_never_reaches_another_contacts_nudges(client, inapp_nudges):
    w = inapp_nudges
    url = f"/api/v1/inapp/{w.app_id}/nudges"
    mine = {n["id"] for n in client.get(url, headers=auth(w.token("ann"))).json["nudges"]}
    theirs = {n["id"] for n in client.get(url, headers=auth(w.token("carl"))).json["nudges"]}
    assert mine and theirs and not mine & theirs
    for target in (w.nudge[("carl", "banner")], w.nudge[("bea", "card")], 999_999):
        answer = client.post(f"{url}/{target}/events", headers=auth(w.token("ann")), json={"type": "dismissed"})
        assert answer.status_code == 404 and answer.json["error"]["code"] == "not_found"
    assert len(client.get(url, headers=auth(w.token("carl"))).json["nudges"]) == 2  # untouched


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_bad_tokens_get_401_json_saying_why(client, inapp_nudges):
    w = inapp_nudges
    url = f"/api/v1/inapp/{w.app_id}/nudges"
    now = utcnow()
    good = {"sub": "ann", "account": "acme", "iat": int(now.timestamp()), "exp": int((now + timedelta(hours=1)).timestamp())}
    cases = {
        "missing": None,
        "expired": w.token(now=now - timedelta(hours=3)),
        "future": w.token(now=now + timedelta(hours=1)),
        "wrong key": jwt.encode(good, "x" * 43, "HS256", headers={"kid": w.key.kid}),
        "alg none": f"{b64({'alg': 'none', 'kid': w.key.kid})}.{b64(good)}.",
        "tampered": ".".join([w.token().split(".")[0], b64({**good, "sub": "carl", "account": "globex"}), w.token().split(".")[2]]),
    }
    for name, token in cases.items():
        answer = client.get(url, headers=auth(token) if token else {})
        assert answer.status_code == 401, name
        assert answer.json["error"]["code"] in ("invalid_token", "missing_token"), name
        assert answer.headers["WWW-Authenticate"].startswith("Bearer"), name


def test_events_are_idempotent_with_server_times(client, inapp_nudges):
    w = inapp_nudges
    url = f"/api/v1/inapp/{w.app_id}/nudges/{w.nudge[('ann', 'card')]}/events"
    first = client.post(url, headers=auth(w.token()), json={"type": "clicked"})
    assert first.status_code == 200 and first.json["first"] is True and first.json["type"] == "clicked"
    second = client.post(url, headers=auth(w.token()), json={"type": "clicked"})
    assert second.json == {**first.json, "first": False}
    until = (utcnow() + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert client.post(url, headers=auth(w.token()), json={"type": "snoozed", "until": until}).status_code == 200
    assert [n["kind"] for n in client.get(f"/api/v1/inapp/{w.app_id}/nudges", headers=auth(w.token())).json["nudges"]] == ["banner"]
    for body, code in (({"type": "opened"}, 400), ({"type": "snoozed", "until": "tomorrow"}, 400), ({"type": "seen", "x": 1}, 400),
                       ("not json", 400), ({"type": "seen", "pad": "x" * 5000}, 413)):  # fmt: skip
        kwargs = {"json": body} if not isinstance(body, str) else {"data": body, "content_type": "application/json"}
        answer = client.post(url, headers=auth(w.token()), **kwargs)
        assert answer.status_code == code, (body, answer.json)
        assert set(answer.json["error"]) == {"code", "message"}


def test_cors_only_for_the_apps_origins(client, inapp_nudges):
    w = inapp_nudges
    url = f"/api/v1/inapp/{w.app_id}/nudges"
    allowed = client.get(url, headers=auth(w.token(), Origin=ORIGIN))
    assert allowed.status_code == 200 and allowed.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "ETag" in allowed.headers["Access-Control-Expose-Headers"] and "Origin" in allowed.headers["Vary"]
    preflight = client.options(url, headers={"Origin": ORIGIN, "Access-Control-Request-Method": "GET",
                                             "Access-Control-Request-Headers": "authorization, if-none-match"})  # fmt: skip
    assert preflight.status_code == 204 and preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    for method in (client.get, client.options):
        refused = method(url, headers=auth(w.token(), Origin="https://evil.example"))
        assert refused.status_code == 403 and "Access-Control-Allow-Origin" not in refused.headers
        assert refused.json["error"]["code"] == "origin_not_allowed"
    assert client.get(f"/api/v1/inapp/app_nope/nudges", headers=auth(w.token(), Origin=ORIGIN)).status_code == 403


def test_rate_limited_per_contact_with_json_429(make_app, inapp_nudges):
    client = make_app(inapp_rate_limit="3/minute").test_client()
    w = inapp_nudges
    url = f"/api/v1/inapp/{w.app_id}/nudges"
    assert [client.get(url, headers=auth(w.token("ann"))).status_code for _ in range(4)] == [200, 200, 200, 429]
    limited = client.get(url, headers=auth(w.token("ann")))
    assert limited.json["error"]["code"] == "rate_limited" and limited.headers["Retry-After"]
    assert client.get(url, headers=auth(w.token("bea"))).status_code == 200  # another contact's budget


def test_the_snippet_is_served_for_other_origins(client):
    answer = client.get("/inapp/touchline.js")
    assert answer.status_code == 200 and answer.mimetype == "text/javascript"
    assert answer.headers["Cross-Origin-Resource-Policy"] == "cross-origin"


def test_expired_tokens_spend_no_address_failure_budget_but_bad_ones_do(client, inapp_nudges):
    # An office behind one address: each page meets an expired token once an hour and asks for
    # a new one; that must not lock out colleagues. Forged tokens still do.
    w = inapp_nudges
    url = f"/api/v1/inapp/{w.app_id}/nudges"
    expired = w.token("ann", now=utcnow() - timedelta(hours=3))
    assert {client.get(url, headers=auth(expired)).status_code for _ in range(15)} == {401}
    assert client.get(url, headers=auth(w.token("bea"))).status_code == 200
    forged = w.token("ann")[:-4] + "AAAA"
    statuses = [client.get(url, headers=auth(forged)).status_code for _ in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    assert client.get(url, headers=auth(w.token("bea"))).status_code == 429  # the address is blocked this minute
