import pytest

from engine.settings import SettingsError, load_settings


def test_embedded_defaults(monkeypatch, tmp_path):
    monkeypatch.setenv("TOUCHLINE_INSTANCE_DIR", str(tmp_path))
    monkeypatch.delenv("TOUCHLINE_DATABASE_URL", raising=False)
    s = load_settings()
    assert s.database_url == f"sqlite:///{tmp_path / 'touchline.db'}"
    assert s.redis_url is None and s.smtp_url is None
    assert s.secret_key_generated and len(s.secret_key) >= 32
    # The generated key is kept, so sessions survive a restart.
    assert load_settings().secret_key == s.secret_key
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600


def test_production_refuses_without_secret_key(monkeypatch):
    monkeypatch.setenv("TOUCHLINE_ENV", "production")
    monkeypatch.delenv("TOUCHLINE_SECRET_KEY", raising=False)
    with pytest.raises(SettingsError, match="TOUCHLINE_SECRET_KEY is not set"):
        load_settings()
    monkeypatch.setenv("TOUCHLINE_SECRET_KEY", "short")
    with pytest.raises(SettingsError, match="too short"):
        load_settings()
    monkeypatch.setenv("TOUCHLINE_SECRET_KEY", "a-long-enough-production-secret")
    assert load_settings().production


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("TOUCHLINE_PORT", "eighty", "TOUCHLINE_PORT='eighty': expected a whole number"),
        ("TOUCHLINE_WORKERS", "0", "TOUCHLINE_WORKERS='0': must be at least 1"),
        ("TOUCHLINE_ENV", "staging", "TOUCHLINE_ENV='staging'"),
        ("TOUCHLINE_PORT", "70000", "TOUCHLINE_PORT='70000': must be at most 65535"),
        ("TOUCHLINE_TICK_CRON", "every minute", "TOUCHLINE_TICK_CRON='every minute' is not a valid cron expression"),
        ("TOUCHLINE_API_RATE_LIMIT", "2 per minutes please", "expected a rate such as '600/minute'"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert message in str(err.value)


def test_cli_reports_configuration_errors_cleanly(monkeypatch):
    from click.testing import CliRunner

    from engine.cli import cli

    monkeypatch.setenv("TOUCHLINE_ENV", "production")
    monkeypatch.delenv("TOUCHLINE_SECRET_KEY", raising=False)
    result = CliRunner().invoke(cli, ["db", "current"])
    assert result.exit_code != 0
    assert "TOUCHLINE_SECRET_KEY is not set" in result.output


def test_concurrent_starts_agree_on_one_secret_key(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    from engine.settings import _instance_secret

    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: _instance_secret(tmp_path), range(32)))
    assert len(keys) == 1 and "" not in keys
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]
