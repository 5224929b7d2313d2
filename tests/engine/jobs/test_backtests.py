from datetime import datetime, timezone
from pathlib import Path

import pytest

from engine.jobs.backtests import _cancel_key, backtest_status, cancel_backtest, exception_line, start_backtest
from engine.jobs.queues import redis_connection
from engine.jobs.worker import make_worker
from engine.models import Account
from engine.rules.backtest import backtest
from engine.rules.validate import validate_text
from engine.settings import load_settings

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
RULE = "id: tech\nname: Tech\nwhen: {account.tier: tech}\nactions:\n  - email: {template: onboarding/stalled, to: owner}\n"


@pytest.fixture
def world(db, redis_url):
    with db.session() as s:
        s.add_all(Account(external_id=f"a{i}", name="a", tier="tech" if i % 2 else "high", owner="o@x.test") for i in range(6))
    return load_settings()


def test_the_job_returns_the_engines_backtest_with_progress(db, world, tmp_path: Path):
    job_id = start_backtest(world, text=RULE, rule_id=None, segments={}, now=NOW, days=5)
    assert backtest_status(world, job_id).state == "queued"
    assert make_worker().work(burst=True)
    found = backtest_status(world, job_id)
    with db.read_session() as s:
        expected = backtest(s, validate_text(RULE).rule, 5, NOW)
    assert (found.state, found.done, found.total) == ("done", 5, 5)
    assert found.result == expected


def test_cancel_a_queued_job(world, tmp_path: Path):
    job_id = start_backtest(world, text=RULE, rule_id=None, segments={}, now=NOW, days=5)
    cancel_backtest(world, job_id)
    make_worker().work(burst=True)
    assert backtest_status(world, job_id).state == "cancelled"


def test_a_running_job_stops_after_the_day_it_is_on(world, tmp_path: Path):
    job_id = start_backtest(world, text=RULE, rule_id=None, segments={}, now=NOW, days=5)
    # As if cancel came while it ran: only the flag, which the job reads after each day.
    redis_connection(world).set(_cancel_key(world, job_id), 1)
    make_worker().work(burst=True)
    found = backtest_status(world, job_id)
    assert (found.state, found.done, found.total) == ("cancelled", 1, 5)


def test_a_draft_with_problems_fails_with_them(world, tmp_path: Path):
    job_id = start_backtest(world, text="id: [", rule_id=None, segments={}, now=NOW, days=5)
    make_worker().work(burst=True)
    found = backtest_status(world, job_id)
    assert found.state == "failed" and "new-rule.yaml:1" in found.error


def test_an_unknown_job_is_gone(world):
    assert backtest_status(world, "no-such-job").state == "gone"


def test_a_failure_names_the_exception_not_its_documentation_link():
    traceback = (
        "Traceback (most recent call last):\n"
        '  File "x.py", line 1, in <module>\n'
        "    run()\n"
        "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked\n"
        "[SQL: SELECT 1]\n"
        "(Background on this error at: https://sqlalche.me/e/21/e3q8)\n"
    )
    assert exception_line(traceback) == "sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked"
    assert exception_line("ValueError: bad\n") == "ValueError: bad"
