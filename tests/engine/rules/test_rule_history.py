"""A rule's history, newest first, and two versions side by side."""

import pytest

from engine.rules.edits import UnknownVersion, rollback_rule
from engine.rules.history import DiffRow, rule_history, side_by_side, version_diff
from engine.rules.validate import validate_text
from engine.rules.versions import UnknownRule, apply_rules

V1 = """id: r
name: R
when: {account.tier: tech}
actions:
  - email: {template: t, to: contacts}
holdout: 10%
"""
V2 = V1.replace("name: R", "name: Renamed").replace("holdout: 10%\n", "") + "limits:\n  per_account: {max: 1, per: 30d}\n"


def store(session, text, **kwargs):
    rule = validate_text(text, "r.yaml", expected_id="r").rule
    return apply_rules(session, [(rule, text)], kwargs.pop("author", "ann"), **kwargs)


def test_history_is_newest_first_with_origin_author_comment_and_active(db):
    with db.session() as s:
        store(s, V1, git_commit="c" * 40, comments={"r": "applied from rules/r.yaml"})
        store(s, V2, author="bea@example.com", origin="admin", comments={"r": "rename"}, actor="user:bea@example.com")
        rollback_rule(s, "r", 1, actor="user:bea@example.com", comment="back")
    with db.read_session() as s:
        history = rule_history(s, "r")
    assert [(v.version, v.origin, v.author, v.comment, v.git_commit, v.active, v.restored_from) for v in history] == [
        (3, "admin", "bea@example.com", "back", None, True, 1),
        (2, "admin", "bea@example.com", "rename", None, False, None),
        (1, "file", "ann", "applied from rules/r.yaml", "c" * 40, False, None),
    ]
    assert history[0].created_at >= history[2].created_at


def test_version_diff_pairs_changed_lines_and_keeps_line_numbers(db):
    with db.session() as s:
        store(s, V1)
        store(s, V2, origin="admin", comments={"r": "x"})
    with db.read_session() as s:
        diff = version_diff(s, "r", 1, 2)
    assert diff.rows[:2] == [DiffRow("equal", 1, "id: r", 1, "id: r"), DiffRow("changed", 2, "name: R", 2, "name: Renamed")]
    # The replaced block pairs line for line; the longer side's rest is added.
    assert diff.rows[-2:] == [
        DiffRow("changed", 6, "holdout: 10%", 6, "limits:"), DiffRow("added", None, None, 7, "  per_account: {max: 1, per: 30d}")
    ]
    assert diff.counts == {"changed": 2, "added": 1, "removed": 0} and not diff.identical
    assert diff.unified.splitlines()[:2] == ["--- r version 1", "+++ r version 2"] and "-name: R" in diff.unified
    with db.read_session() as s:
        same = version_diff(s, "r", 2, 2)
    assert same.identical and same.unified == "" and [r.left_no for r in same.rows] == list(range(1, 8))


def test_a_replaced_block_longer_on_one_side_pairs_then_adds():
    rows = side_by_side(["a", "b", "c"], ["a", "B", "B2", "B3", "c"])
    assert [r.kind for r in rows] == ["equal", "changed", "added", "added", "equal"]
    assert (rows[2].right_no, rows[4].left_no, rows[4].right_no) == (3, 3, 5)
    assert [r.kind for r in side_by_side(["x", "y"], ["z"])] == ["changed", "removed"]


def test_unknown_rules_and_versions_are_named(db):
    with db.read_session() as s, pytest.raises(UnknownRule, match="no rules are applied yet"):
        rule_history(s, "r")
    with db.session() as s:
        store(s, V1)
    with db.read_session() as s, pytest.raises(UnknownVersion, match=r"r has no version 5 \(versions: 1\)"):
        version_diff(s, "r", 1, 5)
