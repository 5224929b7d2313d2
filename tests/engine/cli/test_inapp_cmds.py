"""``touchline inapp-keys``: create (secret once), list, origins, revoke; every change audited."""

from click.testing import CliRunner
from sqlalchemy import select

from engine.cli import cli
from engine.models import AuditEntry, InAppKey


def run(*args):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_key_lifecycle(db):
    assert "no in-app app yet" in run("inapp-keys", "list").output
    created = run("inapp-keys", "create", "--origin", "https://App.Example.com/")
    assert created.exit_code == 0, created.output
    fields = dict(line.split(":  ", 1) for line in created.output.splitlines() if ":  " in line)
    app_id, kid, secret = fields["app id"].strip(), fields["key id"].strip(), fields["secret"].strip()
    assert app_id.startswith("app_") and kid.startswith("key_") and len(secret) >= 40
    listed = run("inapp-keys", "list").output
    assert app_id in listed and kid in listed and "https://app.example.com" in listed and secret not in listed
    second = run("inapp-keys", "create").output
    assert app_id in second  # the same app, a second key for rotation
    added = run("inapp-keys", "origins", "--add", "https://b.example.com").output.strip()
    assert added == "origins: https://app.example.com, https://b.example.com"
    assert run("inapp-keys", "origins", "--remove", "https://app.example.com").output.strip() == "origins: https://b.example.com"
    bad = run("inapp-keys", "origins", "--add", "https://x.example.com/path")
    assert bad.exit_code == 1 and "no path" in bad.output
    assert run("inapp-keys", "revoke", kid).exit_code == 0
    assert f"{kid}" in run("inapp-keys", "list").output and "revoked" in run("inapp-keys", "list").output
    unknown = run("inapp-keys", "revoke", "key_nope")
    assert unknown.exit_code == 1 and "no in-app key" in unknown.output
    with db.read_session() as s:
        assert s.scalar(select(InAppKey.revoked_at).where(InAppKey.kid == kid)) is not None
        actions = [(e.object_type, e.action) for e in s.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == [("setting", "create"), ("api_key", "create"), ("api_key", "create"), ("setting", "update"),
                       ("setting", "update"), ("api_key", "revoke")]  # fmt: skip
