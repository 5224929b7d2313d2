"""Leave goals: the set-wise, incremental outcomes pass against a plain Python computation.

Random histories of stays in a rule's segment and their occurrences (``enter:<stay>``,
``event:<stay>``, ``remind:<stay>:<k>``) with deliveries sent, held out, skipped or failed,
some sent passes later or stamped before the previous pass (a late commit); stays ending at
random times, before their occurrence's send, exactly at an exposure or a window's end (or a
microsecond before), some recorded after the pass that closed the outcome (within the pass's
look-back); an event-goal rule whose stays end too, which must stay unconverted by them. A
pass after each step, steps minutes to days apart, so passes are incremental and full.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, update

from engine.models import Account, Delivery, GoalOutcome, RuleVersion, SegmentMembership
from engine.results.outcomes import LOOKBACK, measure
from tables import empty_tables

T = datetime(2026, 11, 2, 9, 0, 0, 500000, tzinfo=UTC)
ACCOUNTS = ("a", "b", "c")
# (rule, goal, within days)
VERSIONS = (("r", "{leaves_segment: true, within: 1d}", 1), ("r", "{leaves_segment: true, within: 2d}", 2),
            ("s", "{event: goal, within: 1d}", 1))  # fmt: skip


def text(rule: str, goal: str) -> str:
    return f"id: {rule}\nname: R\nwhen:\n  account.plan: trial\nactions:\n  - email: {{template: t, to: owner}}\ngoal: {goal}\n"


@dataclass
class Row:
    id: int
    version: int  # index into VERSIONS
    stay: int  # index into History.stays
    occurrence: str
    status: str
    created_at: datetime
    sent_at: datetime | None = None


@dataclass
class Stay:
    id: int
    rule: str
    account: str
    entered_at: datetime
    exited_at: datetime | None = None


@dataclass
class History:
    stays: list[Stay] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)


def expected(h: History, now: datetime) -> dict[tuple[str, str, str], tuple]:
    """The outcomes as docs/rules.md defines them for a leave goal, computed row by row."""
    groups: dict[tuple[str, str, str], list[Row]] = {}
    for r in h.rows:
        stay = h.stays[r.stay]
        groups.setdefault((stay.rule, r.occurrence, stay.account), []).append(r)
    out = {}
    for key, rows in groups.items():
        sent = sorted((r for r in rows if r.status == "sent"), key=lambda r: (r.sent_at, r.id))
        held = sorted((r for r in rows if r.status == "held_out"), key=lambda r: (r.created_at, r.id))
        if sent:
            arm, first, exposed = "treated", sent[0], sent[0].sent_at
        elif held:
            arm, first, exposed = "control", held[0], held[0].created_at
        else:
            continue
        _rule, goal, within = VERSIONS[first.version]
        kind = "leave" if "leaves_segment" in goal else "event"
        ends = exposed + timedelta(days=within)
        left = h.stays[first.stay].exited_at
        # The exit, or the exposure for a stay that ended before it; never at or after the window's end.
        converted = max(left, exposed) if kind == "leave" and left is not None and left < ends else None
        state = "converted" if converted else "closed" if ends <= now else "open"
        out[key] = (arm, first.id, first.version, kind, exposed, ends, converted, state)
    return out


def stored(db, version_index: dict[int, int]) -> dict[tuple[str, str, str], tuple]:
    with db.read_session() as s:
        rows = s.execute(select(GoalOutcome, Account.external_id).join(Account, Account.id == GoalOutcome.account_id))
        return {(o.rule_id, o.occurrence, ext): (o.arm, o.delivery_id, version_index[o.rule_version_id], o.goal_kind,
                                                 o.exposed_at, o.window_ends_at, o.converted_at, o.state)
                for o, ext in rows}  # fmt: skip


offsets = st.one_of(
    st.sampled_from([timedelta(0), timedelta(seconds=1), timedelta(minutes=1), timedelta(minutes=10), timedelta(minutes=49)]),
    st.integers(min_value=0, max_value=50 * 60 * 10**6).map(lambda us: timedelta(microseconds=us)),
)
gaps = st.sampled_from([timedelta(minutes=1), timedelta(minutes=10), timedelta(hours=3), timedelta(days=1, hours=1),
                        timedelta(days=2, minutes=7)])  # fmt: skip


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data())
def test_leave_outcomes_match_a_plain_computation(db, data):
    empty_tables(db)
    h = History()
    with db.session() as s:
        accounts = {a: s.scalar(insert(Account).values(external_id=a, name=a).returning(Account.id)) for a in ACCOUNTS}
        versions = [s.scalar(insert(RuleVersion).values(rule_id=rule, version=n + 1, content=text(rule, goal),
                                                        content_hash=str(n), author="t").returning(RuleVersion.id))
                    for n, (rule, goal, _within) in enumerate(VERSIONS)]  # fmt: skip
    version_index = {vid: n for n, vid in enumerate(versions)}
    pending: list[Row] = []
    now, last_pass, just_after = T, None, False
    for step in range(data.draw(st.integers(1, 6), label="steps")):
        # Some passes run just after a window ended, so that the next step can record an exit stamped before it.
        ends = sorted({(r.sent_at or r.created_at) + timedelta(days=VERSIONS[r.version][2]) for r in h.rows
                       if r.status in ("sent", "held_out") and h.stays[r.stay].exited_at is None})  # fmt: skip
        ends = [e for e in ends if e > now]
        if step and ends and not just_after and data.draw(st.booleans(), label="just after a window's end"):
            now = data.draw(st.sampled_from(ends), label="end") + data.draw(st.sampled_from([timedelta(0), timedelta(seconds=1)]))
            just_after = True
        elif step:
            # After such a pass, mostly a short gap: a cycle that started before it may commit exits now.
            now += data.draw(st.sampled_from([timedelta(minutes=1), timedelta(minutes=10)]) if just_after else gaps, label="gap")
            just_after = False
        # Stamps a commit may carry: up to 50 minutes ago, never before the last pass's look-back.
        floor = now - timedelta(minutes=50) if last_pass is None else max(now - timedelta(minutes=50), last_pass - LOOKBACK)

        def stamp(label: str) -> datetime:
            return max(now - data.draw(offsets, label=label), floor)

        new_stays, new_rows, sends, exits = [], [], [], []
        for _ in range(data.draw(st.integers(0, 3), label="stays")):
            version = data.draw(st.integers(0, len(VERSIONS) - 1), label="version")
            entered = stamp("entered")
            stay = Stay(0, VERSIONS[version][0], data.draw(st.sampled_from(ACCOUNTS), label="account"), entered)
            new_stays.append(stay)
            index = len(h.stays) + len(new_stays) - 1
            kind = data.draw(st.sampled_from(["enter", "event", "remind"]), label="trigger")
            for k in range(data.draw(st.integers(1, 2), label="occurrences") if kind == "remind" else 1):
                arm = data.draw(st.sampled_from(["treated", "control", "not sent"]), label="arm")
                at = max(entered, stamp("fired"))
                for n in range(data.draw(st.integers(1, 2), label="messages")):
                    if arm == "control":
                        status = data.draw(st.sampled_from(["held_out", "held_out", "skipped"]), label="status")
                    elif arm == "treated":
                        status = data.draw(st.sampled_from(["sent", "pending", "failed"]), label="status")
                    else:
                        status = data.draw(st.sampled_from(["skipped", "failed"]), label="status")
                    sent_at = at + timedelta(seconds=n + data.draw(st.integers(0, 60), label="send delay"))
                    new_rows.append(Row(0, version, index, (kind, k), status, at,
                                        min(sent_at, now) if status == "sent" else None))  # fmt: skip
        # Rows still pending from earlier steps may go out now.
        for row in list(pending):
            if data.draw(st.booleans(), label="send a pending one"):
                pending.remove(row)
                row.status, row.sent_at = "sent", stamp("sent ago")
                sends.append(row)
        # Stays end: at a random recent time, or on an exposure's bound (if that is a stamp a commit may carry).
        for i, stay in enumerate(h.stays + new_stays):
            if stay.exited_at is not None:
                continue
            # Stamped just before a window that the last pass closed: the exit of a cycle that committed after it.
            closed = [end - timedelta(microseconds=1) for end in (
                (r.sent_at or r.created_at) + timedelta(days=VERSIONS[r.version][2])
                for r in h.rows if r.stay == i and r.status in ("sent", "held_out")
            ) if last_pass is not None and floor < end <= last_pass]  # fmt: skip
            if closed and data.draw(st.booleans(), label="recorded after its window closed"):
                exits.append((stay, max(data.draw(st.sampled_from(closed), label="closed"), stay.entered_at)))
                continue
            if not data.draw(st.sampled_from([False, False, True]), label="ends"):
                continue
            at = stamp("exit")
            bounds = sorted(
                (r.sent_at or r.created_at) + timedelta(days=days, microseconds=nudge)
                for r in h.rows + new_rows if r.stay == i and r.status in ("sent", "held_out")
                for days in (0, VERSIONS[r.version][2]) for nudge in (0, -1)
            )  # fmt: skip
            bounds = [b for b in bounds if floor <= b <= now]
            if bounds and data.draw(st.booleans(), label="at a bound"):
                at = data.draw(st.sampled_from(bounds), label="bound")
            exits.append((stay, max(at, stay.entered_at)))
        with db.session() as s:
            for stay in new_stays:
                stay.id = s.scalar(insert(SegmentMembership).values(
                    rule_id=stay.rule, subject_key=f"account:{stay.account}:{len(h.stays)}", account_id=accounts[stay.account],
                    entered_at=stay.entered_at,
                ).returning(SegmentMembership.id))  # fmt: skip
                h.stays.append(stay)
            for row in new_rows:
                kind, k = row.occurrence
                stay = h.stays[row.stay]
                row.occurrence = f"remind:{stay.id}:{k}" if kind == "remind" else f"{kind}:{stay.id}"
                row.id = s.scalar(insert(Delivery).values(
                    dedupe_key=f"{row.occurrence}|{len(h.rows)}", rule_id=stay.rule, rule_version_id=versions[row.version],
                    action_index=0, channel="email", template="t", account_id=accounts[stay.account],
                    recipient=f"{stay.account}@x.test", occurrence=row.occurrence, status=row.status, sent_at=row.sent_at,
                    created_at=row.created_at, due_at=row.created_at,
                ).returning(Delivery.id))  # fmt: skip
                h.rows.append(row)
                if row.status == "pending":
                    pending.append(row)
            for row in sends:
                s.execute(update(Delivery).where(Delivery.id == row.id).values(status="sent", sent_at=row.sent_at))
            for stay, at in exits:
                stay.exited_at = at
                s.execute(update(SegmentMembership).where(SegmentMembership.id == stay.id).values(exited_at=at))
        measure(db, now)
        last_pass = now
        assert stored(db, version_index) == expected(h, now), f"after step {step} at {now}"

    # A full pass finds nothing left to do.
    again = measure(db, now, full=True)
    assert (again.added, again.converted, again.corrected, again.reclocked, again.closed) == (0, 0, 0, 0, 0)
    assert stored(db, version_index) == expected(h, now)
