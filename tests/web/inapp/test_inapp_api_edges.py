"""The nudge API at its edges: CORS on answers made before the origin check (the limiter's 429),
bodies without a Content-Length, JSON nested past the parser's depth, ids past the database's range."""

from __future__ import annotations

import io

ORIGIN = "https://app.example.com"
EVIL = "https://evil.example"


def auth(token: str, **headers) -> dict:
    return {"Authorization": f"Bearer {token}", **headers}


def test_a_rate_limited_answer_reflects_only_an_allowed_origin(make_app, inapp_nudges):
    w = inapp_nudges
    url = f"/api/v1/inapp/{w.app_id}/nudges"
    client = make_app(inapp_rate_limit="2/minute").test_client()
    answers = [client.get(url, headers=auth(w.token(), Origin=EVIL)) for _ in range(4)]
    assert [a.status_code for a in answers] == [403, 403, 429, 429]
    assert all("Access-Control-Allow-Origin" not in a.headers for a in answers)
    # The app's own origin still reads its 429 (and its Retry-After).
    limited = client.get(url, headers=auth(w.token(), Origin=ORIGIN))
    assert limited.status_code == 429 and limited.headers["Access-Control-Allow-Origin"] == ORIGIN
