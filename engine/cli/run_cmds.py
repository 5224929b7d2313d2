"""Running Touchline one process each, as production does: ``web``, ``worker``,
``scheduler`` and ``mailcatcher`` (``up``, the embedded run, is in up_cmds). Heavy imports (Flask,
RQ, aiosmtpd, waitress) happen inside the commands so that the console
script starts fast.
"""

from __future__ import annotations

import signal
import sys
import threading
from urllib.parse import urlsplit, urlunsplit

import click

DEFAULT_SMTP_PORT = 1025


def redact_url(url: str) -> str:
    """``redis://:secret@host/0`` -> ``redis://:***@host/0``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def redis_or_fail(settings):
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
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Port; 0 picks a free one.  [default: TOUCHLINE_PORT or 8000]")
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
    redis_or_fail(conf)
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
    redis_or_fail(conf)
    _log_to_stderr()
    scheduler = make_scheduler(conf)  # settings() has already checked TOUCHLINE_TICK_CRON
    others = other_schedulers(scheduler)
    if others:
        click.echo(
            f"scheduler: warning: other cron schedulers are running on this Redis ({', '.join(others)}); "
            "run exactly one per installation",
            err=True,
        )
    if conf.production and conf.brand.missing:
        from engine.delivery.gates import BrandHold

        click.echo(f"scheduler: warning: {BrandHold.problem(conf.brand)}; non-operational email to customers "
                   "will wait until they are set (docs/compliance.md)", err=True)  # fmt: skip
    scheduler.start()  # handles SIGINT/SIGTERM itself


@click.command("mailcatcher")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=DEFAULT_SMTP_PORT, show_default=True, help="SMTP port; 0 picks a free one.")
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


def register(cli: click.Group) -> None:
    for command in (web_cmd, worker_cmd, scheduler_cmd, mailcatcher_cmd):
        cli.add_command(command)
