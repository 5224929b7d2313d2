"""Migration 0023 reads every goal recorded before it as an event goal, keeps the outcome ids
growing where they were (SQLite copies the table), and going back drops what an event-only
schema cannot hold."""

from datetime import datetime

from sqlalchemy import text

from engine import migrate

AT = datetime(2026, 11, 1, 12, 0)


def test_goals_recorded_before_are_event_goals(db):
    """On the test database (SQLite, or PostgreSQL when configured): back to 0022, rows, up and down again."""
    migrate.downgrade(db, "0022")
    try:
        _fill_and_upgrade(db)
    finally:
        migrate.upgrade(db)


def _fill_and_upgrade(db):
    with db.engine.begin() as conn:
        conn.execute(text("INSERT INTO accounts (external_id, name, tier, traits, created_at, updated_at) "
                          "VALUES ('a', 'a', 'tech', '{}', :at, :at)"), {"at": AT})  # fmt: skip
        account = conn.scalar(text("SELECT id FROM accounts"))
        versions = [
            conn.scalar(text("INSERT INTO rule_versions (rule_id, version, content, content_hash, author, origin, created_at) "
                             "VALUES ('r', :n, 'x', 'h', 't', 'file', :at) RETURNING id"), {"n": n, "at": AT})
            for n in (1, 2)
        ]  # fmt: skip
        conn.execute(text("INSERT INTO outcome_goals (rule_version_id, rule_id, goal_event, window_days, read_at) "
                          "VALUES (:v1, 'r', 'project_created', 14, :at), (:v2, 'r', NULL, NULL, :at)"),
                     {"v1": versions[0], "v2": versions[1], "at": AT})  # fmt: skip
        delivery = conn.scalar(text(
            "INSERT INTO deliveries (dedupe_key, rule_id, rule_version_id, action_index, channel, template, account_id, "
            "recipient, occurrence, status, explanation, due_at, category, priority, attempts, created_at, updated_at) "
            "VALUES ('k', 'r', :v, 0, 'email', 't', :a, 'x', 'enter:1', 'sent', '{}', :at, 'general', 0, 0, :at, :at) "
            "RETURNING id"), {"v": versions[0], "a": account, "at": AT})  # fmt: skip
        insert = text(
            "INSERT INTO goal_outcomes (rule_id, rule_version_id, account_id, occurrence, arm, delivery_id, goal_event, "
            "exposed_at, window_ends_at, state, created_at, updated_at) "
            "VALUES ('r', :v, :a, :occ, 'treated', :d, 'project_created', :at, :at, 'open', :at, :at) RETURNING id"
        )  # fmt: skip
        ids = [conn.scalar(insert, {"v": versions[0], "a": account, "occ": f"enter:{n}", "d": delivery, "at": AT})
               for n in (1, 2, 3)]  # fmt: skip
        conn.execute(text("DELETE FROM goal_outcomes WHERE id = :id"), {"id": ids[-1]})  # the highest id, gone
    migrate.upgrade(db, "0023")
    with db.engine.begin() as conn:
        goals = conn.execute(text("SELECT rule_version_id, goal_kind, goal_event, goal_condition FROM outcome_goals")).all()
        assert sorted(goals) == [(versions[0], "event", "project_created", None), (versions[1], None, None, None)]
        kept = conn.execute(text("SELECT id, goal_kind, goal_event FROM goal_outcomes ORDER BY id")).all()
        assert kept == [(ids[0], "event", "project_created"), (ids[1], "event", "project_created")]
        # A new outcome's id is above every id handed out before, the deleted one's too.
        new = conn.scalar(text(
            "INSERT INTO goal_outcomes (rule_id, rule_version_id, account_id, occurrence, arm, delivery_id, goal_kind, "
            "exposed_at, window_ends_at, state, created_at, updated_at) "
            "VALUES ('r', :v, :a, 'enter:9', 'control', :d, 'leave', :at, :at, 'open', :at, :at) RETURNING id"),
            {"v": versions[1], "a": account, "d": delivery, "at": AT})  # fmt: skip
        assert new > ids[-1]
    migrate.downgrade(db, "0022")
    with db.engine.begin() as conn:
        # Back to event goals only: the leave outcome cannot be kept (its goal_event would be empty).
        assert conn.execute(text("SELECT id, goal_event FROM goal_outcomes ORDER BY id")).all() == [
            (ids[0], "project_created"), (ids[1], "project_created")]
