"""Every way a request can be wrong gets a JSON error naming the problem, never a 500."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def post(client, auth, path, data, content_type="application/json"):
    return client.post(path, headers=auth, data=data, content_type=content_type)


def assert_error(response, status, code, *fragments):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    error = response.json["error"]
    assert error["code"] == code
    for fragment in fragments:
        assert fragment in error["message"], error["message"]


def test_malformed_json_names_line_and_column(client, auth):
    response = post(client, auth, "/api/v1/events", '{"events": [\n  {"id": "e1",}\n]}')
    assert_error(response, 400, "invalid_json", "line 2 column 15", "(character 27)")


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"", "the body is empty"),
        (b'{"events": [{"name": "\xff"}]}', "not UTF-8: byte 0xff"),
        (b'{"events": [{"properties": {"x": NaN}}]}', "NaN is not valid JSON"),
        (b'{"events": [' + b"[" * 100_000 + b"]" * 100_000 + b"]}", "nested too deeply"),
        (b'{"events": [{"id": 1' + b"0" * 5000 + b"}]}", "invalid JSON"),
    ],
)
def test_bodies_that_cannot_be_read_or_stored_are_400(client, auth, body, fragment):
    assert_error(post(client, auth, "/api/v1/events", body), 400, "invalid_json", fragment)


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", ""])
def test_wrong_content_type_is_415(client, auth, content_type):
    response = post(client, auth, "/api/v1/events", json.dumps({"events": []}), content_type=content_type)
    assert_error(response, 415, "unsupported_media_type", "application/json")


def test_json_with_a_charset_parameter_is_accepted(client, auth):
    response = post(client, auth, "/api/v1/events", b'{"events": []}', "application/json; charset=utf-8")
    assert response.status_code == 200


def test_oversize_body_is_413_json(make_app, auth):
    client = make_app(max_request_bytes=2048).test_client()
    body = json.dumps({"events": [{"account_id": "a", "name": "n", "properties": {"x": "y" * 3000}}]})
    assert_error(post(client, auth, "/api/v1/events", body), 413, "payload_too_large", "limit of 2048 bytes")


def test_batch_over_the_limit_is_413_naming_the_limit(make_app, auth):
    client = make_app(max_batch=3).test_client()
    body = json.dumps({"events": [{"account_id": "a", "name": "n"}] * 4})
    assert_error(post(client, auth, "/api/v1/events", body), 413, "batch_too_large", "at most 3 records", "has 4")
    assert post(client, auth, "/api/v1/events", json.dumps({"events": [{"account_id": "a", "name": "n"}] * 3})).status_code == 200


def test_unknown_top_level_keys_are_named(client, auth):
    response = post(client, auth, "/api/v1/events", json.dumps({"events": [], "evnets": [], "batch_id": 1}))
    assert_error(response, 400, "unknown_fields", "'batch_id', 'evnets'", "takes only 'events'")


@pytest.mark.parametrize(
    ("path", "body", "code", "fragment"),
    [
        ("/api/v1/accounts", {}, "missing_field", "no 'accounts' field"),
        ("/api/v1/contacts", [], "invalid_body", "expected a JSON object"),
        ("/api/v1/contacts", "contacts", "invalid_body", "got a string"),
        ("/api/v1/events", {"events": {"id": "e1"}}, "invalid_body", "'events' must be an array"),
        ("/api/v1/events", {"accounts": []}, "unknown_fields", "'accounts'"),
    ],
)
def test_wrong_shapes_are_400(client, auth, path, body, code, fragment):
    assert_error(post(client, auth, path, json.dumps(body)), 400, code, fragment)


def test_unknown_api_path_is_404_json(client, auth):
    assert_error(client.get("/api/v1/nothing-here", headers=auth), 404, "not_found", "/api/v1/nothing-here", "openapi.json")
    assert_error(client.get("/api/v2/events"), 404, "not_found")


def test_wrong_method_is_405_json_with_allow(client, auth):
    response = client.get("/api/v1/events", headers=auth)
    assert_error(response, 405, "method_not_allowed", "GET is not allowed on /api/v1/events; use POST")
    assert "POST" in response.headers["Allow"]
    assert_error(client.delete("/api/v1/ping", headers=auth), 405, "method_not_allowed")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=20,
)
FIELDS = st.sampled_from(
    ["id", "account_id", "contact_id", "name", "event", "timestamp", "time", "properties", "email", "role",
     "tier", "mrr", "arr", "plan", "locale", "timezone", "traits", "signup_at", "renewal_at", "last_seen_at"]
)  # fmt: skip
RECORD = st.dictionaries(FIELDS, JSON | st.datetimes().map(lambda d: d.isoformat()), max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(["accounts", "contacts", "events"]), records=st.lists(RECORD | JSON, max_size=5))
def test_arbitrary_records_never_cause_a_500(client, auth, kind, records):
    response = client.post(f"/api/v1/{kind}", headers=auth, json={kind: records})
    assert response.status_code in {200, 207, 422}, response.get_data(as_text=True)
    body = response.json
    rejected = {r["index"] for r in body["rejected"]}
    assert rejected <= set(range(len(records)))
    expected = 200 if not rejected else 422 if len(rejected) == len(records) else 207
    assert response.status_code == expected
    handled = body["accepted"] + body["duplicates"] + len(rejected)
    # Accounts and contacts merge repeated ids into one upsert; events count each record.
    assert handled == len(records) if kind == "events" else handled <= len(records)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.binary(max_size=200) | JSON.map(lambda v: json.dumps(v).encode()))
def test_arbitrary_bodies_never_cause_a_500(client, auth, body):
    response = post(client, auth, "/api/v1/events", body)
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
