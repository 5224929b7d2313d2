"""``touchline up``: the embedded run, everything on one machine from one command."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import click

from engine.cli.run_cmds import redact_url, redis_or_fail

# The children of ``touchline up`` run the same code with the same interpreter;
# -P keeps the current directory off sys.path so nothing there shadows ours.
CHILD = [sys.executable, "-P", "-m", "engine.cli"]
READY_TIMEOUT = 60.0
FIRST_ADMIN_EMAIL = "admin@localhost"
# The demo's past campaign of onboarding-stalled-day7: its nudged accounts converted this much
# more often than its holdout (docs/demo-data.md), for the results pages to show.
DEMO_UPLIFT = 0.15


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
            from engine.demo import CampaignPlan, seed

            campaign = CampaignPlan(uplift=DEMO_UPLIFT)

            sup.say("demo: the database has no accounts; seeding demo data (use --no-demo to skip)...")
            summary = seed(db, campaign=campaign)
            figures = ", ".join(f"{k}: {v}" for k, v in summary.items() if not isinstance(v, (dict, list)))
            sup.say(f"demo: seeded ({figures})")
            _apply_demo_rules(sup, db)
            _record_demo_campaign(sup, db, campaign)

    with db.session() as session:
        return auth.ensure_first_admin(session, email=FIRST_ADMIN_EMAIL)


def _record_demo_campaign(sup, db, campaign) -> None:
    """The demo's past campaign (docs/demo-data.md), so the results pages have a play to show."""
    from engine.demo import build_plan
    from engine.demo.campaign import CampaignError, record_campaign

    try:
        recorded = record_campaign(db, build_plan(2000, 42, 90, campaign=campaign))
    except CampaignError as exc:
        sup.say(f"demo: no past campaign recorded: {exc}")
        return
    sup.say(f"demo: a past campaign of {recorded.rule_id} recorded ({recorded.treated:,} accounts nudged, "
            f"{recorded.control:,} held out); its results appear at /admin/results/ after the first outcomes pass")  # fmt: skip


def _apply_demo_rules(sup, db, folder: Path = Path("rules")) -> None:
    """With fresh demo data, apply the example rules too, so the first ticks send to the mail catcher."""
    if not folder.is_dir():
        return
    from engine.models import utcnow
    from engine.rules.plan import plan
    from engine.rules.versions import apply_rules, read_rules

    loaded = read_rules([str(folder)])
    if loaded.problems:
        sup.say(f"demo: not applying {folder}/: {len(loaded.problems)} problem(s); see `touchline rules check`")
        return
    with db.session() as session:
        predicted = {p.rule_id: sum(p.messages.values()) for p in plan(session, loaded.rules, utcnow()) if p.planned}
        applied = apply_rules(session, loaded.rules, "touchline up (demo)", None, predicted)
    sup.say(f"demo: applied {len(applied)} rules from {folder}/ (their messages go to the mail catcher)")


def _http_ok(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


@click.command("up")
@click.option("--port", type=click.IntRange(0, 65535), default=None, help="Admin/API port; 0 picks a free one.  [default: TOUCHLINE_PORT or 8000]")
@click.option("--no-demo", is_flag=True, help="Do not seed demo data into an empty database.")
def up_cmd(port: int | None, no_demo: bool) -> None:
    """Run everything on this machine: Redis, mail catcher, workers, scheduler, web."""
    from engine.cli.context import settings
    from engine.db import get_database
    from engine.embedded.mailcatcher import mail_dir
    from engine.embedded.process import free_port, port_open
    from engine.embedded.redis_server import RedisServer, RedisUnavailable
    from engine.embedded.supervisor import ChildFailed, NotReady, StopRequested, Supervisor, child_env
    from engine.settings import note_running_url

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
    if not no_demo and "TOUCHLINE_DEMO_PRODUCT" not in os.environ:
        extra["TOUCHLINE_DEMO_PRODUCT"] = "1"  # with demo data, the demo product page (docs/inapp.md)
        # The demo's calls to action lead into the demo product, where the product would be.
        extra.setdefault("TOUCHLINE_PRODUCT_URL", os.environ.get("TOUCHLINE_PRODUCT_URL") or f"{base_url}/demo/product")
    exit_code = 0
    password: str | None = None
    banner_shown = False
    with Supervisor() as sup:
        try:
            sup.say(f"instance folder: {instance}")
            if conf.brand.missing and not conf.production:
                sup.say(f"sender brand: {conf.brand.name}, demo values in email footers and unsubscribe pages "
                        f"until {', '.join(conf.brand.missing)} are set")  # fmt: skip
            db = get_database(conf.database_url)
            password = _prepare_database(sup, db, demo=not no_demo)
            db.dispose()

            if conf.redis_url:
                redis_or_fail(conf)
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
                sup.start("worker" if conf.workers == 1 else f"worker-{n + 1}", [*CHILD, "worker"], env, restart=True)
            sup.start("scheduler", [*CHILD, "scheduler"], env, restart=True)
            sup.start("web", [*CHILD, "web", "--host", host, "--port", str(port)], env, restart=True)
            sup.wait_until(lambda: port_open(host, port), "the web server", READY_TIMEOUT)
            # Commands run beside this one (touchline render) link to this port, as the workers do.
            note_running_url(instance, base_url)
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
            note_running_url(instance, None)
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
    cli.add_command(up_cmd)
