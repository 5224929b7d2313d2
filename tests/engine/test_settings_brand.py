"""The sender's brand (TOUCHLINE_BRAND_*) and where recipients reach this instance (TOUCHLINE_PUBLIC_URL)."""

import pytest

from engine.settings import BRAND_REQUIRED, Brand, SettingsError, load_settings, note_running_url

BRAND_ENV = {
    "TOUCHLINE_BRAND_NAME": "Kumo Analytics",
    "TOUCHLINE_BRAND_COMPANY": "Kumo K.K.",
    "TOUCHLINE_BRAND_POSTAL_ADDRESS": "1-2-3 Shibuya,  Shibuya-ku, Tokyo 150-0002",
    "TOUCHLINE_BRAND_SUPPORT_EMAIL": "support@kumo.example",
    "TOUCHLINE_BRAND_LOGO_URL": "https://kumo.example/logo.png",
}


@pytest.fixture
def production(monkeypatch):
    monkeypatch.setenv("TOUCHLINE_ENV", "production")
    monkeypatch.setenv("TOUCHLINE_SECRET_KEY", "a-long-enough-production-secret")


def test_the_brand_comes_from_the_environment(monkeypatch, production):
    for name, value in BRAND_ENV.items():
        monkeypatch.setenv(name, value)
    assert load_settings().brand == Brand(
        name="Kumo Analytics", company="Kumo K.K.", postal_address="1-2-3 Shibuya, Shibuya-ku, Tokyo 150-0002",
        support_email="support@kumo.example", logo_url="https://kumo.example/logo.png", missing=(),
    )  # fmt: skip


def test_outside_production_demo_values_stand_in_and_are_reported_missing(monkeypatch):
    brand = load_settings().brand
    assert (brand.name, brand.company, brand.support_email) == ("Example App", "Example Inc.", "support@example.com")
    assert brand.postal_address and brand.logo_url is None
    assert brand.missing == BRAND_REQUIRED
    # A company given and no product name: the company names the product too.
    monkeypatch.setenv("TOUCHLINE_BRAND_COMPANY", "Kumo K.K.")
    assert (load_settings().brand.name, load_settings().brand.missing) == ("Kumo K.K.", BRAND_REQUIRED[1:])


def test_production_has_no_demo_values(monkeypatch, production):
    monkeypatch.setenv("TOUCHLINE_MAIL_FROM", "Kumo Analytics <hello@kumo.example>")
    brand = load_settings().brand
    assert (brand.company, brand.postal_address, brand.support_email) == (None, None, None)
    assert brand.missing == BRAND_REQUIRED
    assert brand.name == "Kumo Analytics"  # the sender's display name, never "Example App"
    monkeypatch.setenv("TOUCHLINE_MAIL_FROM", "hello@kumo.example")
    assert load_settings().brand.name == "kumo.example"


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("TOUCHLINE_BRAND_SUPPORT_EMAIL", "support at kumo", "TOUCHLINE_BRAND_SUPPORT_EMAIL='support at kumo': "),
        ("TOUCHLINE_BRAND_POSTAL_ADDRESS", "1-2-3 Shibuya\nTokyo", "TOUCHLINE_BRAND_POSTAL_ADDRESS='1-2-3 Shibuya\\nTokyo': expected one line"),
        ("TOUCHLINE_BRAND_COMPANY", "K" * 201, "TOUCHLINE_BRAND_COMPANY: 201 characters; at most 200"),
        ("TOUCHLINE_BRAND_LOGO_URL", "logo.png", "TOUCHLINE_BRAND_LOGO_URL='logo.png': expected an http:// or https:// URL"),
    ],
)
def test_bad_brand_values_name_the_variable(monkeypatch, name, value, message):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert message in str(err.value)


def test_public_url_follows_the_port_touchline_up_runs_on(monkeypatch, tmp_path):
    monkeypatch.setenv("TOUCHLINE_INSTANCE_DIR", str(tmp_path))
    monkeypatch.delenv("TOUCHLINE_PORT", raising=False)
    assert load_settings().public_url == "http://127.0.0.1:8000"
    note_running_url(tmp_path, "http://127.0.0.1:9123")
    assert load_settings().public_url == "http://127.0.0.1:9123"
    # What is set explicitly wins over the note.
    monkeypatch.setenv("TOUCHLINE_PORT", "8123")
    assert load_settings().public_url == "http://127.0.0.1:8123"
    monkeypatch.setenv("TOUCHLINE_PUBLIC_URL", "https://cs.example.com")
    assert load_settings().public_url == "https://cs.example.com"
    monkeypatch.delenv("TOUCHLINE_PUBLIC_URL")
    monkeypatch.delenv("TOUCHLINE_PORT")
    note_running_url(tmp_path, None)
    assert load_settings().public_url == "http://127.0.0.1:8000"
