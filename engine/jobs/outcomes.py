"""The goal outcomes pass as a periodic job (``touchline-outcomes``, every OUTCOMES_EVERY seconds).

After each pass, the rules' results are reviewed for plays that hurt (engine.results.harm).

Its own job rather than part of the tick: a pass (a full one once a day) never delays an
evaluation, and a Redis lock keeps a slow pass and the next one from running at once, as
for the tick and the dispatch. engine.results.outcomes does the work.
"""

from __future__ import annotations

import logging
from typing import Any

from engine.db import get_database
from engine.jobs.locks import single_run
from engine.jobs.queues import redis_connection
from engine.results.harm import review_harm
from engine.results.outcomes import measure
from engine.settings import Settings, load_settings

log = logging.getLogger(__name__)

OUTCOMES_EVERY = 300  # seconds
OUTCOMES_TIMEOUT = 600  # a full pass over millions of deliveries and events stays well within it
LOCK_TTL = 30  # renewed every third of it while the pass runs (engine.jobs.locks)


def lock_key(settings: Settings) -> str:
    return f"{settings.queue_prefix}:outcomes:lock"


def measure_outcomes() -> dict[str, Any]:
    """One outcomes pass, unless another one is running; what it did."""
    settings = load_settings()
    conn = redis_connection(settings)
    with single_run(conn, lock_key(settings), LOCK_TTL) as mine:
        if not mine:
            log.info("outcomes pass skipped: another one holds %s", lock_key(settings))
            return {"status": "skipped", "reason": "another outcomes pass is running"}
        db = get_database(settings.database_url)
        report = measure(db)
        harm = _review(db, settings)
    outcome = {"status": "ok", **report.as_dict(), "harm": harm}
    log.info("outcomes %s", outcome)
    return outcome


def _review(db, settings: Settings) -> dict[str, Any]:
    """Flag the plays that hurt, from the figures just measured; a failure here never fails the pass."""
    try:
        return review_harm(db, settings).as_dict()
    except Exception as exc:  # noqa: BLE001 -- logged; the next pass reviews again
        log.exception("harm review failed")
        return {"error": f"{type(exc).__name__}: {exc}"}
