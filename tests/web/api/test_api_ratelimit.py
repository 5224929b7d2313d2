"""Rate limits per API key, counted in the real Redis."""

import redis

from engine.auth import create_api_key
from engine.embedded.process import free_port


def test_limit_is_per_key_with_429_json_and_retry_after(make_app, db, redis_url):
    client = make_app(api_rate_limit="5/minute").test_client()
    with db.session() as session:
        _, first = create_api_key(session, "first")
        _, second = create_api_key(session, "second")
    one = {"Authorization": f"Bearer {first}"}
    two = {"Authorization": f"Bearer {second}"}

    assert [client.get("/api/v1/ping", headers=one).status_code for _ in range(5)] == [200] * 5
    limited = client.post("/api/v1/events", headers=one, json={"events": []})
    assert limited.status_code == 429
    assert limited.json["error"]["code"] == "rate_limited"
    assert "5 per 1 minute" in limited.json["error"]["message"]
    assert 1 <= int(limited.headers["Retry-After"]) <= 61

    # Another key from the same address has its own budget.
    assert client.get("/api/v1/ping", headers=two).status_code == 200
    # The counters are in Redis, shared by every web process.
    keys = redis.Redis.from_url(redis_url).keys("*touchline:ratelimit/apikey:*")
    assert keys, "no rate-limit counters in Redis"


def test_counters_are_shared_between_apps_through_redis(make_app, auth):
    first, second = make_app(api_rate_limit="3/minute"), make_app(api_rate_limit="3/minute")
    statuses = [app.test_client().get("/api/v1/ping", headers=auth).status_code for app in (first, second, first, second)]
    assert statuses == [200, 200, 200, 429]


def test_requests_with_a_bad_key_do_not_spend_the_keys_budget(make_app, auth):
    client = make_app(api_rate_limit="2/minute").test_client()
    for _ in range(5):
        assert client.get("/api/v1/ping", headers={"Authorization": "Bearer tl_x_wrong"}).status_code == 401
    assert [client.get("/api/v1/ping", headers=auth).status_code for _ in range(3)] == [200, 200, 429]


def test_ingest_goes_on_when_redis_is_down(make_app, auth, db):
    client = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0").test_client()
    response = client.post("/api/v1/events", headers=auth, json={"events": [{"account_id": "a", "name": "login"}]})
    assert response.status_code == 200 and response.json["accepted"] == 1


WRONG = {"Authorization": "Bearer tl_x_wrong"}


def from_address(address: str) -> dict:
    return {"environ_base": {"REMOTE_ADDR": address}}


def test_failed_authentications_are_limited_per_address(make_app, auth, redis_url):
    client = make_app().test_client()
    attacker, neighbour = from_address("198.51.100.7"), from_address("198.51.100.8")
    # Every kind of 401 counts: a wrong key, no key, a header that is not Bearer.
    failures = [WRONG] * 8 + [{}, {"Authorization": "Basic abc"}]
    assert [client.get("/api/v1/ping", headers=h, **attacker).status_code for h in failures] == [401] * 10

    limited = client.get("/api/v1/ping", headers=WRONG, **attacker)
    assert limited.status_code == 429
    assert set(limited.json) == {"error"} and set(limited.json["error"]) == {"code", "message"}
    assert limited.json["error"]["code"] == "rate_limited"
    assert "wrong API key from this address" in limited.json["error"]["message"]
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    # While blocked, a right key is refused too: otherwise a guess could still be confirmed.
    assert client.get("/api/v1/ping", headers=auth, **attacker).status_code == 429
    # Other addresses, and the key itself from them, are not affected.
    assert client.get("/api/v1/ping", headers=auth, **neighbour).status_code == 200
    assert client.get("/api/v1/ping", headers=WRONG, **neighbour).status_code == 401
    assert redis.Redis.from_url(redis_url).keys("*ratelimit/198.51.100.7/api-auth-failures/*")


def test_successful_requests_do_not_spend_the_failure_budget(make_app, auth):
    client = make_app().test_client()
    assert all(client.get("/api/v1/ping", headers=auth).status_code == 200 for _ in range(15))
    assert [client.get("/api/v1/ping", headers=WRONG).status_code for _ in range(11)] == [401] * 10 + [429]


def test_failure_counts_are_shared_between_apps_through_redis(make_app):
    first, second = make_app().test_client(), make_app().test_client()
    statuses = [(first if i % 2 else second).get("/api/v1/ping", headers=WRONG).status_code for i in range(11)]
    assert statuses == [401] * 10 + [429]


def test_failed_authentications_are_still_refused_when_redis_is_down(make_app, auth):
    client = make_app(redis_url=f"redis://127.0.0.1:{free_port()}/0").test_client()
    statuses = [client.get("/api/v1/ping", headers=WRONG).status_code for _ in range(11)]
    assert statuses == [401] * 10 + [429]  # counted in this process's memory meanwhile
