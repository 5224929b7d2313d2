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
        ("TOUCHLINE_SESSION_IDLE_MINUTES", "721", "TOUCHLINE_SESSION_IDLE_MINUTES='721': must be at most 720"),
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


@pytest.mark.parametrize(
    "env, message",
    [
        ({"TOUCHLINE_SMTP_URL": "http://mail.example.com"}, "TOUCHLINE_SMTP_URL='http://mail.example.com': expected smtp://"),
        ({"TOUCHLINE_SMTP_URL": "smtp://mail.example.com:port"}, "TOUCHLINE_SMTP_URL='smtp://mail.example.com:port': the port"),
        ({"TOUCHLINE_SMTP_URL": "smtp://"}, "TOUCHLINE_SMTP_URL='smtp://': no host name"),
        ({"TOUCHLINE_SMTP_URL": "smtp://u:hunter2@mail.example.com:x"}, "TOUCHLINE_SMTP_URL='smtp://u:***@mail.example.com:x'"),
        ({"TOUCHLINE_SMTP_TLS": "ssl"}, "TOUCHLINE_SMTP_TLS='ssl': expected one of starttls, tls, none"),
        ({"TOUCHLINE_SMTP_URL": "smtps://mail.example.com", "TOUCHLINE_SMTP_TLS": "starttls"}, "contradicts the smtps://"),
        ({"TOUCHLINE_SMTP_URL": "smtp://u:p@mail.example.com"}, "TOUCHLINE_SMTP_URL has a password but TOUCHLINE_SMTP_TLS=none"),
        ({"TOUCHLINE_SMTP_TIMEOUT": "0"}, "TOUCHLINE_SMTP_TIMEOUT='0': must be at least 1"),
        ({"TOUCHLINE_SMTP_CA_FILE": "/no/such/ca.pem"}, "TOUCHLINE_SMTP_CA_FILE='/no/such/ca.pem': no such file"),
        ({"TOUCHLINE_MAIL_FROM": "a@x.com, b@y.com"}, "TOUCHLINE_MAIL_FROM='a@x.com, b@y.com'"),
        ({"TOUCHLINE_WEBHOOK_URL": "hooks.example.com"}, "TOUCHLINE_WEBHOOK_URL='hooks.example.com': expected an http://"),
        ({"TOUCHLINE_WEBHOOK_SECRET": "short"}, "TOUCHLINE_WEBHOOK_SECRET is too short"),
        ({"TOUCHLINE_WEBHOOK_FORMAT": "xml"}, "TOUCHLINE_WEBHOOK_FORMAT='xml': expected one of json, slack"),
        ({"TOUCHLINE_WEBHOOK_TIMEOUT": "ten"}, "TOUCHLINE_WEBHOOK_TIMEOUT='ten': expected a whole number"),
    ],
)
def test_bad_delivery_settings_name_the_variable(monkeypatch, env, message):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert message in str(err.value)
    assert "hunter2" not in str(err.value)


def test_delivery_settings(monkeypatch):
    s = load_settings()
    assert (s.smtp_tls, s.smtp_timeout, s.mail_from, s.webhook_url, s.webhook_secret, s.webhook_format) == (
        "none", 30, "Touchline <touchline@localhost>", None, None, "json")
    # A password over a plain connection is fine on loopback (the mail catcher, a local relay).
    monkeypatch.setenv("TOUCHLINE_SMTP_URL", "smtp://u:p@127.0.0.1:1025")
    assert load_settings().smtp_tls == "none"
    monkeypatch.setenv("TOUCHLINE_SMTP_URL", "smtps://u:p@mail.example.com")
    assert load_settings().smtp_tls == "tls"
    monkeypatch.setenv("TOUCHLINE_SMTP_URL", "smtp://u:p@mail.example.com:587")
    monkeypatch.setenv("TOUCHLINE_SMTP_TLS", "STARTTLS")
    assert load_settings().smtp_tls == "starttls"


def test_templates_dir(monkeypatch, tmp_path):
    monkeypatch.delenv("TOUCHLINE_TEMPLATES_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert load_settings().templates_dir == tmp_path / "email_templates"
    monkeypatch.setenv("TOUCHLINE_TEMPLATES_DIR", "elsewhere/t")
    assert load_settings().templates_dir == tmp_path / "elsewhere" / "t"


def test_public_url_defaults_to_this_machine_and_rejects_non_urls(monkeypatch):
    from engine.settings import SettingsError, load_settings

    monkeypatch.setenv("TOUCHLINE_PORT", "8123")
    assert load_settings().public_url == "http://127.0.0.1:8123"
    monkeypatch.setenv("TOUCHLINE_PUBLIC_URL", "https://cs.example.com/")
    assert load_settings().public_url == "https://cs.example.com"
    monkeypatch.setenv("TOUCHLINE_PUBLIC_URL", "cs.example.com")
    with pytest.raises(SettingsError, match="TOUCHLINE_PUBLIC_URL"):
        load_settings()


def test_the_send_lease_must_outlast_one_provider_call(monkeypatch):
    from engine.settings import SettingsError, load_settings

    assert (load_settings().send_lease_seconds, load_settings().queue_grace_seconds) == (90, 90)
    monkeypatch.setenv("TOUCHLINE_SEND_LEASE_SECONDS", "20")
    monkeypatch.setenv("TOUCHLINE_SMTP_TIMEOUT", "30")
    with pytest.raises(SettingsError, match="TOUCHLINE_SEND_LEASE_SECONDS=20: must be longer"):
        load_settings()
    monkeypatch.setenv("TOUCHLINE_SMTP_TIMEOUT", "10")
    assert load_settings().send_lease_seconds == 20
