"""Sending one batch of deliveries (the work of an RQ send job, engine.jobs.send).

The batch carries delivery ids only. The rows still queued under its job id
are read (so a duplicate or late job finds nothing) and settled where sending
is decided already; then, over one connection for the batch, each row is
claimed before it is handed to the channel and its outcome recorded in a
short transaction right after the provider answered: a worker killed
mid-batch leaves at most one row whose fate is unknown. For email the two
share one transaction, run while the server answers the next MAIL FROM
(LateClaims). Messages are composed as they go, the next one while the
provider takes the current one in. See engine.delivery.outbox for the states.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from engine.db import Database, get_database
from engine.delivery import outbox
from engine.delivery.record import Packed, pack, store_message
from engine.delivery.record import warm as warm_record
from engine.models import Delivery, RuleState, utcnow
from engine.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class BatchReport:
    claimed: int = 0
    sent: int = 0
    unknown: int = 0
    deferred: int = 0
    failed: int = 0
    suppressed: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)

    def add(self, other: BatchReport) -> None:
        for name, value in asdict(other).items():
            setattr(self, name, getattr(self, name) + value)


def send_claimed(db: Database, settings: Settings, job_id: str, ids: list[int], clock=utcnow) -> dict[str, int]:
    from engine.delivery.channels import ChannelConfigError, config_from_settings, get_channel

    report = BatchReport()
    lease = timedelta(seconds=settings.send_lease_seconds)
    rows, messages = _prepare(db, settings, job_id, ids, clock, report)
    # The rows this job carries are held while it runs (the sweeper leaves them alone), renewed
    # at half the lease: a long batch is not mistaken for a lost one.
    held_until = clock() + lease
    with db.session() as session:
        outbox.hold(session, [r.id for r in rows], job_id, held_until)
    remaining = {r.id for r in rows}

    def claim(row: Delivery) -> int | None:
        """Each row is claimed just before it is sent, so a worker that dies
        holds one row in 'sending' (judged ``unknown``): the rest of its batch
        is still 'queued' and goes out with a new job."""
        with db.transaction() as session:
            claimed = outbox.claim(session, [row.id], job_id, clock(), lease)
        report.claimed += len(claimed)
        return claimed[0].attempts if claimed else None

    # Holds the outcome waiting for the next email claim, and the end of the hold on the batch.
    late = LateClaims(db, job_id, lease, clock, report, remaining, held_until, claim)
    for name in sorted({row.channel for row in rows}):
        batch = [row for row in rows if row.channel == name]
        try:
            channel = get_channel(name, config_from_settings(name, settings))
        except ChannelConfigError as exc:  # the instance is not set up for this channel: wait, use no attempt
            until = clock() + CONFIG_RETRY
            with db.session() as session:
                report.deferred += outbox.postpone(session, [r.id for r in batch], job_id, clock(), until,
                                                   f"not tried: {exc}")  # fmt: skip
            continue
        with channel, LeaseKeeper(db, job_id, lease, clock, remaining) as keeper:
            down: tuple[str, datetime] | None = None  # why the channel failed, and until when the rest waits
            bounced: set[str] = set()  # addresses that hard-bounced in this batch
            ahead: dict[int, int] = {}  # rows claimed with the previous row's outcome: id -> attempts
            try:
                for i, row in enumerate(batch):
                    if down is not None:
                        # The channel failed for the whole batch: the rest waits as long as the
                        # message that found it down, without using an attempt it never made.
                        error, until = down
                        reason = f"not tried, retry at {until:%Y-%m-%d %H:%M:%S}Z: the channel failed for another message: {error}"
                        late.flush()
                        with db.session() as session:
                            report.deferred += outbox.postpone(session, [row.id], job_id, clock(), until, reason)
                        continue
                    if row.recipient in bounced:
                        late.flush()
                        with db.session() as session:
                            report.suppressed += outbox.release(session, [row.id], job_id, clock(), "suppressed",
                                                                "suppressed: bounced (in this batch)")  # fmt: skip
                        continue
                    composed = messages.get(row)
                    if composed.error is not None:  # could not be rendered: never sent half-made
                        late.flush()
                        if claim(row) is not None:
                            _write(db, lambda s, r=row, e=composed.error: outbox.mark_failed(s, r.id, clock(), e, job_id=job_id))
                            report.failed += 1
                        continue
                    following = batch[i + 1] if i + 1 < len(batch) else None
                    if channel.claims_late:
                        meanwhile = (lambda f=following: messages.prepare(f, channel)) if following is not None else None
                        sent = late.send(channel, row, composed.message, meanwhile, keeper)
                        if sent is not None:
                            result, attempts = sent
                            if result.hard_bounce:
                                bounced.add(row.recipient)
                            if result.channel_down:
                                down = (result.provider_response, outbox.retry_at(attempts, clock()))
                        continue
                    attempts = ahead.pop(row.id, None) or claim(row)
                    if attempts is None:  # re-queued elsewhere (the sweeper thought this job lost)
                        continue

                    def claim_following(session: outbox.Tx, result, following=following, current=row,
                                        bounced=bounced) -> Following:  # fmt: skip
                        """In the transaction that records this row (one commit per message): the next
                        row claimed, and the hold on the rest renewed when it is half gone."""
                        renewed = late.renew_hold(session, current.id)
                        if following is None or result.channel_down:
                            return Following(None, renewed)
                        ready = messages.composed(following)
                        if ready is None or ready.error is not None:
                            return Following(None, renewed)
                        if following.recipient in bounced or (result.hard_bounce and following.recipient == current.recipient):
                            return Following(None, renewed)
                        got = outbox.claim(session, [following.id], job_id, clock(), lease)
                        return Following((following.id, got[0].attempts) if got else None, renewed)

                    meanwhile = (lambda f=following: messages.prepare(f, channel)) if following is not None else None
                    if meanwhile is not None and not channel.overlaps:
                        meanwhile()  # now, before the write transaction that records this one
                        meanwhile = None
                    try:
                        result, after, recorded = _send(db, channel, name, composed.message, row, attempts, job_id,
                                                               clock, claim_following, keeper, meanwhile)  # fmt: skip
                    except OutcomeNotRecorded:
                        # The provider took the message, the database would not take the answer
                        # (after WRITE_TRIES busy timeouts). The row stays 'sending': the sweeper
                        # settles it after its lease (unknown for marketing, sent again for
                        # operational), never retried here. The rest of the batch waits too.
                        log.exception("delivery %s: the provider's answer could not be recorded", row.id)
                        raise
                    except Exception as exc:  # a bug or an outage of ours, not the message's: retry it later
                        log.exception("delivery %s: sending failed unexpectedly", row.id)
                        _internal_error(db, row.id, attempts, exc, clock, job_id)
                        report.deferred += 1
                        continue
                    # As of the transaction that committed (it may have been tried more than once).
                    report.add(recorded)
                    remaining.discard(row.id)
                    if after.held_until is not None:
                        late.held_until = after.held_until
                    if after.claimed is not None:
                        ahead[after.claimed[0]] = after.claimed[1]
                        report.claimed += 1
                    if result.hard_bounce:
                        bounced.add(row.recipient)
                    if result.channel_down:
                        down = (result.provider_response, outbox.retry_at(attempts, clock()))
                late.flush()
            except BaseException as exc:
                late.salvage(exc)
                raise
    return report.as_dict()


# A channel the instance is not configured for is tried again after this, without using an attempt.
CONFIG_RETRY = timedelta(minutes=5)
# Writing an outcome waits out a busy database this many times (SQLite's busy timeout each).
WRITE_TRIES = 4


def _prepare(db: Database, settings: Settings, job_id: str, ids: list[int], clock, report: BatchReport):
    """The rows this job still carries, settled first where sending is already decided
    (their rule paused since they were queued; their address suppressed since), and
    what composing the others needs, loaded in a few queries (Messages composes them)."""
    from engine.compliance import suppressed_addresses
    from engine.delivery.compose import Composer

    with db.read_session() as session:
        # Plain rows, not ORM objects: read-only here, and read many times per message.
        D = Delivery.__table__
        rows = session.execute(
            select(D).where(D.c.id.in_(ids), D.c.status == "queued", D.c.job_id == job_id).order_by(D.c.id)
        ).all()
        rule_ids = {r.rule_id for r in rows}
        paused = set(session.scalars(select(RuleState.rule_id).where(RuleState.paused.is_(True), RuleState.rule_id.in_(rule_ids))))
        rows = [r for r in rows if r.rule_id not in paused] if paused else rows
        kept = {r.id for r in rows}
        held = [r_id for r_id in ids if r_id not in kept]
        # Suppression is checked again at send time: an unsubscribe may have come since dispatch.
        stopped: dict[int, str] = {}
        for category in {r.category for r in rows if r.channel == "email"}:
            mine = [r for r in rows if r.channel == "email" and r.category == category]
            found = suppressed_addresses(session, {r.recipient for r in mine}, category)
            stopped.update({r.id: found[r.recipient] for r in mine if r.recipient in found})
        rows = [r for r in rows if r.id not in stopped]
        now = clock()
        composer = Composer(session, settings, now)
        composer.prefetch(rows)
        composer.detach()
    if held or stopped:
        with db.session() as session:
            outbox.release(session, held, job_id, now, "pending", "waiting: its rule was paused after it was queued")
            for delivery_id, why in stopped.items():
                outbox.release(session, [delivery_id], job_id, now, "suppressed", f"suppressed: {why}")
        report.suppressed += len(stopped)
    return rows, Messages(composer)


class Messages:
    """The batch's messages, each composed when first needed. The send loop composes the
    next one while the provider works on the current one (``meanwhile``, see the SMTP
    channel): the two overlap instead of adding up."""

    def __init__(self, composer) -> None:
        self._composer = composer
        self._done: dict[int, Any] = {}

    def get(self, row: Delivery):
        if row.id not in self._done:
            self._done[row.id] = self._composer.compose(row)
        return self._done[row.id]

    def composed(self, row: Delivery):
        """The message if it is composed already, else None (not composed inside a write transaction)."""
        return self._done.get(row.id)

    def prepare(self, row: Delivery, channel=None) -> None:
        """Compose ``row`` ahead of its turn, and let the channel build what it sends; a
        failure is left for its turn to raise."""
        try:
            composed = self.get(row)
            if channel is not None and composed.message is not None:
                channel.prepare(composed.message)
        except Exception:  # noqa: BLE001 -- raised again, where it is handled, when the row's turn comes
            log.debug("delivery %s: composing ahead failed", row.id, exc_info=True)


class LateClaims:
    """Sending over a channel that claims late (email): each message is claimed in the
    transaction that records the previous message's outcome, and that transaction runs
    while the server answers the MAIL FROM of the message it claims, so the write overlaps
    the wait instead of adding to it. Still one commit per message, and a worker that dies
    leaves at most one message in doubt: the previous one's answer came and its record had
    not committed, or this one's claim committed and its content had not gone out (both
    are 'sending': unknown for marketing, sent again for operational). It also keeps the
    end of the hold on the batch's rows (``renew_hold``), which every channel renews."""

    def __init__(self, db: Database, job_id: str, lease: timedelta, clock, report: BatchReport, remaining: set[int],
                 held_until: datetime, claim_now) -> None:  # fmt: skip
        self.db, self.job_id, self.lease, self.clock = db, job_id, lease, clock
        self.report, self.remaining, self.held_until, self.claim_now = report, remaining, held_until, claim_now
        self.pending: tuple[Delivery, int, str, Any] | None = None  # sent, its outcome not recorded yet
        self.packed: Packed | None = None  # the pending message, compressed outside the write transaction

    def renew_hold(self, tx: outbox.Tx, current: int) -> datetime | None:
        """In a write transaction of the batch: the hold on the rows not done yet, apart from
        ``current``, renewed once half of it is gone; its new end (set on ``held_until`` by the
        caller once the transaction committed), or None."""
        if self.clock() <= self.held_until - self.lease / 2:
            return None
        renewed = self.clock() + self.lease
        outbox.hold(tx, sorted(self.remaining - {current}), self.job_id, renewed)
        return renewed

    def _record(self, tx: outbox.Tx) -> BatchReport | None:
        if self.pending is None:
            return None
        row, attempts, message_id, result = self.pending
        counts = BatchReport()  # anew on each try: only the try that commits counts
        _record(tx, row, attempts, message_id, result, self.clock(), counts, self.job_id, self.packed)
        return counts

    def _write(self, action):
        """``action(tx)`` with the pending outcome recorded in the same transaction."""
        orm = self.pending is not None and self.pending[3].hard_bounce  # a hard bounce adds to the suppressions
        try:
            return _write(self.db, action, orm=orm)
        except Exception as exc:
            if self.pending is None:
                raise _NotClaimed(str(exc)) from exc
            row, _a, _m, result = self.pending
            log.exception("delivery %s: the provider's answer could not be recorded", row.id)
            raise OutcomeNotRecorded(f"delivery {row.id}: {result.status} ({result.provider_response}) not recorded") from exc

    def _recorded(self, counts: BatchReport | None) -> None:
        if counts is not None and self.pending is not None:
            self.report.add(counts)
            self.remaining.discard(self.pending[0].id)
            self.pending, self.packed = None, None

    def _pend(self, row: Delivery, attempts: int, message_id: str, result) -> None:
        self.pending = (row, attempts, message_id, result)
        self.packed = pack(result.content) if result.content is not None else None

    def flush(self) -> None:
        """Record the pending outcome now (the next row is not sent, or there is none)."""
        if self.pending is not None:
            self._recorded(self._write(self._record))

    def salvage(self, error: BaseException) -> None:
        """The batch is failing: the provider's answer still waiting to be recorded is recorded,
        if the database will take it (the error was not that it would not)."""
        if self.pending is None or isinstance(error, OutcomeNotRecorded):
            return
        try:
            self.flush()
        except Exception:  # noqa: BLE001 -- the row stays 'sending' for the sweeper; the first error is raised
            log.exception("delivery %s: outcome not recorded while the batch failed", self.pending[0].id)

    def send(self, channel, row: Delivery, message, meanwhile, keeper: LeaseKeeper):
        """Hand ``row``'s message to the channel, claiming it on the way; (result, attempts), or
        None when it was not sent (claimed elsewhere meanwhile, or settled here already)."""
        from engine.delivery.channels import Withdrawn

        claimed: list[int] = []

        def claim() -> None:
            def txn(tx):
                counts = self._record(tx)
                got = outbox.claim(tx, [row.id], self.job_id, self.clock(), self.lease)
                return counts, got, self.renew_hold(tx, row.id)

            counts, got, renewed = self._write(txn)
            self._recorded(counts)
            if renewed is not None:
                self.held_until = renewed
            if not got:  # re-queued elsewhere (the sweeper thought this job lost)
                raise Withdrawn(row.id)
            self.report.claimed += 1
            claimed.append(got[0].attempts)

        # The previous row's lease runs on too until this claim records it (a reconnect may take long).
        on_its_way = (row.id, self.pending[0].id) if self.pending is not None else (row.id,)
        try:
            with keeper.sending(*on_its_way):
                result = channel.send(message, meanwhile=meanwhile, claim=claim)
        except Withdrawn:
            return None
        except (OutcomeNotRecorded, _NotClaimed):
            raise
        except Exception as exc:  # a bug or an outage of ours, not the message's: retry it later
            log.exception("delivery %s: sending failed unexpectedly", row.id)
            self.flush()
            attempts = claimed[0] if claimed else self.claim_now(row)  # an attempt, as any try
            if attempts is not None:
                _internal_error(self.db, row.id, attempts, exc, self.clock, self.job_id)
                self.report.deferred += 1
            return None
        if not claimed:
            # Nothing was handed over (no connection, or refused before the first command):
            # claimed now and recorded at once, using an attempt as any try does.
            self.flush()
            attempts = self.claim_now(row)
            if attempts is None:
                return None
            self._pend(row, attempts, message.message_id, result)
            self.flush()
            return result, attempts
        self._pend(row, claimed[0], message.message_id, result)
        return result, claimed[0]


class _NotClaimed(RuntimeError):
    """The claim's transaction failed (nothing was pending): the job stops, its rows stay queued."""


class LeaseKeeper:
    """Renews the lease of the message being handed over while its provider takes long.

    A provider's timeout applies to each step (SMTP: connecting, each reply), so a
    slow server can hold one message longer than the lease, and the sweeper would
    judge a message still on its way lost. One thread per batch, writing only for a
    message that has been on its way for a third of the lease (and the hold on the rest
    of the batch with it). It dies with the worker, so a dead worker's lease still runs
    out; the job timeout bounds the rest."""

    def __init__(self, db: Database, job_id: str, lease: timedelta, clock, remaining: set[int]) -> None:
        self.db, self.job_id, self.lease, self.clock = db, job_id, lease, clock
        self.remaining = remaining  # the batch's rows not done yet, held with the one on its way
        self.every = lease.total_seconds() / 3
        self._current: tuple[tuple[int, ...], float] | None = None  # the rows on their way, since when (monotonic)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @contextmanager
    def sending(self, *delivery_ids: int) -> Iterator[None]:
        with self._lock:
            self._current = (delivery_ids, time.monotonic())
        try:
            yield
        finally:
            with self._lock:
                self._current = None

    def _run(self) -> None:
        while not self._stop.wait(self.every / 2):
            with self._lock:
                current = self._current
            if current is None or time.monotonic() - current[1] < self.every:
                continue
            ids = current[0]
            try:
                with self.db.session() as session:
                    until = self.clock() + self.lease
                    for delivery_id in ids:
                        outbox.renew(session, delivery_id, self.job_id, until)
                    outbox.hold(session, sorted(set(self.remaining) - set(ids)), self.job_id, until)
            except Exception:  # noqa: BLE001 -- the next round tries again; the outcome is what matters
                log.warning("deliveries %s: lease not renewed", ids, exc_info=True)


@dataclass(frozen=True)
class Following:
    claimed: tuple[int, int] | None  # the next row, claimed: (id, attempts)
    held_until: datetime | None  # the hold on the batch's remaining rows, if renewed


class OutcomeNotRecorded(RuntimeError):
    """The provider answered, and the database would not take the answer."""


def _send(db: Database, channel, name: str, message, row: Delivery, attempts: int, job_id: str, clock, then,
          keeper: LeaseKeeper, meanwhile=None) -> tuple[Any, Following, BatchReport]:  # fmt: skip
    """Hand one message to the channel and record the outcome right after, in its own transaction
    (with ``then(session, result)``, which claims the next row): (the result, the next row claimed,
    the counts recorded), as of the transaction that committed.

    An in-app nudge is stored in the same transaction that marks it sent: nothing can fall between."""
    from engine.delivery.channels import store_nudge

    committed: dict[str, Any] = {}

    def record(session: outbox.Tx, result, packed: Packed | None = None):
        counts = BatchReport()  # anew on each try: only the try that commits counts
        _record(session, row, attempts, message.message_id, result, clock(), counts, job_id, packed)
        committed.update(counts=counts, next=then(session, result))
        return result

    if name == "in_app":
        result = _write(db, lambda session: record(session, store_nudge(session, message)), orm=True)
        return result, committed["next"], committed["counts"]
    with keeper.sending(row.id):
        result = channel.send(message, meanwhile=meanwhile) if meanwhile is not None else channel.send(message)
    packed = pack(result.content) if result.content is not None else None  # before the write lock is taken
    try:
        # A hard bounce adds to the suppression list, which takes a session; the rest is plain statements.
        _write(db, lambda tx: record(tx, result, packed), orm=result.hard_bounce)
    except Exception as exc:
        raise OutcomeNotRecorded(f"delivery {row.id}: {result.status} ({result.provider_response}) not recorded") from exc
    return result, committed["next"], committed["counts"]


def _internal_error(db: Database, delivery_id: int, attempts: int, exc: Exception, clock, job_id: str) -> None:
    """A bug or an outage of ours while sending, not the message's: retried like a transient error."""
    _write(db, lambda s: outbox.mark_transient(s, delivery_id, attempts, clock(),
                                               f"internal error: {type(exc).__name__}: {exc}", job_id=job_id))  # fmt: skip


def _write(db: Database, action, orm: bool = False):
    """Run ``action(tx)`` in a write transaction, waiting out a busy database: an outcome
    the provider already gave must not be lost to a lock held by a long rule cycle.
    ``tx`` is a bare connection (outbox statements), or with ``orm`` a session."""
    for attempt in range(WRITE_TRIES):
        try:
            with db.session() if orm else db.transaction() as tx:
                return action(tx)
        except OperationalError:
            if attempt == WRITE_TRIES - 1:
                raise
            time.sleep(2**attempt)
    return None


def _record(session: outbox.Tx, row: Delivery, attempts: int, message_id: str, result, now: datetime,
            report: BatchReport, job_id: str, packed: Packed | None = None) -> None:  # fmt: skip
    from engine.compliance import suppress

    if result.content is not None:  # handed over (accepted, or maybe): kept with the outcome, in its transaction
        store_message(session, row.id, attempts, row.channel, packed or result.content, now)
    if result.unconfigured:
        until = now + CONFIG_RETRY
        outbox.unclaim(session, row.id, now, until, f"{result.provider_response}; tried again at {until:%Y-%m-%d %H:%M}Z",
                       job_id=job_id)  # fmt: skip
        report.deferred += 1
    elif result.status == "sent":
        outbox.mark_sent(session, row.id, now, message_id or None, result.provider_response, job_id=job_id)
        report.sent += 1
    elif result.status == "transient":
        if result.maybe_delivered and row.category not in outbox.RESEND_CATEGORIES:
            reason = f"unknown: the connection was lost after the message was handed over ({result.provider_response})"
            outbox.mark_failed(session, row.id, now, reason, status="unknown", job_id=job_id)
            report.unknown += 1
            return
        status = outbox.mark_transient(session, row.id, attempts, now, result.provider_response, job_id=job_id)
        report.deferred += status == "deferred"
        report.failed += status == "failed"
    elif result.hard_bounce:
        suppress(session, row.recipient, "bounced", None, source=f"delivery {row.id}")
        outbox.mark_failed(session, row.id, now, f"hard bounce, address suppressed: {result.provider_response}",
                           status="suppressed", job_id=job_id)  # fmt: skip
        report.suppressed += 1
    else:
        outbox.mark_failed(session, row.id, now, f"permanent error: {result.provider_response}", job_id=job_id)
        report.failed += 1


WARM_UP_JOB = "touchline-warm-up"  # a job id no dispatch gives out


def warm_up(settings: Settings) -> None:
    """Do once, in the worker before it forks work-horses (which inherit it), what every
    send job would otherwise start with: compile the templates, set up the database engine
    and compile the send path's statements into its cache (they match no row: nothing
    changes). Without it each job of 100 messages spent about 100 ms on this. A failure
    (a database not migrated yet) is logged and left to the jobs to meet."""
    from sqlalchemy.orm import configure_mappers

    from engine.compliance import suppressed_addresses
    from engine.delivery.compose import Composer, warm_templates

    warm_templates(settings)
    configure_mappers()
    db = get_database(settings.database_url)
    now = utcnow()
    try:
        _prepare(db, settings, WARM_UP_JOB, [0], lambda: now, BatchReport())
        with db.read_session() as session:
            suppressed_addresses(session, ["warm-up@invalid.invalid"], "marketing")
            composer = Composer(session, settings, now)
            composer.load({0}, {0})
            composer.rule_version(0)
        with db.transaction() as session:
            warm_record(session.dialect)
            outbox.hold(session, [0], WARM_UP_JOB, now)
            outbox.claim(session, [0], WARM_UP_JOB, now)
            outbox.mark_sent(session, 0, now, None, "", job_id=WARM_UP_JOB)
    except Exception as exc:  # noqa: BLE001 -- an optimisation only
        log.warning("send path not warmed up: %s", exc)


__all__ = ["BatchReport", "send_claimed", "warm_up"]
