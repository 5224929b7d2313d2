from click.testing import CliRunner

from engine.cli import cli


def run(*args, input=None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


def test_commands_refuse_an_unmigrated_database(tmp_path, monkeypatch):
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    result = run("api-keys", "list")
    assert result.exit_code == 1
    assert "run 'touchline db upgrade'" in result.output
    assert run("db", "upgrade").exit_code == 0
    from engine.migrate import MIGRATIONS

    latest = max(p.name.split("_")[0] for p in (MIGRATIONS / "versions").glob("[0-9]*_*.py"))
    assert f"current: {latest}  latest: {latest}" in run("db", "current").output
    assert run("api-keys", "list").exit_code == 0


def test_api_key_lifecycle(db):
    created = run("api-keys", "create", "backend")
    assert created.exit_code == 0
    token = created.output.strip().splitlines()[-1]
    prefix = token.split("_")[1]
    assert f"{prefix}  backend" in run("api-keys", "list").output
    assert run("api-keys", "revoke", prefix).exit_code == 0
    assert "revoked" in run("api-keys", "list").output
    again = run("api-keys", "revoke", prefix)
    assert again.exit_code == 1 and "no active API key" in again.output


def test_users_create_and_list(db):
    result = run("users", "create", "ops@example.com", "--role", "editor", "--password", "long enough pw")
    assert result.exit_code == 0, result.output
    assert "ops@example.com" in run("users", "list").output
    short = run("users", "create", "x@example.com", "--password", "short")
    assert short.exit_code == 1 and "at least 10" in short.output


def test_database_problems_are_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", "nonsense")
    result = run("db", "current")
    assert result.exit_code == 1 and "TOUCHLINE_DATABASE_URL is not a database URL" in result.output
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", f"sqlite:///{blocker / 'sub' / 'x.db'}")
    result = run("db", "current")
    assert result.exit_code == 1 and "cannot open the database" in result.output
    monkeypatch.setenv("TOUCHLINE_DATABASE_URL", f"sqlite:///{tmp_path / 'ok.db'}")
    result = run("db", "upgrade", "bogus")
    assert result.exit_code == 1 and "bogus" in result.output and "Traceback" not in result.output


def test_users_password_disable_and_enable(db):
    from sqlalchemy import select

    from engine.auth import authenticate
    from engine.models import User

    assert run("users", "create", "ops@example.com", "--password", "long enough pw").exit_code == 0
    changed = run("users", "password", "Ops@example.com", "--password", "another long pw")
    assert changed.exit_code == 0 and "sessions have ended" in changed.output
    assert run("users", "disable", "ops@example.com").exit_code == 0
    assert "disabled" in run("users", "list").output
    assert run("users", "enable", "ops@example.com").exit_code == 0
    with db.session() as session:
        assert authenticate(session, "ops@example.com", "another long pw") is not None
        assert session.scalar(select(User.session_generation)) == 2
    missing = run("users", "disable", "nobody@example.com")
    assert missing.exit_code == 1 and "no user with email 'nobody@example.com'" in missing.output
    short = run("users", "password", "ops@example.com", "--password", "short")
    assert short.exit_code == 1 and "at least 10" in short.output
