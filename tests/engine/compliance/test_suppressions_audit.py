"""Suppression changes made by someone (CLI, API, the recipient) are audited in the same transaction."""

import pytest
from sqlalchemy import select

from engine.compliance import remove_suppressions, resubscribe, suppress
from engine.models import AuditEntry, Suppression


def _rows(db):
    with db.read_session() as s:
        return [(e.actor, e.action, e.object_id, e.before, e.after) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]


def test_add_and_remove_write_one_row_each_with_before_and_after(db):
    with db.session() as s:
        suppress(s, "Ann@Example.com", "unsubscribed", "newsletter", "cli", actor="cli:ops")
    with db.session() as s:
        suppress(s, "ann@example.com", "unsubscribed", "newsletter", "cli", actor="cli:ops")  # again: no change
    with db.session() as s:
        resubscribe(s, "ann@example.com", "newsletter", actor="recipient:ann@example.com")
    rows = _rows(db)
    assert rows == [
        ("cli:ops", "add", "ann@example.com", {"suppressed": {}, "rejoined": []},
         {"suppressed": {"newsletter": "unsubscribed"}, "rejoined": []}),
        ("recipient:ann@example.com", "remove", "ann@example.com",
         {"suppressed": {"newsletter": "unsubscribed"}, "rejoined": []}, {"suppressed": {}, "rejoined": []}),
    ]


def test_automatic_suppressions_pass_no_actor_and_write_no_row(db):
    with db.session() as s:
        suppress(s, "ann@example.com", "bounced", None, "delivery 7")
    assert _rows(db) == []


def test_removing_a_bounce_is_audited_and_a_rollback_takes_the_row_along(db):
    with db.session() as s:
        suppress(s, "ann@example.com", "bounced", None, "delivery 7")
    with pytest.raises(RuntimeError):
        with db.session() as s:
            remove_suppressions(s, "ann@example.com", None, actor="cli:ops")
            raise RuntimeError("failed later in the same transaction")
    assert _rows(db) == []
    with db.session() as s:
        removed = remove_suppressions(s, "ann@example.com", None, actor="cli:ops")
    assert [r.reason for r in removed] == ["bounced"]
    (row,) = _rows(db)
    assert row[:3] == ("cli:ops", "remove", "ann@example.com") and row[3]["suppressed"] == {"*": "bounced"}
    with db.read_session() as s:
        assert s.scalar(select(Suppression)) is None
