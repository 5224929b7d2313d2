"""``touchline audit list``: filters, paging, diffs; the trail has no command that changes it."""

from datetime import datetime, timezone

from click.testing import CliRunner

from engine.cli import cli
from engine.cli.audit_cmds import OBJECT_TYPES, audit_group
from engine.models import AUDIT_OBJECT_TYPES, AuditEntry


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_object_types_match_the_model():
    assert OBJECT_TYPES == AUDIT_OBJECT_TYPES


def test_there_is_no_command_to_change_the_trail():
    assert set(audit_group.commands) == {"list"}


def test_cli_changes_are_listed_with_the_os_user_and_diffs(db, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "ops")
    assert run("users", "create", "bob@example.com", "--password", "long enough pw").exit_code == 0
    assert run("users", "role", "bob@example.com", "editor").exit_code == 0
    out = run("audit", "list", "--diff").output.splitlines()
    assert "cli:ops  change_role user bob@example.com" in out[0]
    assert '    ~ role: "viewer" -> "editor"' in out
    assert "cli:ops  create user bob@example.com" in out[-4] and out[-3:] == [
        "    + active: true", "    + email: \"bob@example.com\"", "    + role: \"viewer\""]


def test_filters_and_pages(db):
    with db.session() as s:
        for i in range(3):
            s.add(AuditEntry(at=datetime(2026, 12, 1 + i, 12, tzinfo=timezone.utc), actor="cli:a", action="save",
                             object_type="rule", object_id=f"r{i}"))  # fmt: skip
        s.add(AuditEntry(at=datetime(2026, 12, 2, 13, tzinfo=timezone.utc), actor="user:z@x.test", action="revoke",
                         object_type="api_key", object_id="k1"))  # fmt: skip
    assert "k1" in run("audit", "list", "--object-type", "api_key").output
    assert "r1" not in run("audit", "list", "--object-type", "api_key").output
    day = run("audit", "list", "--since", "2026-12-02", "--until", "2026-12-02").output
    assert "r1" in day and "k1" in day and "r0" not in day and "r2" not in day
    first = run("audit", "list", "--actor", "cli:a", "--limit", "2").output.splitlines()
    assert "r2" in first[0] and "r1" in first[1] and first[2].startswith("more: --before ")
    rest = run("audit", "list", "--actor", "cli:a", "--limit", "2", "--before", first[2].split()[-1]).output
    assert "r0" in rest and "more:" not in rest
    assert run("audit", "list", "--object", "nothing").output.strip() == "no audit entries match these filters"


def test_bad_input_is_a_clear_error(db):
    bad = run("audit", "list", "--since", "last tuesday")
    assert bad.exit_code == 2 and "give a date (2026-12-03)" in bad.output
    backwards = run("audit", "list", "--since", "2026-12-03", "--until", "2026-12-01")
    assert backwards.exit_code == 2 and "since must be before until" in backwards.output
    cursor = run("audit", "list", "--before", "nope")
    assert cursor.exit_code == 2 and "not a page cursor" in cursor.output and "Traceback" not in cursor.output
