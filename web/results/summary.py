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

from flask import current_app
from sqlalchemy.orm import Session

from engine.results.counts import measured_until
from engine.results.report import RuleResults, all_results
from engine.rules.versions import active_versions

CACHE_KEY = "touchline.results"


@dataclass
class _Cache:
    lock: threading.Lock
    key: Any = None
    results: list[RuleResults] | None = None


def current_results(session: Session) -> list[RuleResults]:
    """Every applied rule's results in rule id order (``all_results``), as of the last pass."""
    cache: _Cache = current_app.extensions.setdefault(CACHE_KEY, _Cache(threading.Lock()))
    key = (measured_until(session), tuple(sorted(
        (rule_id, version.id, state.paused) for rule_id, (state, version) in active_versions(session).items())))  # fmt: skip
    with cache.lock:  # one request computes; the others wait for its answer
        if cache.key != key or cache.results is None:
            cache.results, cache.key = all_results(session), key
        return cache.results
