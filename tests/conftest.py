"""Shared fixtures. Real parts only: a real Redis server, a real SMTP server on
loopback, SQLite files (or PostgreSQL when TOUCHLINE_TEST_DATABASE_URL is set)."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import redis
from sqlalchemy import text

from engine import auth, migrate
from engine.db import Database
from engine.embedded.redis_server import RedisServer
from tables import empty_tables

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def _isolated_instance(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Keep every test away from the developer's ./instance folder and settings."""
    instance = tmp_path_factory.mktemp("instance")
    saved = {k: v for k, v in os.environ.items() if k.startswith("TOUCHLINE_")}
    for key in saved:
        del os.environ[key]
    os.environ["TOUCHLINE_INSTANCE_DIR"] = str(instance)
    os.environ["TOUCHLINE_ENV"] = "test"
    if "TOUCHLINE_TEST_DATABASE_URL" in saved:
        os.environ["TOUCHLINE_TEST_DATABASE_URL"] = saved["TOUCHLINE_TEST_DATABASE_URL"]
    yield instance
    for key in [k for k in os.environ if k.startswith("TOUCHLINE_")]:
        del os.environ[key]
    os.environ.update(saved)


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """PostgreSQL when TOUCHLINE_TEST_DATABASE_URL is set, else a SQLite file."""
    url = os.environ.get("TOUCHLINE_TEST_DATABASE_URL")
    if url:
        return url
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'touchline.db'}"


@pytest.fixture(scope="session")
def migrated_database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    if db.dialect == "postgresql":
        # Start from nothing so the migrations themselves are tested.
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    migrate.upgrade(db)
    yield db
    db.dispose()


# Hashing at OWASP's scrypt cost takes most of a second on a small machine, and most tests
# sign someone in; they hash at a low cost instead. Tests of the cost itself ask for
# ``real_password_cost``. Processes started by e2e tests always use the real one.
REAL_SCRYPT_N = auth.SCRYPT_N


@pytest.fixture(autouse=True)
def _quick_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(auth, "SCRYPT_N", 2**10)


@pytest.fixture
def real_password_cost(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(auth, "SCRYPT_N", REAL_SCRYPT_N)
    return REAL_SCRYPT_N


@pytest.fixture
def db(migrated_database: Database) -> Iterator[Database]:
    """A migrated database, emptied before each test."""
    empty_tables(migrated_database)
    os.environ["TOUCHLINE_DATABASE_URL"] = migrated_database.url
    yield migrated_database
    os.environ.pop("TOUCHLINE_DATABASE_URL", None)


@pytest.fixture
def session(db: Database):
    """A session in a transaction that commits when the test body leaves it."""
    with db.session() as s:
        yield s


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(redis_server: RedisServer) -> Iterator[str]:
    """URL of the real Redis server, flushed before each test."""
    redis.Redis.from_url(redis_server.url).flushall()
    os.environ["TOUCHLINE_REDIS_URL"] = redis_server.url
    yield redis_server.url
    os.environ.pop("TOUCHLINE_REDIS_URL", None)


class CapturingHandler:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
        self.messages.append(
            {"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "data": envelope.content}
        )
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on loopback; ``.handler.messages`` holds what it received."""
    from aiosmtpd.controller import Controller

    from engine.embedded.process import free_port

    handler = CapturingHandler()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def alias_bomb() -> str:
    """342 bytes of YAML that a naive loader expands to 9**9 (387 million) strings."""
    return (
        'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n"
        "c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\n"
        "e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]\n"
        "g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]\n"
        "h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]\n"
        "i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]\n"
    )


@pytest.fixture
def keep_signal_handlers() -> Iterator[None]:
    """RQ's worker installs SIGINT/SIGTERM handlers in this process; put ours back."""
    import signal

    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


class FaultyHandler:
    """An aiosmtpd handler that follows a script of faults.

    ``script`` maps a step, ``"mail"``, ``"rcpt"`` or ``"data"`` (the reply
    after the message content), to what the server does there:

    - a reply string (``"550 5.1.1 no such user"``): sent instead of 250, every time;
    - ``"drop"``: the connection is cut without a reply (for ``"data"``: after
      the whole message arrived, so the client cannot know whether it was taken);
    - ``"sleep:<seconds>"``: wait that long, then accept (client timeouts);
    - ``None``: accept;
    - a list of the above: one per occurrence of the step, counted across
      connections; once it runs out, accept;
    - a dict from address (sender for ``"mail"``, recipient for ``"rcpt"`` and
      ``"data"``) to any of the above: faults for those addresses only.

    ``messages`` holds what was accepted (``from``, ``to``, ``data`` bytes);
    ``peers`` the client ends of connections that reached MAIL FROM, so
    ``len(peers)`` counts connections actually used.
    """

    def __init__(self, script: dict | None = None) -> None:
        self.script = {step.lower(): spec for step, spec in (script or {}).items()}
        unknown = set(self.script) - {"mail", "rcpt", "data"}
        if unknown:
            raise ValueError(f"unknown SMTP steps in the script: {sorted(unknown)}")
        self.messages: list[dict] = []
        self.peers: set = set()
        self._seen: dict[tuple, int] = {}

    def _pick(self, step: str, address: str):
        spec = self.script.get(step)
        key: tuple = (step,)
        if isinstance(spec, dict):
            spec, key = spec.get(address), (step, address)
        if isinstance(spec, list):
            n = self._seen.get(key, 0)
            self._seen[key] = n + 1
            spec = spec[n] if n < len(spec) else None
        return spec

    async def _fault(self, server, step: str, address: str) -> str | None:
        import asyncio

        spec = self._pick(step, address)
        if spec is None:
            return None
        if spec == "drop":
            server.transport.abort()  # nothing more is written on an aborted transport
            return "421 dropped"
        if spec.startswith("sleep:"):
            await asyncio.sleep(float(spec.split(":", 1)[1]))
            return None
        return spec

    async def handle_MAIL(self, server, session, envelope, address, mail_options):  # noqa: N802 (aiosmtpd's name)
        self.peers.add(session.peer)
        reply = await self._fault(server, "mail", address)
        if reply:
            return reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        reply = await self._fault(server, "rcpt", address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        reply = await self._fault(server, "data", envelope.rcpt_tos[0] if envelope.rcpt_tos else "")
        if reply:
            return reply
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "data": envelope.content})
        return "250 2.0.0 Message accepted"


class PipeliningHandler(FaultyHandler):
    """A FaultyHandler whose server offers PIPELINING (RFC 2920): aiosmtpd reads commands
    one line at a time, so commands sent together are answered in turn, as the RFC asks."""

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802 (aiosmtpd's name)
        session.host_name = hostname
        return [*responses[:-1], "250-PIPELINING", responses[-1]]


@pytest.fixture
def faulty_smtp():
    """Start a fault-injecting SMTP server on loopback: ``faulty_smtp(script,
    pipelining=False, **controller_kwargs)`` returns a running aiosmtpd Controller
    (``.hostname``, ``.port``, ``.handler``: a FaultyHandler, see its docstring for
    the script; with ``pipelining`` the server offers PIPELINING). Extra keyword
    arguments go to aiosmtpd (``tls_context``, ``require_starttls``,
    ``ssl_context``, ``authenticator``, ``auth_required``...). All are stopped
    after the test."""
    from aiosmtpd.controller import Controller

    from engine.embedded.process import free_port

    started: list[Controller] = []

    def start(script: dict | None = None, pipelining: bool = False, **controller_kwargs) -> Controller:
        handler = (PipeliningHandler if pipelining else FaultyHandler)(script)
        controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **controller_kwargs)
        controller.start()
        started.append(controller)
        return controller

    try:
        yield start
    finally:
        for controller in started:
            controller.stop()


@pytest.fixture
def deliveries_with_one_lost(db):
    """``make(n)``: n trial accounts with an admin each, one applied email rule (``nudge``) and one
    evaluation cycle, so n pending deliveries; then the first is claimed and its worker "dies":
    the sweeper records it ``unknown``."""
    from sqlalchemy import select

    from engine.delivery import outbox
    from engine.ingest import upsert_accounts, upsert_contacts
    from engine.models import Delivery, utcnow
    from engine.rules.cycle import run_cycle
    from engine.rules.validate import validate_text
    from engine.rules.versions import active_rules, apply_rules

    text = ("id: nudge\nname: Nudge\nwhen:\n  account.plan: trial\nactions:\n"
            "  - email: {template: onboarding/stalled, to: role:admin}\n")  # fmt: skip

    def make(n: int) -> None:
        rule = validate_text(text, "nudge.yaml", expected_id="nudge").rule
        with db.session() as s:
            apply_rules(s, [(rule, text)], author="test")
            upsert_accounts(s, [{"id": f"a{i}", "name": "A", "plan": "trial"} for i in range(n)])
            upsert_contacts(s, [{"id": f"c{i}", "account_id": f"a{i}", "email": f"c{i}@x.test", "role": "admin"}
                                for i in range(n)])  # fmt: skip
        with db.read_session() as s:
            rules = active_rules(s)
        now = utcnow()
        run_cycle(db, rules, now, only_due=False)
        with db.session() as s:
            first = s.scalars(select(Delivery.id).order_by(Delivery.id)).first()
            outbox.mark_queued(s, [first], "job", now, ("pending",))
            outbox.claim(s, [first], "job", now)
        with db.session() as s:
            assert outbox.sweep(s, now + outbox.LEASE * 2).unknown == 1

    return make


class Receiver:
    """A loopback HTTP server that records each POST and answers from ``replies``
    (status codes, or ("sleep", seconds)); 200 once they run out."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.replies: list = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                reply = receiver.replies.pop(0) if receiver.replies else 200
                if isinstance(reply, tuple):
                    time.sleep(reply[1])
                    reply = 200
                self.send_response(reply)
                if 300 <= reply < 400:
                    self.send_header("Location", "http://127.0.0.1:1/elsewhere")
                payload = b'{"ok": true}' if reply < 300 else b"nope, try later" if reply >= 429 else b"bad request"
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except BrokenPipeError:
                    pass  # the client gave up waiting (the timeout test)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.block_on_close = False
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/cs"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver():
    """A loopback HTTP server recording each POST (see Receiver)."""
    with Receiver() as receiver:
        yield receiver


@pytest.fixture
def server_clock() -> Iterator[Callable[[str], None]]:
    """Sets the zone of the process's own clock (TZ: what astimezone() and naive datetimes
    follow) for the test; restored after it."""
    saved = os.environ.get("TZ")

    def set_zone(zone: str) -> None:
        os.environ["TZ"] = zone
        time.tzset()

    yield set_zone
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


@pytest.fixture
def add_deliveries(db):
    """``add(rows)``: deliveries written straight to the outbox table, for the send log.
    Each row is a dict; every key is optional: ``account`` (external id), ``account_name``,
    ``rule``, ``status``, ``channel``, ``recipient``, ``contact`` (a name, None for no
    contact), ``reason``, ``created_at``. Accounts, contacts and rule versions are made as
    needed. Returns the new ids, in the order given."""
    from datetime import UTC, datetime

    from sqlalchemy import insert, select

    from engine.models import Account, Contact, Delivery, RuleVersion

    made = {"n": 0}

    def add(rows: list[dict]) -> list[int]:
        ids = []
        with db.session() as s:
            for row in rows:
                made["n"] += 1
                n = made["n"]
                ext = row.get("account", "acme")
                account_id = s.scalar(select(Account.id).where(Account.external_id == ext))
                if account_id is None:
                    account_id = s.scalar(insert(Account).values(external_id=ext, name=row.get("account_name", f"{ext} Inc."))
                                          .returning(Account.id))  # fmt: skip
                rule = row.get("rule", "nudge")
                version_id = s.scalar(select(RuleVersion.id).where(RuleVersion.rule_id == rule))
                if version_id is None:
                    version_id = s.scalar(insert(RuleVersion).values(
                        rule_id=rule, version=1, content="", content_hash="x", author="test").returning(RuleVersion.id))  # fmt: skip
                recipient = row.get("recipient", f"person{n}@x.test")
                contact_id = None
                if row.get("contact", f"Person {n}") is not None:
                    contact_id = s.scalar(select(Contact.id).where(Contact.email == recipient, Contact.account_id == account_id))
                    if contact_id is None:
                        contact_id = s.scalar(insert(Contact).values(
                            external_id=f"{ext}/{recipient}", account_id=account_id, email=recipient,
                            name=row.get("contact", f"Person {n}")).returning(Contact.id))  # fmt: skip
                ids.append(s.scalar(insert(Delivery).values(
                    dedupe_key=f"test|{n}", rule_id=rule, rule_version_id=version_id, action_index=0,
                    channel=row.get("channel", "email"), template="t", account_id=account_id, contact_id=contact_id,
                    recipient=recipient, occurrence="1", status=row.get("status", "sent"), reason=row.get("reason"),
                    created_at=row.get("created_at", datetime(2026, 11, 1, 12, tzinfo=UTC)),
                ).returning(Delivery.id)))  # fmt: skip
        return ids

    return add


@pytest.fixture
def fire_and_send(db):
    """``run(at, sent_at=None, settings=None)``: the real path from applied rules to stored
    messages: a cycle of the active rules at ``at``, the dispatcher and the send job (its clock
    at ``sent_at``; default: the real time). ``settings``: default, the environment's with no
    policy file."""
    import dataclasses

    from engine.delivery.batch import send_claimed
    from engine.delivery.dispatch import dispatch
    from engine.delivery.gates import standard_gates
    from engine.rules.cycle import run_cycle
    from engine.rules.versions import active_rules
    from engine.settings import load_settings

    def run(at, sent_at=None, settings=None) -> None:
        settings = settings or dataclasses.replace(load_settings(), policy_file=None)
        with db.read_session() as s:
            rules = active_rules(s)
        run_cycle(db, rules, at, only_due=False)
        jobs: list = []
        dispatch(db, at, lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
        for job_id, ids in jobs:
            send_claimed(db, settings, job_id, ids, *([lambda: sent_at] if sent_at is not None else []))

    return run


@pytest.fixture
def inapp_nudges(db, fire_and_send):
    """Stored nudges through the real path: two in-app rules applied, a cycle, the dispatcher and the
    send job. Ann and Bea (account acme) and Carl (globex) each get a banner (priority 70, with a call
    to action) and a card (priority 20); returns the app key, the ids and a token maker."""
    import dataclasses
    from types import SimpleNamespace

    from sqlalchemy import select

    from engine.inapp.keys import create_key
    from engine.inapp.tokens import mint_token
    from engine.ingest import upsert_accounts, upsert_contacts
    from engine.models import Contact, Nudge, utcnow
    from engine.rules.validate import validate_text
    from engine.rules.versions import apply_rules
    from engine.settings import load_settings

    texts = {
        "setup-banner": "id: setup-banner\nname: Setup banner\nwhen:\n  account.plan: trial\nactions:\n"
                        "  - in_app: {template: onboarding/checklist, to: contacts, expires_in: 7d, kind: banner, priority: 70}\n",
        "tips-card": "id: tips-card\nname: Tips card\ncategory: product-tips\nwhen:\n  account.plan: trial\nactions:\n"
                     "  - in_app: {template: onboarding/admin-tour, to: contacts, kind: card, priority: 20}\n",
    }  # fmt: skip
    settings = dataclasses.replace(load_settings(), policy_file=None)
    with db.session() as s:
        apply_rules(s, [(validate_text(t, f"{i}.yaml", expected_id=i).rule, t) for i, t in texts.items()], author="test")
        upsert_accounts(s, [{"id": "acme", "name": "Acme", "plan": "trial"}, {"id": "globex", "name": "Globex", "plan": "trial"}])
        upsert_contacts(s, [{"id": "ann", "account_id": "acme", "email": "ann@acme.test", "name": "Ann", "role": "admin"},
                            {"id": "bea", "account_id": "acme", "email": "bea@acme.test", "name": "Bea", "role": "member"},
                            {"id": "carl", "account_id": "globex", "email": "carl@globex.test", "name": "Carl", "locale": "ja"}])  # fmt: skip
        key = create_key(s, actor="cli:test", origins=["https://app.example.com"])
    fire_and_send(utcnow(), settings=settings)
    with db.read_session() as s:
        contacts = {c.external_id: c.id for c in s.scalars(select(Contact))}
        stored = {(n.contact_id, n.kind): n.id for n in s.scalars(select(Nudge))}
    assert len(stored) == 6, stored
    account_of = {"ann": "acme", "bea": "acme", "carl": "globex"}

    def token(contact: str = "ann", **kwargs) -> str:
        return mint_token(key.secret, key.kid, contact=contact, account=account_of[contact], **kwargs)

    nudge = {(name, kind): stored[(cid, kind)] for name, cid in contacts.items() for kind in ("banner", "card")}
    return SimpleNamespace(key=key, app_id=key.app_id, contacts=contacts, nudge=nudge, token=token, settings=settings)


@pytest.fixture
def campaign(db, fire_and_send):
    """``make(...)``: a measured campaign through the real path. A rule with a holdout and a goal
    (``project_created`` within 14 days) is applied; ``accounts`` trial accounts with a contact
    each fire in one cycle at ``FIRED``, the dispatcher and the send job store their in-app
    nudges; then a planted share of each arm converts (the first ``round(rate * n)`` accounts
    of the arm, a day later), and the outcomes pass measures at ``FIRED`` + 15 days, when
    every window has ended, and the harm review runs as after a pass (``review``).
    ``variants``: [(name, weight), ...] tests variants of the action; ``rates``: the conversion
    rate per variant (``control_rate`` for the control group).
    Returns the rule id, the accounts of each arm and the times."""
    import dataclasses
    from datetime import UTC, datetime, timedelta
    from types import SimpleNamespace

    from sqlalchemy import select

    from engine.ingest import track_events, upsert_accounts, upsert_contacts
    from engine.models import Account, Delivery
    from engine.results.harm import review_harm
    from engine.results.outcomes import measure
    from engine.rules.validate import validate_text
    from engine.rules.versions import apply_rules
    from engine.settings import load_settings

    fired = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

    def rule_text(rule_id, holdout, variants, goal):
        action = "  - in_app:\n      template: onboarding/checklist\n      to: contacts\n"
        if variants:
            action += "      variants:\n" + "".join(f"        - {{name: {n}, weight: {w}}}\n" for n, w in variants)
        return (f"id: {rule_id}\nname: Trial nudge\nowner: owner@vendor.test\nwhen:\n  account.plan: trial\n"
                f"actions:\n{action}holdout: {holdout}\ngoal: {goal}\n")  # fmt: skip

    def make(*, accounts: int = 300, treated_rate: float = 0.6, control_rate: float = 0.2, holdout: str = "50%",
             variants: list[tuple[str, int]] | None = None, rates: dict[str, float] | None = None,
             rule_id: str = "trial-nudge", goal: str = "{event: project_created, within: 14d}", prefix: str = "acct",
             measure_at: datetime | None = None, review: bool = True):  # fmt: skip
        text = rule_text(rule_id, holdout, variants, goal)
        settings = dataclasses.replace(load_settings(), policy_file=None)
        names = [f"{prefix}-{i:04d}" for i in range(accounts)]
        with db.session() as s:
            apply_rules(s, [(validate_text(text, f"{rule_id}.yaml", expected_id=rule_id).rule, text)], author="test")
            upsert_accounts(s, [{"id": n, "name": n, "plan": "trial"} for n in names])
            upsert_contacts(s, [{"id": f"{n}-u", "account_id": n, "email": f"{n}@x.test", "role": "admin"} for n in names])
        fire_and_send(fired, fired + timedelta(minutes=5), settings)
        arms: dict[str, list[str]] = {}
        with db.read_session() as s:
            rows = s.execute(select(Account.external_id, Delivery.status, Delivery.variant)
                             .join(Account, Account.id == Delivery.account_id).where(Delivery.rule_id == rule_id))  # fmt: skip
            for ext, status, variant in rows:
                arms.setdefault("control" if status == "held_out" else variant or "treated", []).append(ext)
        want = {"control": control_rate, "treated": treated_rate, **(rates or {})}
        events = []
        for arm, members in arms.items():
            members.sort()
            for ext in members[: round(want[arm] * len(members))]:
                events.append({"id": f"{rule_id}-{ext}", "account_id": ext, "name": "project_created",
                               "timestamp": (fired + timedelta(days=1)).isoformat()})  # fmt: skip
        with db.session() as s:
            result = track_events(s, events, now=fired + timedelta(days=1), retention_days=10_000)
        assert result.accepted == len(events), result.rejected
        at = measure_at or fired + timedelta(days=15)
        measure(db, at)
        if review:  # as the outcomes job does after its pass (no alert channel here)
            review_harm(db, dataclasses.replace(settings, smtp_url=None, webhook_url=None), at)
        return SimpleNamespace(rule_id=rule_id, arms=arms, fired=fired, measured_at=at, text=text)

    return make
