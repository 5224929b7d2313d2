"""Running Touchline: ``web``, ``worker``, ``scheduler``, ``mailcatcher`` and ``up``.

``up`` is the embedded run: one command starts everything on one machine.
The others run one process each, as production does. Heavy imports (Flask,
RQ, aiosmtpd, waitress) happen inside the commands so that the console
script starts fast.
"""

from __future__ import annotations

import importlib
import signal
import sys
import threading
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import click

# The children of ``touchline up`` run the same code with the same interpreter;
# -P keeps the current directory off sys.path so nothing there shadows ours.
CHILD = [sys.executable, "-P", "-m", "engine.cli"]
READY_TIMEOUT = 60.0
DEFAULT_SMTP_PORT = 1025
FIRST_ADMIN_EMAIL = "admin@localhost"


def redact_url(url: str) -> str:
    """``redis://:secret@host/0`` -> ``redis://:***@host/0``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _redis_or_fail(settings):
    """A pinged Redis client for the configured URL, or a clear ClickException."""
    import redis

    from engine.jobs.queues import RedisNotConfigured, redis_connection

    try:
        conn = redis_connection(settings)
        conn.ping()
    except RedisNotConfigured as exc:
        raise click.ClickException(str(exc)) from None
    except redis.exceptions.RedisError as exc:
        raise click.ClickException(f"cannot reach Redis at {redact_url(settings.redis_url)}: {exc}") from None
    return conn


def _log_to_stderr() -> None:
    """Our own log lines (RQ sets up its own handlers and does not propagate)."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")


def _exit_on_sigterm() -> None:
    """Turn SIGTERM into a normal exit so ``finally`` blocks run."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))


# -- one process each -----------------------------------------------------------


@click.command("web")
@click.option("--host", default=None, help="Address to listen on.  [default: TOUCHLINE_HOST or 127.0.0.1]")
@click.option("--port", type=int, default=None, help="Port; 0 picks a free one.  [default: TOUCHLINE_PORT or 8000]")
@click.option("--threads", type=int, default=8, show_default=True, help="Request threads.")
def web_cmd(host: str | None, port: int | None, threads: int) -> None:
    """Serve the admin and the HTTP API with waitress."""
    from engine.cli.context import database, settings

    conf = settings()
    db = database()
    from waitress import create_server

    from web import create_app  # the one place engine reaches for Flask

    app = create_app(settings=conf, database=db)
    server = create_server(
        app, host=host or conf.host, port=conf.port if port is None else port, threads=threads, ident="touchline"
    )
    click.echo(f"web: serving on http://{server.effective_host}:{server.effective_port}/", err=True)
    _exit_on_sigterm()
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


@click.command("worker")
@click.option("--burst", is_flag=True, help="Exit once the queues are empty.")
@click.option(
    "--queues",
    default=None,
    metavar="NAMES",
    help="Comma-separated queue names, highest priority first (without the prefix).  [default: default]",
)
def worker_cmd(burst: bool, queues: str | None) -> None:
    """Run an RQ worker (run as many as you like)."""
    from engine.cli.context import database, settings
    from engine.jobs.queues import QUEUE_NAMES
    from engine.jobs.worker import run_worker

    conf = settings()
    database()
    _redis_or_fail(conf)
    _log_to_stderr()
    names = [q.strip() for q in queues.split(",") if q.strip()] if queues else list(QUEUE_NAMES)
    if not names:
        raise click.BadParameter("name at least one queue", param_hint="--queues")
    # RQ's worker handles SIGINT/SIGTERM itself: a warm shutdown that lets the
    # current job finish.
    run_worker(names, burst=burst)


@click.command("scheduler")
def scheduler_cmd() -> None:
    """Enqueue the periodic tick on TOUCHLINE_TICK_CRON. Run exactly one."""
    from engine.cli.context import database, settings
    from engine.jobs.scheduler import make_scheduler, other_schedulers

    conf = settings()
    database()
    _redis_or_fail(conf)
    _log_to_stderr()
    try:
        scheduler = make_scheduler(conf)
    except (ValueError, KeyError) as exc:
        raise click.ClickException(f"TOUCHLINE_TICK_CRON={conf.tick_cron!r} is not a valid cron expression: {exc}")
    others = other_schedulers(scheduler)
    if others:
        click.echo(
            f"scheduler: warning: other cron schedulers are running on this Redis ({', '.join(others)}); "
            "run exactly one per installation",
            err=True,
        )
    scheduler.start()  # handles SIGINT/SIGTERM itself


@click.command("mailcatcher")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=DEFAULT_SMTP_PORT, show_default=True, help="SMTP port; 0 picks a free one.")
def mailcatcher_cmd(host: str, port: int) -> None:
    """Catch outgoing mail in <instance>/mail/ instead of delivering it."""
    import logging

    from engine.cli.context import settings
    from engine.embedded.mailcatcher import MailCatcher, mail_dir

    _log_to_stderr()
    # aiosmtpd logs every connection, including readiness probes.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    conf = settings()
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    catcher = MailCatcher(mail_dir(conf.instance_dir), port=port, host=host)
    try:
        catcher.start()
    except (OSError, RuntimeError) as exc:
        raise click.ClickException(f"mailcatcher: cannot listen on {host}:{port}: {exc}") from None
    click.echo(f"mailcatcher: listening on {catcher.url}, keeping mail in {catcher.path}", err=True)
    try:
        done.wait()
    finally:
        catcher.stop()


# -- the embedded run -------------------------------------------------------------


def _prepare_database(sup, db, demo: bool) -> str | None:
    """Upgrade the schema, seed the demo on an empty database, make the first admin.

    Returns the new admin's password, or None when users already exist.
    """
    from sqlalchemy import func, select

    from engine import auth, migrate
    from engine.models import Account

    before = migrate.current_revision(db)
    migrate.upgrade(db)
    after = migrate.current_revision(db)
    if before != after:
        sup.say(f"database: upgraded schema {before or 'empty'} -> {after}")
    sup.say(f"database: {db.engine.url.render_as_string(hide_password=True)} (schema {after})")

    if demo:
        with db.read_session() as session:
            empty = not session.scalar(select(func.count()).select_from(Account))
        if empty:
            try:
                demo_module = importlib.import_module("engine.demo")
            except ModuleNotFoundError as exc:
                if exc.name != "engine.demo":
                    raise
                sup.say("demo: this build has no demo data (engine.demo is missing); starting with an empty database")
            else:
                sup.say("demo: the database has no accounts; seeding demo data (use --no-demo to skip)...")
                summary = demo_module.seed(db)
                if isinstance(summary, dict):
                    summary = ", ".join(
                        f"{key}: {value}" for key, value in summary.items() if not isinstance(value, (dict, list))
                    )
                sup.say(f"demo: seeded ({summary})")

    with db.session() as session:
        return auth.ensure_first_admin(session, email=FIRST_ADMIN_EMAIL)


def _http_ok(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


@click.command("up")
@click.option("--port", type=int, default=None, help="Admin/API port; 0 picks a free one.  [default: TOUCHLINE_PORT or 8000]")
@click.option("--no-demo", is_flag=True, help="Do not seed demo data into an empty database.")
def up_cmd(port: int | None, no_demo: bool) -> None:
    """Run everything on this machine: Redis, mail catcher, workers, scheduler, web."""
    from engine.cli.context import settings
    from engine.db import get_database
    from engine.embedded.mailcatcher import mail_dir
    from engine.embedded.process import free_port, port_open
    from engine.embedded.redis_server import RedisServer, RedisUnavailable
    from engine.embedded.supervisor import ChildFailed, NotReady, StopRequested, Supervisor, child_env

    conf = settings()
    instance = Path(conf.instance_dir)
    instance.mkdir(parents=True, exist_ok=True)
    host = conf.host
    port = conf.port if port is None else port
    port = port or free_port(host)
    if port_open(host, port):
        raise click.ClickException(f"port {port} on {host} is already in use: pick another with --port (0 = any free)")

    # Children read the same settings from the same environment: one
    # database, one Redis, one instance folder (and so one secret key).
    extra = {
        "TOUCHLINE_INSTANCE_DIR": str(instance),
        "TOUCHLINE_DATABASE_URL": conf.database_url,
        "TOUCHLINE_HOST": host,
        "TOUCHLINE_PORT": str(port),
    }
    base_url = f"http://{host}:{port}"
    exit_code = 0
    password: str | None = None
    banner_shown = False
    with Supervisor() as sup:
        try:
            sup.say(f"instance folder: {instance}")
            db = get_database(conf.database_url)
            password = _prepare_database(sup, db, demo=not no_demo)
            db.dispose()

            if conf.redis_url:
                _redis_or_fail(conf)
                redis_url = conf.redis_url
                sup.say(f"redis: using {redact_url(redis_url)}")
            else:
                try:
                    server = RedisServer(instance / "redis").start()
                except RedisUnavailable as exc:
                    raise click.ClickException(str(exc)) from None
                assert server.process is not None
                sup.adopt("redis", server.process)
                redis_url = server.url
                sup.say(f"redis: started redis-server (pid {server.process.pid}) on {redis_url}, data in {server.data_dir}")
            extra["TOUCHLINE_REDIS_URL"] = redis_url

            mail_note = None
            if conf.smtp_url:
                sup.say(f"mail: sending through {redact_url(conf.smtp_url)}")
            else:
                smtp_port = free_port()
                env = child_env(extra)
                sup.start("mail", [*CHILD, "mailcatcher", "--port", str(smtp_port)], env)
                sup.wait_until(lambda: port_open("127.0.0.1", smtp_port), "the mail catcher", READY_TIMEOUT)
                extra["TOUCHLINE_SMTP_URL"] = f"smtp://127.0.0.1:{smtp_port}"
                mail_note = mail_dir(instance)

            env = child_env(extra)
            for n in range(conf.workers):
                sup.start("worker" if conf.workers == 1 else f"worker-{n + 1}", [*CHILD, "worker"], env)
            sup.start("scheduler", [*CHILD, "scheduler"], env)
            sup.start("web", [*CHILD, "web", "--host", host, "--port", str(port)], env)
            sup.wait_until(lambda: port_open(host, port), "the web server", READY_TIMEOUT)
            try:
                sup.wait_until(lambda: _http_ok(f"{base_url}/readyz"), "/readyz", READY_TIMEOUT)
            except NotReady:
                sup.say(f"warning: {base_url}/readyz did not answer 200 within {READY_TIMEOUT:.0f}s")

            _banner(sup, base_url, password, mail_note)
            banner_shown = True
            exit_code = sup.run()
        except StopRequested as stop:
            sup.say(f"received {signal.Signals(stop.signum).name} while starting, stopping")
        except (ChildFailed, NotReady) as exc:
            sup.say(f"{exc}; stopping everything")
            exit_code = 1
        finally:
            if password and not banner_shown:
                # The admin exists now and the password is not stored anywhere readable.
                sup.announce("\n".join(_login_lines(password)))
    if exit_code:
        sys.exit(exit_code)


def _banner(sup, base_url: str, password: str | None, mail: Path | None) -> None:
    lines = ["", "Touchline is running.", f"  admin:     {base_url}/", f"  readiness: {base_url}/readyz"]
    if mail is not None:
        lines.append(f"  mail:      caught, not delivered; kept in {mail}")
    if password:
        lines += _login_lines(password)
    lines += ["", "Ctrl-C to stop.", ""]
    sup.announce("\n".join(lines))


def _login_lines(password: str) -> list[str]:
    return [
        "",
        "  First admin created. This password is shown only this once:",
        f"    email:    {FIRST_ADMIN_EMAIL}",
        f"    password: {password}",
    ]


def register(cli: click.Group) -> None:
    for command in (web_cmd, worker_cmd, scheduler_cmd, mailcatcher_cmd, up_cmd):
        cli.add_command(command)
