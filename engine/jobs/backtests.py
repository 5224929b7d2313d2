"""The admin's 30-day backtest of a draft rule as an RQ job, with progress and cancel.

On 100,000 accounts a backtest takes seconds to tens of seconds (bench/workbench_bench.py),
too long for a request: the editor starts a job, polls its status (days done of the range)
and may cancel it. The job reads the draft text itself, checks it as the editor did, and
returns the backtest as JSON (the queues use RQ's JSON serializer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime
from typing import Any

from rq import get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus

from engine.db import get_database
from engine.jobs.queues import SERIALIZER, get_queue, redis_connection
from engine.rules.backtest import Backtest, BacktestDay, backtest
from engine.rules.drafts import BACKTEST_DAYS, draft_source, known_templates
from engine.settings import Settings, load_settings

JOB_TIMEOUT = 600  # seconds; a year of days on a million accounts stays well inside
RESULT_TTL = 3600  # the editor reads the result once; an hour covers a page left open


class Cancelled(Exception):
    """Raised inside the job when its cancel flag is set: the job stops between two days."""


@dataclass(frozen=True)
class BacktestJob:
    job_id: str
    state: str  # queued | running | done | failed | cancelled | gone
    done: int  # days replayed so far
    total: int
    result: Backtest | None = None
    error: str | None = None


def _cancel_key(settings: Settings, job_id: str) -> str:
    return f"{settings.queue_prefix}:backtest:cancel:{job_id}"


def start_backtest(settings: Settings, *, text: str, rule_id: str | None, segments: Mapping[str, str], now: datetime,
                   days: int = BACKTEST_DAYS) -> str:  # fmt: skip
    """Queue the backtest of a draft; its job id. Raises RedisNotConfigured without Redis."""
    job = get_queue(settings=settings).enqueue(
        run_backtest,
        kwargs={"text": text, "rule_id": rule_id, "segments": dict(segments), "now": now.isoformat(), "days": days},
        job_timeout=JOB_TIMEOUT,
        result_ttl=RESULT_TTL,
        failure_ttl=RESULT_TTL,
        meta={"done": 0, "total": days},
    )
    return job.id


def run_backtest(text: str, rule_id: str | None, segments: dict[str, str], now: str, days: int) -> dict[str, Any]:
    """The job: check the draft, replay it day by day, report progress, stop when cancelled."""
    settings = load_settings()
    job = get_current_job()
    conn = redis_connection(settings)
    found = draft_source(text, rule_id=rule_id, segments=segments, templates=known_templates(settings.templates_dir))
    if isinstance(found, list):
        raise ValueError("; ".join(str(p) for p in found))

    def on_day(done: int, total: int) -> None:
        if job is not None:
            job.meta.update(done=done, total=total)
            job.save_meta()
            if conn.exists(_cancel_key(settings, job.id)):
                raise Cancelled(f"cancelled after {done} of {total} days")

    with get_database(settings.database_url).read_session() as session:
        result = backtest(session, found.rule, days, datetime.fromisoformat(now), on_day=on_day)
    return to_json(result)


def cancel_backtest(settings: Settings, job_id: str) -> None:
    """Ask the job to stop: a queued job is cancelled at once, a running one after its current day."""
    conn = redis_connection(settings)
    conn.set(_cancel_key(settings, job_id), 1, ex=RESULT_TTL)
    try:
        job = Job.fetch(job_id, connection=conn, serializer=SERIALIZER)
    except NoSuchJobError:
        return
    if job.get_status() == JobStatus.QUEUED:
        job.cancel()


def backtest_status(settings: Settings, job_id: str) -> BacktestJob:
    conn = redis_connection(settings)
    try:
        job = Job.fetch(job_id, connection=conn, serializer=SERIALIZER)
    except NoSuchJobError:
        return BacktestJob(job_id, "gone", 0, 0, error="no such backtest (it finished more than an hour ago, or never ran)")
    status = job.get_status()
    done, total = int(job.meta.get("done", 0)), int(job.meta.get("total", 0))
    if status == JobStatus.FINISHED:
        return BacktestJob(job_id, "done", total, total, result=from_json(job.return_value()))
    if status == JobStatus.CANCELED or (status == JobStatus.FAILED and conn.exists(_cancel_key(settings, job_id))):
        return BacktestJob(job_id, "cancelled", done, total)
    if status in (JobStatus.FAILED, JobStatus.STOPPED):
        info = job.latest_result()
        reason = exception_line(info.exc_string) if info and info.exc_string else "the job failed"
        return BacktestJob(job_id, "failed", done, total, error=reason)
    return BacktestJob(job_id, "running" if status == JobStatus.STARTED else "queued", done, total)


def exception_line(traceback: str) -> str:
    """``Type: message`` of the exception a traceback ends with; not its last line, which for
    SQLAlchemy's errors is only a link to their documentation."""
    lines = traceback.rstrip().splitlines()
    frames = [i for i, line in enumerate(lines) if line.startswith("  File ")]
    after = lines[frames[-1] + 1 :] if frames else lines
    return next((line for line in after if line and not line.startswith(" ")), lines[-1] if lines else "")


def to_json(result: Backtest) -> dict[str, Any]:
    data = asdict(result)
    data["now"] = result.now.isoformat()
    data["baseline"] = result.baseline.isoformat()
    for day in data["days"]:
        day["day"] = day["day"].isoformat()
    return data


def from_json(data: dict[str, Any]) -> Backtest:
    days = [BacktestDay(**{**d, "day": date.fromisoformat(d["day"])}) for d in data["days"]]
    return Backtest(data["rule_id"], datetime.fromisoformat(data["now"]), date.fromisoformat(data["baseline"]),
                    data["baseline_matched"], data["channels"], days)  # fmt: skip
