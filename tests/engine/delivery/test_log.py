"""The send log: filters, keyset pages (ties on created_at included), capped counts, the export."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import text
from engine.csvfile import csv_cell, write_csv
from engine.delivery import log
from engine.delivery.log import FilterError, Key, LogFilter

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)


def walk(db, f: LogFilter = LogFilter(), limit: int = 3) -> list[int]:
    """Every id, page after page through the older keys."""
    ids, before = [], None
    for _ in range(1000):
        with db.read_session() as s:
            p = log.page(s, f, before=before, limit=limit)
        ids += [r.id for r in p.rows]
        if p.older is None:
            return ids
        before = p.older
    raise AssertionError("the pages never ended")


def test_pages_walk_every_row_once_newest_first_even_when_times_tie(db, add_deliveries):
    # Seven rows share one time: the id breaks the tie, so no row is skipped or shown twice at a page edge.
    rows = [{"created_at": T0} for _ in range(7)] + [{"created_at": T0 + timedelta(seconds=i)} for i in range(1, 4)]
    ids = add_deliveries(rows)
    expected = sorted(ids[7:], reverse=True) + sorted(ids[:7], reverse=True)
    for limit in (1, 2, 3, 4, 7, 50):
        assert walk(db, limit=limit) == expected


def test_newer_pages_walk_back_to_the_first_page(db, add_deliveries):
    ids = add_deliveries([{"created_at": T0 + timedelta(seconds=i % 3)} for i in range(10)])
    with db.read_session() as s:
        first = log.page(s, limit=4)
        assert first.newer is None and first.older is not None
        second = log.page(s, before=first.older, limit=4)
        third = log.page(s, before=second.older, limit=4)
        assert third.older is None and len(third.rows) == 2
        back = log.page(s, after=third.newer, limit=4)
        again = log.page(s, after=back.newer, limit=4)
    assert [r.id for r in back.rows] == [r.id for r in second.rows]
    assert [r.id for r in again.rows] == [r.id for r in first.rows] and again.newer is None
    assert sorted(r.id for p in (first, second, third) for r in p.rows) == sorted(ids)


def test_each_filter_keeps_only_its_rows(db, add_deliveries):
    ids = add_deliveries([
        {"account": "acme", "rule": "a", "status": "sent", "channel": "email", "recipient": "ann@x.test",
         "reason": "sent: 250 OK", "created_at": T0},
        {"account": "acme", "rule": "b", "status": "failed", "channel": "webhook", "recipient": "https://hook",
         "reason": "failed: 550 Mailbox UNAVAILABLE", "created_at": T0 + timedelta(days=1)},
        {"account": "initech", "rule": "a", "status": "pending", "channel": "in_app", "recipient": "Bob@X.test",
         "created_at": T0 + timedelta(days=2)},
    ])  # fmt: skip
    cases = {
        LogFilter(): ids[::-1],
        LogFilter(rule="a"): [ids[2], ids[0]],
        LogFilter(statuses=("failed",)): [ids[1]],
        LogFilter(statuses=("failed", "pending")): [ids[2], ids[1]],
        LogFilter(channel="in_app"): [ids[2]],
        LogFilter(account="acme"): [ids[1], ids[0]],
        LogFilter(recipient="ann@x.test"): [ids[0]],
        LogFilter(recipient="Bob@X.test"): [ids[2]],
        LogFilter(since=date(2026, 11, 2)): [ids[2], ids[1]],
        LogFilter(until=date(2026, 11, 2)): [ids[1], ids[0]],
        LogFilter(since=date(2026, 11, 2), until=date(2026, 11, 2)): [ids[1]],
        LogFilter(reason="mailbox unavailable"): [ids[1]],
        LogFilter(reason="%"): [],  # LIKE's wildcards are text here
        LogFilter(account="acme", rule="a", statuses=("sent",)): [ids[0]],
    }
    for f, expected in cases.items():
        assert walk(db, f, limit=2) == expected, f


def test_rows_show_the_recipient_as_a_person_and_the_account_by_its_own_id(db, add_deliveries):
    add_deliveries([{"account": "acme", "account_name": "Acme Corp", "contact": "Ann Lee", "recipient": "ann@x.test"},
                    {"account": "acme", "contact": None, "recipient": "https://hook.example"}])  # fmt: skip
    with db.read_session() as s:
        hook, ann = log.page(s).rows
    assert (ann.account, ann.account_name, ann.contact_name, ann.recipient) == ("acme", "Acme Corp", "Ann Lee", "ann@x.test")
    assert hook.contact_name is None and hook.recipient == "https://hook.example"


def test_unknown_rule_or_account_is_an_error_naming_the_field(db, add_deliveries):
    add_deliveries([{}])
    with db.read_session() as s:
        for f, field in ((LogFilter(rule="nope"), "rule"), (LogFilter(account="nope"), "account")):
            with pytest.raises(FilterError) as caught:
                log.page(s, f)
            assert caught.value.field == field and "'nope'" in caught.value.message


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        ({"status": "lost"}, "status", "expected one of pending"),
        ({"status": ["sent", "gone"]}, "status", "'gone'"),
        ({"channel": "sms"}, "channel", "expected one of email, in_app, webhook"),
        ({"since": "2026-13-01"}, "since", "not a date"),
        ({"until": "yesterday"}, "until", "YYYY-MM-DD"),
        ({"since": "2026-11-05", "until": "2026-11-04"}, "until", "before since"),
        ({"reason": "x" * 201}, "reason", "at most 200"),
        ({"recipient": "a\x00b"}, "recipient", "control characters"),
    ],
)
def test_bad_values_are_refused_naming_the_field(values, field, words):
    with pytest.raises(FilterError) as caught:
        LogFilter.parse(values)
    assert caught.value.field == field and words in caught.value.message


def test_parse_and_params_round_trip():
    values = {"rule": " nudge ", "status": ["failed", "unknown"], "channel": "email", "account": "acme",
              "recipient": "ann@x.test", "since": "2026-11-01", "until": "2026-11-30", "reason": "550"}  # fmt: skip
    f = LogFilter.parse(values)
    assert f == LogFilter("nudge", ("failed", "unknown"), "email", "acme", "ann@x.test", date(2026, 11, 1), date(2026, 11, 30), "550")
    assert LogFilter.parse(f.params()) == f
    assert LogFilter.parse({"rule": "", "status": [], "since": " "}).is_empty


def test_counts_by_status_for_the_filter_are_capped(db, add_deliveries):
    add_deliveries([{"status": "sent"}] * 7 + [{"status": "failed", "account": "other"}] * 2 + [{"status": "unknown"}])
    with db.read_session() as s:
        exact = log.count_by_status(s)
        capped = log.count_by_status(s, cap=5)
        acme = log.count_by_status(s, LogFilter(account="acme", statuses=("sent",)))
    assert exact.by_status == {"unknown": 1, "failed": 2, "sent": 7} and exact.total == 10 and not exact.total_capped
    assert list(exact.by_status) == ["unknown", "failed", "sent"]  # attention first
    assert capped.by_status["sent"] == 6 and capped.is_capped("sent") and not capped.is_capped("failed")
    assert capped.total == 8 and capped.total_capped
    # A status filter does not hide the other statuses' counts: they are what one switches to.
    assert acme.by_status == {"unknown": 1, "sent": 7}


def test_the_reason_search_is_bounded_and_resumes_where_it_stopped(db, add_deliveries, monkeypatch):
    monkeypatch.setattr(log, "REASON_SCAN", 4)
    ids = add_deliveries([{"reason": "bounce" if i in (0, 1) else "ok", "created_at": T0 + timedelta(seconds=i)}
                          for i in range(10)])  # fmt: skip
    f = LogFilter(reason="BOUNCE")
    with db.read_session() as s:
        first = log.page(s, f, limit=5)
        assert first.rows == [] and first.searched == 4 and first.older is not None
        assert first.searched_to == T0 + timedelta(seconds=6)
        counts = log.count_by_status(s, f)
        assert counts.by_status == {} and counts.searched == 4
    assert walk(db, f, limit=5) == [ids[1], ids[0]]


def test_export_reads_in_chunks_and_escapes_formulas(db, add_deliveries):
    ids = add_deliveries([{"reason": "=HYPERLINK(\"http://evil\")", "contact": "+Ann", "created_at": T0},
                          *({"created_at": T0 + timedelta(seconds=i)} for i in range(1, 6))])  # fmt: skip
    rows = list(log.export_rows(db, chunk=2))
    assert [r.id for r in rows] == ids[::-1]
    out = io.StringIO()
    assert write_csv(out, log.EXPORT_HEADER, map(log.export_record, rows)) == 6
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("id,created_at_utc,sent_at_utc,status")
    assert lines[-1].startswith(f"{ids[0]},2026-11-01T12:00:00Z,,sent,nudge,email,acme,acme Inc.,")
    assert "'+Ann" in lines[-1] and "\"'=HYPERLINK(\"\"http://evil\"\")\"" in lines[-1]


def test_export_holds_one_chunk_at_a_time(db, add_deliveries, monkeypatch):
    add_deliveries([{"created_at": T0 + timedelta(seconds=i)} for i in range(7)])
    sessions = []
    real = db.read_session

    def counting():
        sessions.append(1)
        return real()

    monkeypatch.setattr(db, "read_session", counting)
    rows = log.export_rows(db, chunk=3)
    assert next(rows) and len(sessions) == 1  # the first chunk only, not the whole table
    assert len(list(rows)) == 6 and len(sessions) == 3


@pytest.mark.parametrize("value", ["=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_formula_cells_become_text(value):
    assert csv_cell(value) == "'" + value
    assert csv_cell("a=1") == "a=1" and csv_cell(None) == "" and csv_cell(3) == "3"


@pytest.mark.parametrize(
    ("f", "index"),
    [
        (LogFilter(), "ix_deliveries_created"),
        (LogFilter(statuses=("pending",)), "ix_deliveries_status_created"),
        (LogFilter(account="acme"), "ix_deliveries_account_created"),
        (LogFilter(rule="nudge"), "ix_deliveries_rule_created"),
        (LogFilter(recipient="ann@x.test"), "ix_deliveries_recipient_created"),
        (LogFilter(channel="webhook"), "ix_deliveries_channel_created"),
    ],
)
def test_every_filter_walks_its_index_without_a_sort(db, add_deliveries, f, index):
    add_deliveries([{"recipient": "ann@x.test"}])
    with db.read_session() as s:
        if db.dialect == "postgresql":  # a table this small is read whole; ask whether the index can serve
            s.execute(text("SET LOCAL enable_seqscan = off"))
            s.execute(text("SET LOCAL enable_bitmapscan = off"))
            # and whether it serves the order too: sorting one row costs next to nothing, so without
            # this the planner may pick another index and sort (seen on a database with no statistics).
            s.execute(text("SET LOCAL enable_sort = off"))
        plan = log.query_plan(s, f)
        counts = [log.query_plan(s, f, count_status=status) for status in ("sent", "pending")]
    assert index in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan and "Seq Scan" not in plan, plan
    assert not any(line.startswith("SCAN deliveries") and "INDEX" not in line for line in plan.splitlines()), plan
    for count in counts:  # bounded index ranges too, never a full table scan
        assert "Seq Scan" not in count and "SCAN deliveries\n" not in count + "\n", count
        if f.account or f.recipient:  # the few rows of one account or address, not a whole status
            assert index in count, count
