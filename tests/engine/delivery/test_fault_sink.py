"""A campaign of 200 messages through the dispatcher and the send job into an
SMTP server that misbehaves on purpose: every transient error is retried on
the backoff schedule, every permanent one is settled at once, and every
recipient is accounted for, counted at the server.

The clock is driven by hand: each round dispatches at ``now`` (the gates
included), runs the send jobs with the same clock, then jumps to the next due
retry.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from datetime import UTC, datetime
from itertools import pairwise

import pytest
from sqlalchemy import select

from engine.compliance import suppressed_addresses
from engine.db import Database
from engine.delivery import outbox
from engine.delivery.batch import send_claimed
from engine.delivery.dispatch import dispatch
from engine.delivery.gates import standard_gates
from engine.ingest import upsert_accounts, upsert_contacts
from engine.models import Delivery
from engine.rules.cycle import run_cycle
from engine.rules.validate import validate_text
from engine.rules.versions import active_rules, apply_rules
from engine.settings import load_settings

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
N = 200
RULE = """\
id: fault-campaign
name: A campaign into a faulty mail server
category: onboarding
when:
  account.plan: trial
actions:
  - email: {template: onboarding/stalled, to: role:admin}
"""

HARD = "550 5.1.1 no such user here"
POLICY = "554 5.7.1 rejected by policy"
TOO_BIG = "552 5.3.4 message too big"
BUSY = "451 4.3.0 try again later"
CLOSING = "421 4.7.0 too many connections, closing"
STUCK = "451 4.2.0 mailbox busy"


def address(i: int) -> str:
    return f"r{i:03d}@fault.test"


# What the server does to each recipient, by index (the rest are accepted).
HARD_BOUNCES = range(10)  # 550 at RCPT: suppressed, never retried
POLICY_REFUSALS = range(10, 15)  # 554 5.7.1 at RCPT: failed, not a bounce
TOO_BIG_REFUSALS = range(15, 20)  # 552 after DATA: failed
FLAKY = range(20, 40)  # 451 at RCPT 1-3 times, then accepted
CLOSERS = range(40, 45)  # 421 at RCPT once: the server closes, the rest of the batch waits too
DROPPED_EARLY = range(45, 50)  # the connection is cut at RCPT once
DROPPED_LATE = range(50, 52)  # the connection is cut after the whole message: maybe delivered
NEVER = 52  # 451 every time: fails once the retries are used up


def flaky_times(i: int) -> int:
    return 1 + i % 3


def script() -> dict:
    rcpt: dict[str, object] = {}
    data: dict[str, object] = {}
    for i in HARD_BOUNCES:
        rcpt[address(i)] = HARD
    for i in POLICY_REFUSALS:
        rcpt[address(i)] = POLICY
    for i in TOO_BIG_REFUSALS:
        data[address(i)] = TOO_BIG
    for i in FLAKY:
        rcpt[address(i)] = [BUSY] * flaky_times(i)
    for i in CLOSERS:
        rcpt[address(i)] = [CLOSING]
    for i in DROPPED_EARLY:
        rcpt[address(i)] = ["drop"]
    for i in DROPPED_LATE:
        data[address(i)] = "drop"
    rcpt[address(NEVER)] = STUCK
    return {"rcpt": rcpt, "data": data}


@pytest.fixture
def campaign(db: Database) -> dict[str, int]:
    """N trial accounts with one admin each, the rule applied, one cycle run: N pending rows."""
    rule = validate_text(RULE, "fault-campaign.yaml", expected_id="fault-campaign").rule
    with db.session() as s:
        apply_rules(s, [(rule, RULE)], author="test")
        upsert_accounts(s, [{"id": f"a{i:03d}", "name": f"Account {i}", "plan": "trial"} for i in range(N)])
        upsert_contacts(s, [{"id": f"c{i:03d}", "account_id": f"a{i:03d}", "email": address(i), "name": f"Person {i}",
                             "role": "admin"} for i in range(N)])  # fmt: skip
    with db.read_session() as s:
        rules = active_rules(s)
    run_cycle(db, rules, T0, only_due=False)
    with db.read_session() as s:
        ids = dict(s.execute(select(Delivery.recipient, Delivery.id)).all())
    assert len(ids) == N and set(ids) == {address(i) for i in range(N)}
    return ids


@dataclasses.dataclass
class Row:
    status: str
    attempts: int
    due_at: datetime
    reason: str | None
    message_id: str | None


def rows(db: Database) -> dict[str, Row]:
    with db.read_session() as s:
        found = s.execute(select(Delivery.recipient, Delivery.status, Delivery.attempts, Delivery.due_at,
                                 Delivery.reason, Delivery.message_id))  # fmt: skip
        return {r: Row(st, n, due.astimezone(UTC), reason, mid) for r, st, n, due, reason, mid in found}


def message_id(data: bytes) -> str:
    found = re.search(rb"^Message-ID:\s*(\S+)", data, re.MULTILINE | re.IGNORECASE)
    assert found, data[:500]
    return found.group(1).decode()


@pytest.mark.parametrize("pipelining", [False, True], ids=["one-command-at-a-time", "pipelining"])
def test_a_campaign_into_a_faulty_server_is_retried_settled_and_fully_accounted_for(db, campaign, faulty_smtp, pipelining):
    server = faulty_smtp(script(), pipelining=pipelining)
    settings = dataclasses.replace(load_settings(), smtp_url=f"smtp://127.0.0.1:{server.port}")
    backoff_cap = max(outbox.BACKOFF)
    history: dict[str, list[tuple[datetime, Row]]] = {r: [] for r in campaign}  # each attempt's outcome
    postponed: dict[str, list[tuple[datetime, Row]]] = {r: [] for r in campaign}  # waits without an attempt
    now = T0
    rounds = 0
    while True:
        rounds += 1
        assert rounds < 40, "the campaign does not settle"
        before = rows(db)
        jobs: list[tuple[str, list[int]]] = []
        dispatch(db, now, lambda job_id, ids, jobs=jobs: jobs.append((job_id, ids)), gates=standard_gates(settings))
        for job_id, ids in jobs:
            send_claimed(db, settings, job_id, ids, clock=lambda now=now: now)
        after = rows(db)
        for recipient, row in after.items():
            if row == before[recipient]:
                continue
            assert before[recipient].due_at <= now, f"{recipient} was touched before it was due"
            if row.attempts == before[recipient].attempts:
                # Not tried: another message of its batch found the server closing. It waits
                # as long as that one, and keeps all its retries.
                assert row.status == "deferred" and row.reason.startswith("not tried, retry at"), (recipient, row)
                assert row.due_at - now in outbox.BACKOFF, (recipient, row)
                postponed[recipient].append((now, row))
                continue
            assert row.attempts == before[recipient].attempts + 1, recipient  # one attempt per round at most
            history[recipient].append((now, row))
            if row.status == "deferred":
                # Retried after the backoff for this attempt, never later than the cap.
                assert row.due_at == now + outbox.BACKOFF[row.attempts - 1], (recipient, row)
                assert row.due_at - now <= backoff_cap
                assert row.reason.startswith(f"transient error (attempt {row.attempts}), retry at"), row.reason
        assert not [row for row in after.values() if row.status in ("queued", "sending")]
        waiting = [row.due_at for row in after.values() if row.status in ("pending", "deferred")]
        if not waiting:
            break
        now = min(waiting)
    final = rows(db)
    received = server.handler.messages

    # Counted at the server: each delivered recipient exactly once, with its row's Message-ID.
    by_recipient = Counter(to for m in received for to in m["to"])
    assert max(by_recipient.values()) == 1, [r for r, n in by_recipient.items() if n > 1]
    ids_seen = Counter(message_id(m["data"]) for m in received)
    assert max(ids_seen.values()) == 1
    sent = {r for r, row in final.items() if row.status == "sent"}
    assert set(by_recipient) == sent
    assert {message_id(m["data"]) for m in received} == {final[r].message_id for r in sent}

    # Every recipient is accounted for, and nothing is left in between.
    statuses = Counter(row.status for row in final.values())
    assert set(statuses) <= {"sent", "suppressed", "failed", "unknown"}, statuses
    assert len(by_recipient) + statuses["suppressed"] + statuses["failed"] + statuses["unknown"] == N

    def outcome(i: int) -> Row:
        return final[address(i)]

    # Permanent errors: settled on the first attempt, never retried.
    for i in HARD_BOUNCES:
        assert (outcome(i).status, outcome(i).attempts) == ("suppressed", 1), address(i)
        assert outcome(i).reason == f"hard bounce, address suppressed: RCPT TO {HARD}"
    for i, error in [*((i, f"RCPT TO {POLICY}") for i in POLICY_REFUSALS),
                     *((i, f"end of DATA {TOO_BIG}") for i in TOO_BIG_REFUSALS)]:  # fmt: skip
        assert (outcome(i).status, outcome(i).attempts) == ("failed", 1), address(i)
        assert outcome(i).reason == f"permanent error: {error}"
    with db.read_session() as s:
        listed = suppressed_addresses(s, [address(i) for i in range(N)], "onboarding")
    assert set(listed) == {address(i) for i in HARD_BOUNCES}  # a policy refusal says nothing about the address
    assert all("bounced" in reason for reason in listed.values())

    # A message cut off after it was handed over may have arrived: unknown, never sent again.
    for i in DROPPED_LATE:
        assert (outcome(i).status, outcome(i).attempts) == ("unknown", 1), address(i)
        assert "may have been delivered" in outcome(i).reason
    assert statuses["unknown"] == len(DROPPED_LATE)

    # Transient errors: retried until accepted, each retry after its backoff.
    for i in FLAKY:
        own = [row for _at, row in history[address(i)] if BUSY in (row.reason or "")]
        assert len(own) == flaky_times(i), (address(i), history[address(i)])
        assert outcome(i).status == "sent" and outcome(i).attempts == len(history[address(i)]), address(i)
        assert server.handler._seen[("rcpt", address(i))] == flaky_times(i) + 1  # one RCPT per attempt
    for i in [*CLOSERS, *DROPPED_EARLY]:
        assert outcome(i).status == "sent", (address(i), history[address(i)])
    # A 421 (or a connection cut on a fresh connection) stops the batch: the rest waited, using no attempt.
    waited = {r for r, h in postponed.items() for _at, row in h if CLOSING in row.reason}
    assert waited - {address(i) for i in CLOSERS}, "a 421 did not hold back the rest of its batch"
    for recipient in waited:  # ...and was tried once the wait was over
        last_wait = max(at for at, _row in postponed[recipient])
        assert any(at >= postponed[recipient][-1][1].due_at > last_wait for at, _row in history[recipient]), recipient
    for i in HARD_BOUNCES:
        assert address(i) in waited or not postponed[address(i)]  # held back or not, it bounced on its first try

    # A transient error that never recovers fails after len(BACKOFF) + 1 attempts, with the last error.
    never = outcome(NEVER)
    attempts = len(outbox.BACKOFF) + 1
    assert (never.status, never.attempts) == ("failed", attempts)
    assert never.reason == f"failed after {attempts} attempts; last error: RCPT TO {STUCK}"
    times = [at for at, _row in history[address(NEVER)]]
    gaps = [later - earlier for earlier, later in pairwise(times)]
    # 1 min, 5 min, 30 min, 2 h; later only when it waited behind a closing server.
    assert all(gap >= delay for gap, delay in zip(gaps, outbox.BACKOFF, strict=True)), gaps
    assert gaps == list(outbox.BACKOFF) or postponed[address(NEVER)]
