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


def events_url(w) -> str:
    return f"/api/v1/inapp/{w.app_id}/nudges/{w.nudge[('ann', 'card')]}/events"


def test_a_chunked_body_over_the_limit_gets_413(client, inapp_nudges):
    w = inapp_nudges
    body = b'{"type": "seen", "pad": "' + b"x" * 100_000 + b'"}'
    # No Content-Length: the server reads the body to its end (as waitress lets it: wsgi.input_terminated).
    answer = client.post(events_url(w), headers=auth(w.token(), **{"Transfer-Encoding": "chunked", "Content-Type": "application/json"}),
                         input_stream=io.BytesIO(body), environ_overrides={"wsgi.input_terminated": True})  # fmt: skip
    assert answer.status_code == 413 and answer.json["error"]["code"] == "payload_too_large"
    small = client.post(events_url(w), headers=auth(w.token(), **{"Transfer-Encoding": "chunked", "Content-Type": "application/json"}),
                        input_stream=io.BytesIO(b'{"type": "seen"}'), environ_overrides={"wsgi.input_terminated": True})  # fmt: skip
    assert small.status_code == 200 and small.json["type"] == "seen"


def test_json_nested_deeper_than_the_parser_goes_is_a_400_not_a_500(client, inapp_nudges):
    w = inapp_nudges
    for deep in (b"[" * 2000 + b"]" * 2000, b'[{"":' * 570 + b"1" + b"}]" * 570):
        assert len(deep) <= 4096
        answer = client.post(events_url(w), headers=auth(w.token()), data=deep, content_type="application/json")
        assert answer.status_code == 400 and answer.json["error"]["code"] == "bad_request"


def test_a_nudge_id_past_the_databases_integers_is_a_404_not_a_500(client, inapp_nudges):
    w = inapp_nudges
    for nudge_id in (2**63, 10**30):  # past a 64-bit integer (nudges.id, SQLite's INTEGER)
        answer = client.post(f"/api/v1/inapp/{w.app_id}/nudges/{nudge_id}/events", headers=auth(w.token()), json={"type": "seen"})
        assert answer.status_code == 404 and answer.json["error"]["code"] == "not_found", nudge_id
