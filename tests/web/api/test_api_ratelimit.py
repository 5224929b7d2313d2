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
