"""Dashboard figures: sends by channel and status in time ranges, capped attention counts, paused rules."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from engine.delivery.stats import attention_counts, dashboard_stats
from engine.ingest import upsert_accounts
from engine.models import Account, Delivery, RuleState, RuleVersion

NOW = datetime(2026, 11, 20, 15, tzinfo=timezone.utc)


def _seed(db, rows):
    """rows: (hours ago, channel, status); one account, one rule."""
    with db.session() as s:
        upsert_accounts(s, [{"id": "acme"}])
        account = s.query(Account).one()
        version = RuleVersion(rule_id="r", version=1, content="", content_hash="x", author="t")
        s.add(version)
        s.flush()
        s.add(RuleState(rule_id="r", active_version_id=version.id))
        for i, (hours, channel, status) in enumerate(rows):
            s.add(Delivery(
                dedupe_key=f"k{i}", rule_id="r", rule_version_id=version.id, action_index=0, channel=channel,
                template="t", account_id=account.id, recipient=f"u{i}@acme.example", occurrence="1", status=status,
                reason="smtp 550" if status == "failed" else None, created_at=NOW - timedelta(hours=hours),
            ))  # fmt: skip


def test_sends_today_and_this_week_by_channel_and_status(db):
    _seed(db, [
        (1, "email", "sent"), (2, "email", "sent"), (3, "in_app", "sent"), (14, "email", "failed"),  # today (UTC)
        (16, "email", "sent"), (24 * 6, "webhook", "unknown"),  # this week
        (24 * 8, "email", "sent"),  # older
        (1, "email", "test"),  # test sends never count
    ])  # fmt: skip
    with db.read_session() as s:
        stats = dashboard_stats(s, NOW)
    assert stats.today.counts == {("email", "sent"): 2, ("in_app", "sent"): 1, ("email", "failed"): 1}
    assert stats.week.counts == {("email", "sent"): 3, ("in_app", "sent"): 1, ("email", "failed"): 1, ("webhook", "unknown"): 1}
    assert (stats.today.total, stats.week.total, stats.week.by_status()["sent"]) == (4, 6, 4)
    assert stats.attention == {"failed": 1, "unknown": 1}
    assert [(r.status, r.account, r.reason) for r in stats.newest_attention] == [("failed", "acme", "smtp 550"), ("unknown", "acme", None)]
    assert (stats.accounts, stats.accounts_by_tier["tech"]) == (1, 1)


def test_attention_counts_stop_past_the_cap(db):
    _seed(db, [(1, "email", "failed")] * 5)
    with db.read_session() as s:
        assert attention_counts(s, cap=3) == {"failed": 4, "unknown": 0}


def test_paused_and_tripped_rules(db):
    _seed(db, [])
    with db.session() as s:
        state = s.get(RuleState, "r")
        state.paused, state.paused_reason = True, "circuit breaker: more than 1,000 messages in one cycle"
    with db.read_session() as s:
        paused = dashboard_stats(s, NOW).paused
    assert [(p.rule_id, p.tripped) for p in paused] == [("r", True)]
