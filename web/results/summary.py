"""Every rule's results, as the list page reads them: computed
by ``engine.results.report.all_results`` at most once per outcomes pass.

A rule's results cost the engine about half a second each at 100,000 accounts (the funnel
and the units are read from the deliveries and outcomes each time). Conversion figures and
verdicts change only when the outcomes pass runs (every 5 minutes), so the app keeps the
last answer until a pass has run since, or a rule is applied, edited, paused or resumed.
The funnel's unsubscribes may thus be one pass late; a rule's own page always computes
afresh. (The dashboard reads the harm flags the review stores: engine.results.harm.)
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy.orm import Session

from engine.delivery.policy import NO_POLICY, PolicyError, load_policy
from engine.results.counts import measured_until
from engine.results.program import ProgramResult, program_result
from engine.results.report import RuleResults, all_results
from engine.rules.versions import active_versions

CACHE_KEY = "touchline.results"
PROGRAM_KEY = "touchline.results.program"
PROGRAM_DAYS = 90


@dataclass
class _Cache:
    lock: threading.Lock
    key: Any = None
    results: Any = None


def current_results(session: Session) -> list[RuleResults]:
    """Every applied rule's results in rule id order (``all_results``), as of the last pass."""
    key = (measured_until(session), tuple(sorted(
        (rule_id, version.id, state.paused) for rule_id, (state, version) in active_versions(session).items())))  # fmt: skip
    return _cached(CACHE_KEY, key, lambda: all_results(session))


@dataclass(frozen=True)
class Program:
    """The program against the global holdout over the last PROGRAM_DAYS days, or why not."""

    result: ProgramResult | None
    off: str | None = None  # the global holdout is off (or the policy cannot be used): what to do


def current_program(session: Session, policy_file: Path | None) -> Program:
    """The whole program against the policy's global holdout, over the PROGRAM_DAYS UTC days before
    today: kept for the day (its rollups are complete up to yesterday) and the policy's version."""
    today = datetime.now(UTC).date()
    try:
        policy = load_policy(policy_file) if policy_file else NO_POLICY
    except PolicyError as exc:
        return Program(None, str(exc))
    holdout = policy.global_holdout
    if holdout is None or not holdout.on:
        return Program(None, "")
    key = (today, holdout)
    since = today - timedelta(days=PROGRAM_DAYS)
    return _cached(PROGRAM_KEY, key, lambda: Program(program_result(session, holdout, since=since, until=today)))


def _cached(name: str, key: Any, compute):
    cache: _Cache = current_app.extensions.setdefault(name, _Cache(threading.Lock()))
    with cache.lock:  # one request computes; the others wait for its answer
        if cache.key != key or cache.results is None:
            cache.results, cache.key = compute(), key
        return cache.results
