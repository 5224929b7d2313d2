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


DEFAULT_MAIL_FROM = "Touchline <touchline@localhost>"
SMTP_TLS_MODES = ("starttls", "tls", "none")
WEBHOOK_FORMATS = ("json", "slack")
_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@dataclass(frozen=True)
class SmtpServer:
    """TOUCHLINE_SMTP_URL taken apart: ``smtp://user:password@host:port``
    (``smtps://`` for TLS from the first byte); user and password are
    percent-decoded, so ``p%40ss`` is ``p@ss``."""

    host: str
    port: int | None
    username: str | None
    password: str | None
    implicit_tls: bool


def parse_smtp_url(raw: str, name: str = "TOUCHLINE_SMTP_URL") -> SmtpServer:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(raw)
    if parts.scheme not in ("smtp", "smtps"):
        raise SettingsError(f"{name}={_redact(raw)!r}: expected smtp://[user:password@]host[:port] or smtps://...")
    try:
        port = parts.port
    except ValueError:
        raise SettingsError(f"{name}={_redact(raw)!r}: the port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise SettingsError(f"{name}={_redact(raw)!r}: no host name")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise SettingsError(f"{name}={_redact(raw)!r}: expected nothing after host:port")
    return SmtpServer(
        host=parts.hostname,
        port=port,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        implicit_tls=parts.scheme == "smtps",
    )


def _redact(url: str) -> str:
    """A URL with its password replaced, for error messages."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)
        return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{netloc[-1]}"))
    except ValueError:
        return "<unparseable URL>"


def _choice(name: str, choices: tuple[str, ...], default: str) -> str:
    raw = (_str(name, default) or default).strip().lower()
    if raw not in choices:
        raise SettingsError(f"{name}={raw!r}: expected one of {', '.join(choices)}")
    return raw


def _mail_from(name: str) -> str:
    from engine.delivery.message import AddressError, parse_mailbox

    raw = _str(name, DEFAULT_MAIL_FROM) or DEFAULT_MAIL_FROM
    try:
        parse_mailbox(raw)
    except AddressError as err:
        raise SettingsError(f"{name}={raw!r}: {err}") from None
    return raw


def _http_url(name: str) -> str | None:
    from urllib.parse import urlsplit

    raw = _str(name)
    if raw is None:
        return None
    try:
        parts = urlsplit(raw)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        ok = False
    if not ok:
        raise SettingsError(f"{name}={raw!r}: expected an http:// or https:// URL with a host")
    return raw


def _smtp_settings() -> dict:
    url = _str("TOUCHLINE_SMTP_URL")
    explicit_tls = _str("TOUCHLINE_SMTP_TLS")
    server = parse_smtp_url(url) if url else None
    if explicit_tls is not None:
        tls = _choice("TOUCHLINE_SMTP_TLS", SMTP_TLS_MODES, "none")
        if server and server.implicit_tls and tls != "tls":
            raise SettingsError(f"TOUCHLINE_SMTP_TLS={tls!r} contradicts the smtps:// scheme of TOUCHLINE_SMTP_URL")
    else:
        tls = "tls" if server and server.implicit_tls else "none"
    if server and server.password and tls == "none" and server.host not in _LOOPBACK:
        raise SettingsError(
            "TOUCHLINE_SMTP_URL has a password but TOUCHLINE_SMTP_TLS=none: it would cross the network "
            "in clear text; set TOUCHLINE_SMTP_TLS=starttls (or use smtps:// for TLS from the start)"
        )
    ca_file = _str("TOUCHLINE_SMTP_CA_FILE")
    if ca_file is not None and not Path(ca_file).is_file():
        raise SettingsError(f"TOUCHLINE_SMTP_CA_FILE={ca_file!r}: no such file")
    return {
        "smtp_url": url,
        "smtp_tls": tls,
        "smtp_timeout": _int("TOUCHLINE_SMTP_TIMEOUT", 30, minimum=1, maximum=600),
        "smtp_ca_file": Path(ca_file) if ca_file else None,
        "mail_from": _mail_from("TOUCHLINE_MAIL_FROM"),
    }


# Outside production, unset brand variables take these plainly fictional values, so the
# demo's footers and pages show where each one goes.
DEMO_BRAND_NAME = "Example App"
DEMO_BRAND_COMPANY = "Example Inc."
DEMO_BRAND_POSTAL_ADDRESS = "1 Example Street, Example City 100-0001"
DEMO_BRAND_SUPPORT_EMAIL = "support@example.com"
# What the law asks of marketing email (docs/compliance.md): who sends it, a postal address and
# where to write. Production sends no non-operational email while any of these is unset.
BRAND_REQUIRED = ("TOUCHLINE_BRAND_COMPANY", "TOUCHLINE_BRAND_POSTAL_ADDRESS", "TOUCHLINE_BRAND_SUPPORT_EMAIL")


@dataclass(frozen=True)
class Brand:
    """The sender as recipients know it (the product Touchline sends for, not Touchline):
    in the footer of every customer email and on the unsubscribe and preference pages."""

    name: str = DEMO_BRAND_NAME  # the product's name
    company: str | None = DEMO_BRAND_COMPANY  # the sender's legal name
    postal_address: str | None = DEMO_BRAND_POSTAL_ADDRESS
    support_email: str | None = DEMO_BRAND_SUPPORT_EMAIL
    logo_url: str | None = None
    # The variables of BRAND_REQUIRED that are unset (outside production their demo values
    # stand in; in production the fields are None).
    missing: tuple[str, ...] = BRAND_REQUIRED


def _brand_text(name: str, limit: int = 200) -> str | None:
    raw = _str(name)
    if raw is None or not raw.strip():
        return None
    if any(ord(c) < 32 or ord(c) == 127 for c in raw):
        raise SettingsError(f"{name}={raw!r}: expected one line of text, without control characters")
    value = " ".join(raw.split())
    if len(value) > limit:
        raise SettingsError(f"{name}: {len(value)} characters; at most {limit}")
    return value


def _brand(production: bool, mail_from: str) -> Brand:
    from engine.delivery.message import AddressError, parse_addr_spec, parse_mailbox

    company = _brand_text("TOUCHLINE_BRAND_COMPANY")
    postal_address = _brand_text("TOUCHLINE_BRAND_POSTAL_ADDRESS", limit=300)
    support_email = _brand_text("TOUCHLINE_BRAND_SUPPORT_EMAIL")
    if support_email is not None:
        try:
            parse_addr_spec(support_email)
        except AddressError as err:
            raise SettingsError(f"TOUCHLINE_BRAND_SUPPORT_EMAIL={support_email!r}: {err}") from None
    given = dict(zip(BRAND_REQUIRED, (company, postal_address, support_email), strict=True))
    missing = tuple(n for n, v in given.items() if v is None)
    name = _brand_text("TOUCHLINE_BRAND_NAME") or company
    if not production:
        company = company or DEMO_BRAND_COMPANY
        postal_address = postal_address or DEMO_BRAND_POSTAL_ADDRESS
        support_email = support_email or DEMO_BRAND_SUPPORT_EMAIL
        name = name or DEMO_BRAND_NAME
    elif name is None:  # production without a name: the sender's display name, else its domain
        display, address = parse_mailbox(mail_from)
        name = display or address.rsplit("@", 1)[-1]
    return Brand(name=name, company=company, postal_address=postal_address, support_email=support_email,
                 logo_url=_http_url("TOUCHLINE_BRAND_LOGO_URL"), missing=missing)  # fmt: skip


def _webhook_settings() -> dict:
    secret = _str("TOUCHLINE_WEBHOOK_SECRET")
    if secret is not None and len(secret) < 16:
        raise SettingsError("TOUCHLINE_WEBHOOK_SECRET is too short: use at least 16 characters")
    return {
        "webhook_url": _http_url("TOUCHLINE_WEBHOOK_URL"),
        "webhook_secret": secret,
        "webhook_timeout": _int("TOUCHLINE_WEBHOOK_TIMEOUT", 10, minimum=1, maximum=300),
        "webhook_format": _choice("TOUCHLINE_WEBHOOK_FORMAT", WEBHOOK_FORMATS, "json"),
    }


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
    # Nudge API calls per contact (web.inapp): a page polls about once a minute.
    inapp_rate_limit: str = "60/minute"
    queue_prefix: str = "touchline"
    trusted_proxies: int = 0
    # A signed-in admin session ends after this long without a request.
    session_idle_minutes: int = 720
    templates_dir: Path = field(default_factory=lambda: Path("email_templates"))
    # The fatigue policy (docs/delivery.md), an absolute path; None: no file, no fatigue limits.
    policy_file: Path | None = None
    # Where recipients reach this instance: unsubscribe and preference links.
    public_url: str = "http://127.0.0.1:8000"
    # The customer's product, ``links.app`` in templates (calls to action, "open the app"):
    # TOUCHLINE_PRODUCT_URL, else the public URL.
    product_url: str = ""
    # The sender's brand (TOUCHLINE_BRAND_*), for customer email and the unsubscribe pages.
    brand: Brand = field(default_factory=Brand)
    # Outgoing mail (engine/delivery/channels/smtp.py) and webhooks (webhook.py).
    smtp_tls: str = "none"
    smtp_timeout: int = 30
    smtp_ca_file: Path | None = None
    mail_from: str = DEFAULT_MAIL_FROM
    webhook_url: str | None = None
    webhook_secret: str | None = None
    webhook_timeout: int = 10
    webhook_format: str = "json"
    # The send pipeline's timings (engine/delivery/outbox.py): how long a claimed
    # message may stay 'sending', and a job 'queued', before the sweeper acts.
    send_lease_seconds: int = 90
    queue_grace_seconds: int = 90
    # How often the scheduler runs the dispatch (and its sweeper); with the lease and
    # the grace it bounds how long a lost job goes unnoticed (loss_noticed_within).
    dispatch_seconds: int = 30
    # Email engagement (docs/channels.md, "Click tracking and opens"): customer email's links go
    # through /t/c/<token> (TOUCHLINE_TRACK_CLICKS), and an open pixel goes into the categories
    # named by TOUCHLINE_TRACK_OPENS only (none by default; never operational).
    track_clicks: bool = True
    track_opens: tuple[str, ...] = ()
    # The demo product page (/demo/product, docs/inapp.md), which mints identity tokens for any
    # contact: only for demo data. TOUCHLINE_DEMO_PRODUCT; `touchline up` turns it on with its demo.
    demo_product: bool = False

    @property
    def loss_noticed_within(self) -> int:
        """Seconds after a worker or Redis lost a job by which the sweeper has put its messages
        back: the lease or grace runs out, then the next dispatch finds them."""
        return max(self.send_lease_seconds, self.queue_grace_seconds) + self.dispatch_seconds

    @property
    def production(self) -> bool:
        return self.env == "production"



# Where ``touchline up`` notes, while it runs, the address its web app listens on: commands run
# beside it (``touchline render``) then link to the port it chose (``up --port``), as its workers do.
RUNNING_URL_FILE = "web_url"


def note_running_url(instance_dir: Path, url: str | None) -> None:
    """``touchline up``: note the web app's address in the instance folder (None: forget it)."""
    path = instance_dir / RUNNING_URL_FILE
    if url is None:
        path.unlink(missing_ok=True)
    else:
        path.write_text(url + "\n")


def _running_url(instance_dir: Path) -> str | None:
    try:
        url = (instance_dir / RUNNING_URL_FILE).read_text().strip()
    except OSError:
        return None
    return url if url.startswith(("http://", "https://")) else None


def _public_url(host: str, port: int, instance_dir: Path | None = None) -> str:
    """TOUCHLINE_PUBLIC_URL, else this machine's own address (fine for a local run, not for real mail):
    the port ``touchline up`` runs on, unless TOUCHLINE_PORT names one."""
    from urllib.parse import urlsplit

    value = _str("TOUCHLINE_PUBLIC_URL")
    if value is None:
        running = _running_url(instance_dir) if instance_dir is not None and _str("TOUCHLINE_PORT") is None else None
        return running or f"http://{host}:{port}"
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise SettingsError(f"TOUCHLINE_PUBLIC_URL={value!r}: expected the public address, such as https://touchline.example.com")
    return value.rstrip("/")


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
    host = _str("TOUCHLINE_HOST", "127.0.0.1") or "127.0.0.1"
    port = _int("TOUCHLINE_PORT", 8000, minimum=0, maximum=65535)
    smtp = _smtp_settings()
    webhook = _webhook_settings()
    return Settings(
        env=env,
        instance_dir=instance_dir,
        database_url=database_url,
        redis_url=_str("TOUCHLINE_REDIS_URL"),
        secret_key=secret_key,
        secret_key_generated=generated,
        host=host,
        port=port,
        workers=_int("TOUCHLINE_WORKERS", 1, minimum=1),
        tick_cron=_cron("TOUCHLINE_TICK_CRON", "* * * * *"),
        event_retention_days=event_retention_days(),
        max_request_bytes=_int("TOUCHLINE_MAX_REQUEST_BYTES", 4 * 1024 * 1024, minimum=1024),
        max_batch=_int("TOUCHLINE_MAX_BATCH", 1000, minimum=1),
        api_rate_limit=_rate_limit("TOUCHLINE_API_RATE_LIMIT", "600/minute"),
        inapp_rate_limit=_rate_limit("TOUCHLINE_INAPP_RATE_LIMIT", "60/minute"),
        queue_prefix=_str("TOUCHLINE_QUEUE_PREFIX", "touchline") or "touchline",
        trusted_proxies=_int("TOUCHLINE_TRUSTED_PROXIES", 0, minimum=0, maximum=10),
        session_idle_minutes=_int("TOUCHLINE_SESSION_IDLE_MINUTES", 720, minimum=1, maximum=720),
        templates_dir=Path(_str("TOUCHLINE_TEMPLATES_DIR", "email_templates") or "email_templates").resolve(),
        policy_file=_policy_file(),
        public_url=_public_url(host, port, None if env == "production" else instance_dir),
        product_url=(_str("TOUCHLINE_PRODUCT_URL") or "").rstrip("/"),
        brand=_brand(env == "production", smtp["mail_from"]),
        **smtp,
        **webhook,
        **_pipeline_settings(smtp["smtp_timeout"], webhook["webhook_timeout"]),
        track_clicks=_flag("TOUCHLINE_TRACK_CLICKS", True),
        track_opens=_open_categories("TOUCHLINE_TRACK_OPENS"),
        demo_product=_flag("TOUCHLINE_DEMO_PRODUCT", False),
    )


def _policy_file() -> Path | None:
    """TOUCHLINE_POLICY_FILE, else the project's rules/policy.yaml if there is one: an absolute path,
    so every process reads the same file wherever it was started."""
    raw = _str("TOUCHLINE_POLICY_FILE")
    if raw is not None:
        return Path(raw).resolve()  # named, so it must exist: the dispatch holds messages until it does
    rules = Path(__file__).resolve().parent.parent / "rules"
    if not rules.is_dir():  # an installed package, no project around it (the Docker image): where it runs
        rules = Path("rules").resolve()
    path = rules / "policy.yaml"
    return path if path.is_file() else None


def _pipeline_settings(smtp_timeout: int, webhook_timeout: int) -> dict:
    lease = _int("TOUCHLINE_SEND_LEASE_SECONDS", 90, minimum=1, maximum=24 * 3600)
    # A lease shorter than one provider call would let the sweeper judge a
    # message lost while it is still being handed over.
    slowest = max(smtp_timeout, webhook_timeout)
    if lease <= slowest:
        raise SettingsError(
            f"TOUCHLINE_SEND_LEASE_SECONDS={lease}: must be longer than the SMTP and webhook timeouts "
            f"(TOUCHLINE_SMTP_TIMEOUT, TOUCHLINE_WEBHOOK_TIMEOUT: {slowest}s), or a message still being "
            "sent would be judged lost"
        )
    return {
        "send_lease_seconds": lease,
        "queue_grace_seconds": _int("TOUCHLINE_QUEUE_GRACE_SECONDS", 90, minimum=1, maximum=24 * 3600),
        "dispatch_seconds": _int("TOUCHLINE_DISPATCH_SECONDS", 30, minimum=1, maximum=3600),
    }


def _flag(name: str, default: bool) -> bool:
    raw = _str(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={raw!r}: expected 1 (on) or 0 (off)")


def _open_categories(name: str) -> tuple[str, ...]:
    """The categories whose email carries an open pixel: a comma-separated list, none by default."""
    from engine.rules.validate import CATEGORY

    found: list[str] = []
    for part in (_str(name) or "").split(","):
        category = part.strip()
        if not category or category in found:
            continue
        if not CATEGORY.match(category):
            raise SettingsError(f"{name}: {category!r} is not a category (lowercase letters, digits, '-' or '_', "
                                "as in a rule's category)")  # fmt: skip
        if category == "operational":
            raise SettingsError(f"{name}: operational email (account and security messages) never carries an open pixel")
        found.append(category)
    return tuple(found)


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
