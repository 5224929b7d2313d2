import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from engine.models import Account, Base, Contact, RuleState, SegmentMembership
from engine.rules.plan import NOT_PLANNED_UNCHANGED, plan
from engine.rules.versions import apply_rules, read_rules

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
RULE = """\
id: tech-nudge
name: Tech nudge
when: {account.tier: tech}
actions:
  - email: {template: a, to: role:admin}
  - in_app: {template: b, to: contacts}
  - webhook: {template: c, to: owner}
  - email: {template: d, to: owner}
"""
CONTACT_RULE = """\
id: per-contact
name: Per contact
level: contact
when: {contact.role: admin}
actions:
  - email: {template: a, to: contact}
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "tech-nudge.yaml").write_text(RULE)
    (tmp_path / "per-contact.yaml").write_text(CONTACT_RULE)
    return tmp_path


@pytest.fixture
def dataset(db):
    """t1: tech, owner, 2 admins + 1 member; t2: tech, no owner, 1 admin;
    t3: tech, already in the segment; h1: high touch; h2: high touch, was in the segment."""
    specs = {
        "t1": ("tech", "csm@example.com", ["admin", "admin", "member"]),
        "t2": ("tech", None, ["admin"]),
        "t3": ("tech", "csm@example.com", ["admin"]),
        "h1": ("high", "csm@example.com", ["admin"]),
        "h2": ("high", None, ["admin"]),
    }
    ids = {}
    with db.session() as s:
        for ext, (tier, owner, roles) in specs.items():
            account = Account(external_id=ext, name=ext, tier=tier, owner=owner)
            s.add(account)
            s.flush()
            ids[ext] = account.id
            s.add_all(
                Contact(external_id=f"{ext}-{i}", account_id=account.id, role=r, email=f"{ext}-{i}@example.com")
                for i, r in enumerate(roles)
            )
        for ext in ("t3", "h2"):
            s.add(SegmentMembership(rule_id="tech-nudge", subject_key=f"account:{ids[ext]}", account_id=ids[ext]))
        # A closed stay and another rule's stay do not count.
        s.add(SegmentMembership(rule_id="tech-nudge", subject_key=f"account:{ids['t1']}", account_id=ids["t1"],
                                exited_at=NOW - timedelta(days=1)))  # fmt: skip
        s.add(SegmentMembership(rule_id="other", subject_key=f"account:{ids['t2']}", account_id=ids["t2"]))
    return ids


def run_plan(db, folder, **kwargs):
    loaded = read_rules([str(folder)])
    assert loaded.problems == []
    with db.read_session() as s:
        return {p.rule_id: p for p in plan(s, loaded.rules, NOW, **kwargs)}


def test_plan_counts_entering_leaving_and_messages(db, dataset, folder):
    plans = run_plan(db, folder)
    p = plans["tech-nudge"]
    assert (p.status, p.planned, p.paused) == ("new", True, False)
    assert (p.entering, p.leaving, p.staying) == (2, 1, 1)  # t1 and t2 enter; h2 leaves; t3 stays
    # email: admins of t1 (2) and t2 (1), plus t1's owner; in_app: all 4 contacts; webhook: t1's owner.
    assert p.messages == {"email": 4, "in_app": 4, "webhook": 1}
    assert p.sample == ["t1", "t2"]
    # The contact-level rule counts contacts: the six admins.
    c = plans["per-contact"]
    assert (c.planned, c.level, c.entering, c.leaving, c.messages) == (True, "contact", 6, 0, {"email": 6})
    assert c.sample == ["h1-0", "h2-0", "t1-0", "t1-1", "t2-0"]


def test_plan_contact_level_rule(db, dataset, folder):
    with db.session() as s:
        ids = {c.external_id: (c.id, c.account_id) for c in s.scalars(select(Contact))}
        for ext, exited in (("t1-0", None), ("t1-2", None), ("t2-0", NOW - timedelta(days=1))):
            contact_id, account_id = ids[ext]
            s.add(SegmentMembership(rule_id="per-contact", subject_key=f"contact:{contact_id}", account_id=account_id,
                                    contact_id=contact_id, exited_at=exited))  # fmt: skip
        # An account-level stay of the same rule id is not a contact's.
        s.add(SegmentMembership(rule_id="per-contact", subject_key=f"account:{ids['t3-0'][1]}", account_id=ids["t3-0"][1]))
        s.get(Contact, ids["h1-0"][0]).email = None
    (folder / "per-contact.yaml").write_text(CONTACT_RULE + """\
  - in_app: {template: b, to: contact}
  - email: {template: c, to: role:admin}
  - webhook: {template: d, to: owner}
""")
    p = run_plan(db, folder)["per-contact"]
    # t1-0 stays in; t1-2 (a member) leaves; t1-1, t2-0 (its stay was closed), t3-0, h1-0, h2-0 enter.
    assert (p.entering, p.leaving, p.staying) == (5, 1, 1)
    assert p.sample == ["h1-0", "h2-0", "t1-1", "t2-0", "t3-0"]
    # email to the contact: 4 (h1-0 has no address); to role:admin, per entering contact, its account's
    # admins with an address: t1-1 -> 2, t2-0 -> 1, t3-0 -> 1, h1-0 -> 0, h2-0 -> 1.
    # webhook to the owner of the accounts of t1-1, t3-0 and h1-0.
    assert p.messages == {"email": 4 + 5, "in_app": 5, "webhook": 3}


def test_sample_is_at_most_five(db, folder):
    with db.session() as s:
        s.add_all(Account(external_id=f"a{i}", name="a", tier="tech") for i in range(7))
    p = run_plan(db, folder)["tech-nudge"]
    assert (p.entering, p.sample) == (7, ["a0", "a1", "a2", "a3", "a4"])
    assert p.messages == {"email": 0, "in_app": 0, "webhook": 0}


def test_unchanged_rules_are_planned_only_when_asked(db, dataset, folder):
    with db.session() as s:
        apply_rules(s, read_rules([str(folder)]).rules, "ann")
    p = run_plan(db, folder)["tech-nudge"]
    assert (p.status, p.planned, p.note, p.entering) == ("unchanged", False, NOT_PLANNED_UNCHANGED, 0)
    assert (p.members, p.member_sample, p.evaluated_at) == (2, ["h2", "t3"], None)
    p = run_plan(db, folder, include_unchanged=True)["tech-nudge"]
    assert (p.status, p.planned, p.entering) == ("unchanged", True, 2)
    (folder / "tech-nudge.yaml").write_text(RULE.replace("Tech nudge", "Tech nudge 2"))
    assert run_plan(db, folder)["tech-nudge"].status == "changed"


def test_an_unchanged_rule_shows_its_current_segment(db, dataset, folder):
    # Who is in a live rule's segment, without evaluating it: its open stays, as the cycle left them.
    with db.session() as s:
        apply_rules(s, read_rules([str(folder)]).rules, "ann")
        contact = s.scalar(select(Contact).where(Contact.external_id == "t1-1"))
        s.add(SegmentMembership(rule_id="per-contact", subject_key=f"contact:{contact.id}", account_id=contact.account_id,
                                contact_id=contact.id))  # fmt: skip
        s.get(RuleState, "tech-nudge").last_evaluated_at = NOW - timedelta(minutes=5)
    plans = run_plan(db, folder)
    nudge, per_contact = plans["tech-nudge"], plans["per-contact"]
    assert (nudge.planned, nudge.members, nudge.member_sample) == (False, 2, ["h2", "t3"])  # h2 leaves once evaluated
    assert nudge.evaluated_at.replace(tzinfo=timezone.utc) == NOW - timedelta(minutes=5)
    # A contact-level rule's segment holds contacts; the account's open stay of another rule is not counted.
    assert (per_contact.members, per_contact.member_sample, per_contact.evaluated_at) == (1, ["t1-1"], None)


def _snapshot(db) -> dict[str, int]:
    with db.read_session() as s:
        return {t.name: s.scalar(select(func.count()).select_from(t)) for t in Base.metadata.sorted_tables}


def test_plan_writes_nothing(db, dataset, folder):
    with db.session() as s:
        apply_rules(s, read_rules([str(folder)]).rules, "ann")
    before = _snapshot(db)
    sqlite_file = Path(db.engine.url.database) if db.dialect == "sqlite" else None
    digest = _file_digest(sqlite_file) if sqlite_file else None
    (folder / "tech-nudge.yaml").write_text(RULE.replace("Tech nudge", "Tech nudge 2"))
    plans = run_plan(db, folder, include_unchanged=True)
    assert plans["tech-nudge"].entering == 2
    assert _snapshot(db) == before
    assert before["rule_versions"] == 2 and before["segment_memberships"] == 4
    if sqlite_file:
        # The database file and its write-ahead log are byte for byte the same.
        assert _file_digest(sqlite_file) == digest


def _file_digest(path: Path) -> str:
    # Read in another process: closing a descriptor of the database file in this one would drop
    # every POSIX lock SQLite holds on it here, and a process closing its last connection later
    # would then delete the write-ahead log under this process's open connections.
    script = (
        "import hashlib, pathlib, sys; p = pathlib.Path(sys.argv[1]); w = p.with_name(p.name + '-wal'); "
        "print(hashlib.sha256(p.read_bytes() + (w.read_bytes() if w.exists() else b'')).hexdigest())"
    )
    return subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True, text=True, check=True).stdout


def test_messages_after_holdout_leave_out_the_control_group(db, folder):
    from engine.delivery.holdout import in_holdout

    with db.session() as s:
        for i in range(40):
            account = Account(external_id=f"h{i:02}", name="h", tier="tech")
            s.add(account)
            s.flush()
            s.add_all(Contact(external_id=f"h{i:02}-{n}", account_id=account.id, role="admin", email=f"h{i}-{n}@x.test")
                      for n in range(2))  # fmt: skip
    (folder / "tech-nudge.yaml").write_text(RULE.replace("actions:", "holdout: 25%\nactions:"))
    p = run_plan(db, folder)["tech-nudge"]
    held = [f"h{i:02}" for i in range(40) if in_holdout("tech-nudge", f"h{i:02}", 25)]
    assert 0 < len(held) < 40  # the draw splits these accounts, so the test tells both sides apart
    assert p.held_out == len(held)
    assert p.messages == {"email": 80, "in_app": 80, "webhook": 0}
    # Two admins (email) and two contacts (in_app) per account in the group are not sent.
    assert p.messages_after_holdout == {"email": 80 - 2 * len(held), "in_app": 80 - 2 * len(held), "webhook": 0}


def test_without_holdout_every_message_is_kept(db, dataset, folder):
    p = run_plan(db, folder)["tech-nudge"]
    assert p.held_out == 0
    assert p.messages_after_holdout == p.messages
