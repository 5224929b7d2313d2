"""Settings read from ``TOUCHLINE_*`` environment variables.

Every variable has an embedded default so that ``touchline up`` runs on one
machine with nothing configured; production (``TOUCHLINE_ENV=production``)
refuses to start without an explicit secret key.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


def _int(name: str, default: int, minimum: int = 0, maximum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected a whole number") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r}: must be at least {minimum}")
    if maximum is not None and value > maximum:
        raise SettingsError(f"{name}={raw!r}: must be at most {maximum}")
    return value


def _cron(name: str, default: str) -> str:
    raw = _str(name, default) or default
    from croniter import croniter

    if not croniter.is_valid(raw):
        raise SettingsError(f"{name}={raw!r} is not a valid cron expression (five fields, such as '* * * * *')")
    return raw


def _rate_limit(name: str, default: str) -> str:
    raw = _str(name, default) or default
    from limits import parse_many  # the parser Flask-Limiter itself uses

    try:
        parse_many(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected a rate such as '600/minute' or '10 per second'") from None
    return raw


def _str(name: str, default: str | None = None) -> str | None:
    raw = os.environ.get(name)
    return default if raw is None or raw == "" else raw


@dataclass(frozen=True)
class Settings:
    env: str = "development"
    instance_dir: Path = field(default_factory=lambda: Path("instance"))
    database_url: str = ""
    redis_url: str | None = None
    smtp_url: str | None = None
    secret_key: str = ""
    secret_key_generated: bool = False
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    tick_cron: str = "* * * * *"
    event_retention_days: int = 180
    max_request_bytes: int = 4 * 1024 * 1024
    max_batch: int = 1000
    api_rate_limit: str = "600/minute"
    queue_prefix: str = "touchline"
    trusted_proxies: int = 0

    @property
    def production(self) -> bool:
        return self.env == "production"



def event_retention_days() -> int:
    """TOUCHLINE_EVENT_RETENTION_DAYS alone, for code that needs only this setting."""
    return _int("TOUCHLINE_EVENT_RETENTION_DAYS", 180, minimum=1)


def load_settings() -> Settings:
    """Build settings from the environment; raise SettingsError on bad values."""
    env = _str("TOUCHLINE_ENV", "development") or "development"
    if env not in {"development", "production", "test"}:
        raise SettingsError(f"TOUCHLINE_ENV={env!r}: expected development, production or test")
    instance_dir = Path(_str("TOUCHLINE_INSTANCE_DIR", "instance") or "instance").resolve()
    database_url = _str("TOUCHLINE_DATABASE_URL") or f"sqlite:///{instance_dir / 'touchline.db'}"
    secret_key = _str("TOUCHLINE_SECRET_KEY")
    generated = False
    if secret_key is None:
        if env == "production":
            raise SettingsError(
                "TOUCHLINE_SECRET_KEY is not set: production refuses to start without a secret key "
                "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        secret_key = _instance_secret(instance_dir)
        generated = True
    elif env == "production" and len(secret_key) < 16:
        raise SettingsError("TOUCHLINE_SECRET_KEY is too short for production: use at least 16 characters")
    return Settings(
        env=env,
        instance_dir=instance_dir,
        database_url=database_url,
        redis_url=_str("TOUCHLINE_REDIS_URL"),
        smtp_url=_str("TOUCHLINE_SMTP_URL"),
        secret_key=secret_key,
        secret_key_generated=generated,
        host=_str("TOUCHLINE_HOST", "127.0.0.1") or "127.0.0.1",
        port=_int("TOUCHLINE_PORT", 8000, minimum=0, maximum=65535),
        workers=_int("TOUCHLINE_WORKERS", 1, minimum=1),
        tick_cron=_cron("TOUCHLINE_TICK_CRON", "* * * * *"),
        event_retention_days=event_retention_days(),
        max_request_bytes=_int("TOUCHLINE_MAX_REQUEST_BYTES", 4 * 1024 * 1024, minimum=1024),
        max_batch=_int("TOUCHLINE_MAX_BATCH", 1000, minimum=1),
        api_rate_limit=_rate_limit("TOUCHLINE_API_RATE_LIMIT", "600/minute"),
        queue_prefix=_str("TOUCHLINE_QUEUE_PREFIX", "touchline") or "touchline",
        trusted_proxies=_int("TOUCHLINE_TRUSTED_PROXIES", 0, minimum=0, maximum=10),
    )


def _instance_secret(instance_dir: Path) -> str:
    """A per-instance secret kept in the instance folder, so sessions survive restarts."""
    path = instance_dir / "secret_key"
    try:
        key = path.read_text().strip()
        if key:
            return key
    except FileNotFoundError:
        pass
    instance_dir.mkdir(parents=True, exist_ok=True)
    # Written whole to a private temp file, then linked into place: a process
    # that starts at the same moment either wins the link or reads a complete key.
    fd, tmp = tempfile.mkstemp(dir=instance_dir, prefix=".secret_key.")
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    return path.read_text().strip()
