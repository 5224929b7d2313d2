from engine.db import Database
from engine.embedded.process import free_port


def test_healthz_answers_while_the_process_is_up(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readyz_is_ready_with_a_current_database_and_live_redis(client):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json
    assert response.json["status"] == "ready"
    assert response.json["checks"]["redis"] == {"ok": True, "detail": "PONG"}


def test_readyz_is_not_ready_when_redis_is_down(make_app):
    closed = f"redis://127.0.0.1:{free_port()}/0"
    response = make_app(redis_url=closed).test_client().get("/readyz")
    assert response.status_code == 503
    body = response.json
    assert body["status"] == "not ready"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["redis"]["ok"] is False
    assert "redis does not answer PING" in body["checks"]["redis"]["detail"]


def test_readyz_is_not_ready_without_a_redis_url(make_app):
    response = make_app(redis_url=None).test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["redis"] == {"ok": False, "detail": "TOUCHLINE_REDIS_URL is not set"}


def test_readyz_is_not_ready_on_an_unmigrated_database(tmp_path, redis_url, make_app):
    empty = Database(f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        from web import create_app

        app = create_app(make_app().extensions["touchline.settings"], database=empty)
        response = app.test_client().get("/readyz")
    finally:
        empty.dispose()
    assert response.status_code == 503
    check = response.json["checks"]["database"]
    assert check["ok"] is False
    assert "schema is at empty" in check["detail"] and "touchline db upgrade" in check["detail"]
    assert response.json["checks"]["redis"]["ok"] is True
