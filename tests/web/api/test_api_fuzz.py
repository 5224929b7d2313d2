"""Fuzzing the API from its own OpenAPI description: no input gets a 5xx, every answer has its documented shape.

Bodies come from the request schemas (hypothesis-jsonschema), then have fields
swapped for hostile values: JSON text nested far too deep, huge numbers, odd
Unicode, NULs and wrong types. Every request goes through the real app, with a
real API key, database and Redis. Runs are derandomized, so CI sees the same
examples on every run.
"""

from __future__ import annotations

import itertools
import json
from functools import cache
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_jsonschema import from_schema

from web.api.openapi import document

FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
BATCHES = ["accounts", "contacts", "events", "suppressions"]
MAX_RECORDS = 6


def resolve(node: Any) -> Any:
    """``node`` with every local ``$ref`` replaced by what it points to."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = document()
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(target)
        return {key: resolve(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item) for item in node]
    return node


def operation(path: str, method: str) -> dict[str, Any]:
    return resolve(document()["paths"][path][method])


def response_schema(path: str | None, method: str, status: int) -> dict[str, Any]:
    """The documented schema of this answer; any path the API does not have answers with the error shape."""
    responses = operation(path, method)["responses"] if path else {}
    answer = responses.get(str(status)) or responses.get("default") or resolve(document()["components"]["responses"]["Error"])
    return answer["content"]["application/json"]["schema"]


def assert_documented(response, path: str | None, method: str) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    assert response.mimetype == "application/json", response.get_data(as_text=True)[:500]
    jsonschema.validate(response.json, response_schema(path, method, response.status_code))


# -- hostile values -------------------------------------------------------------------

def deep_text(depth: int) -> str:
    return '{"a": ' + "[" * depth + "]" * depth + "}"


def deep_object(depth: int) -> dict[str, Any]:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return {"a": value}


ODD_TEXT = [
    "\x00", "a\x00b", "\ud800", "\udfff", "x\udc00y", "\ufeff", "\u202eevil", "\uffff", "\U0010ffff", "e\u0301",
    "İı", " ", "\t\n", "", "0", "-1", "1e999", "NaN", "Infinity", "null", "[]", "{}", '{"a": 1}',
    "2026-13-45T25:61:61Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00", "Europe/Nowhere",
    "../../etc/passwd", "<script>alert(1)</script>", "'; DROP TABLE accounts; --",
]  # fmt: skip
HUGE_NUMBERS = [
    10**300, -(10**300), 2**63, -(2**63) - 1, 2**64, 1e308, -1e308, 5e-324, -0.0, 0.1 + 0.2, 1e12, 999_999_999_999.999,
]  # fmt: skip
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)
# Past the depth limit: JSON text (traits and properties parse it; past ~1,000 levels
# Python's parser gives up) and objects the body parser already read.
DEEP = st.sampled_from([33, 999, 1_000, 5_000, 100_000]).map(deep_text) | st.sampled_from([33, 200, 500]).map(deep_object)
HOSTILE = st.one_of(
    DEEP,
    st.sampled_from(HUGE_NUMBERS),
    st.sampled_from(ODD_TEXT),
    st.sampled_from(["9", "1", "Z", "\N{GRINNING FACE}", "\U0001d54f"]).flatmap(
        lambda c: st.sampled_from([300, 5_000, 70_000]).map(lambda n: c * n)  # long text and long digit runs
    ),
    st.text(st.characters(codec="utf-8"), max_size=40),
    JSON_VALUES,
)


def value_of(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values of one field's schema.

    hypothesis-jsonschema 0.23's strategy for objects uses a Hypothesis internal that
    current Hypothesis no longer has, so objects (traits, properties) are drawn here.
    """
    types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
    if "object" not in types:
        return from_schema(schema)
    objects = st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=4)
    rest = [t for t in types if t != "object"]
    return objects | from_schema({**schema, "type": rest}) if rest else objects


@cache
def record_strategy(schema_json: str) -> tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]:
    """(hostile records, any record) for a record schema: valid ones, valid ones with hostile
    fields, and hostile values in place of a record."""
    schema = json.loads(schema_json)
    values = {name: value_of(sub) for name, sub in schema["properties"].items()}
    fields = sorted(values)
    optional = sorted(set(fields) - set(schema["required"]))
    objects = [name for name in fields if "object" in schema["properties"][name]["type"]]

    @st.composite
    def valid(draw) -> dict[str, Any]:
        names = list(schema["required"])
        for alternative in schema.get("anyOf", []):  # e.g. an event's "name" or "event"
            names.append(draw(st.sampled_from(alternative["required"])))
        names += draw(st.lists(st.sampled_from(optional), unique=True, max_size=len(optional)))
        return {name: draw(values[name]) for name in dict.fromkeys(names)}

    @st.composite
    def hostile(draw) -> dict[str, Any]:
        record = draw(valid())
        for name in draw(st.lists(st.sampled_from(fields), min_size=1, max_size=3, unique=True)):
            record[name] = draw(HOSTILE)
        for name in objects:  # traits, properties: where nesting is read
            record[name] = draw(st.one_of(DEEP, HOSTILE, values[name]))
        return record

    return hostile(), st.one_of(valid(), hostile(), HOSTILE)


def batch_of(kind: str) -> st.SearchStrategy[list[Any]]:
    """Batches with at least one hostile record among others of every sort."""
    body = operation(f"/api/v1/{kind}", "post")["requestBody"]["content"]["application/json"]["schema"]
    hostile, anything = record_strategy(json.dumps(body["properties"][kind]["items"], sort_keys=True))

    @st.composite
    def batch(draw) -> list[Any]:
        records = draw(st.lists(anything, max_size=MAX_RECORDS - 1))
        records.insert(draw(st.integers(0, len(records))), draw(hostile))
        return records

    return batch()


@pytest.fixture
def fuzz_client(make_app):
    # One key sends hundreds of requests here; the rate limit has its own tests.
    return make_app(api_rate_limit="1000000/minute").test_client()


# -- the fuzz tests -------------------------------------------------------------------


@pytest.mark.parametrize("kind", BATCHES)
def test_batches_from_the_schema_and_worse_never_get_a_5xx(fuzz_client, auth, kind):
    path = f"/api/v1/{kind}"

    @FUZZ
    @given(records=batch_of(kind))
    def run(records: list[Any]) -> None:
        body = json.dumps({kind: records})  # \\u escapes: lone surrogates reach the server as JSON sends them
        response = fuzz_client.post(path, headers=auth, data=body, content_type="application/json")
        assert_documented(response, path, "post")
        if response.status_code in (400, 413):
            # Only a body that cannot be read at all is refused whole.
            assert response.json["error"]["code"] in {"invalid_json", "payload_too_large"}, response.json
            return
        result = response.json
        rejected = {r["index"] for r in result["rejected"]}
        assert rejected <= set(range(len(records)))
        assert response.status_code == (200 if not rejected else 422 if len(rejected) == len(records) else 207)
        handled = result["accepted"] + result.get("duplicates", 0) + len(rejected)
        # Accounts and contacts merge repeated ids into one upsert.
        assert handled == len(records) if kind in ("events", "suppressions") else handled <= len(records)

    run()


ADDRESSES = itertools.count()
HEADER_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=255, exclude_characters="\r\n"), max_size=60)


@FUZZ
@given(
    authorization=st.one_of(st.none(), HEADER_TEXT, HEADER_TEXT.map(lambda t: "Bearer " + t), st.just("Bearer tl_\x00")),
    content_type=st.one_of(
        st.sampled_from(["application/json", "application/merge-patch+json", "text/plain", "application/json; charset=latin-1"]),
        HEADER_TEXT,
    ),
    extra=st.dictionaries(st.sampled_from(["User-Agent", "X-Request-Id", "Accept", "Accept-Language"]), HEADER_TEXT, max_size=2),
    body=st.binary(max_size=64) | st.just(b'{"events": []}'),
)
def test_odd_headers_and_bodies_never_get_a_5xx(fuzz_client, auth, authorization, content_type, extra, body):
    headers = {**extra, **({"Authorization": authorization} if authorization is not None else {})}
    # A fresh client address each time: failed authentications are limited per address.
    address = {"REMOTE_ADDR": f"10.0.{next(ADDRESSES) % 250}.{next(ADDRESSES) % 250}"}
    for headers in (headers, {**extra, **auth}):  # the same odd headers, then with a good key
        response = fuzz_client.post(
            "/api/v1/events", headers=headers, data=body, content_type=content_type, environ_base=address
        )
        assert_documented(response, "/api/v1/events", "post")


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
    suffix=st.text(st.characters(codec="utf-8", exclude_characters="?#"), max_size=30),
    query=st.text(max_size=30),
)
def test_any_path_under_the_api_answers_with_the_error_shape(fuzz_client, auth, method, suffix, query):
    response = fuzz_client.open(f"/api/v1/{suffix}", method=method, headers=auth, query_string={"q": query})
    assert response.status_code < 500, response.get_data(as_text=True)
    path = response.request.path
    documented = document()["paths"].get(path, {}).get(method.lower())
    if documented and response.status_code in (200, 207, 422):
        return  # a real endpoint answered (e.g. GET /api/v1/ping): covered above
    assert_documented(response, None, method.lower())
