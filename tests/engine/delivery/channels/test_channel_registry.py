"""The registry, config checking and configs built from TOUCHLINE_* settings."""

from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from engine.delivery.channels import (
    CHANNELS,
    ChannelConfigError,
    EmailChannel,
    config_from_settings,
    get_channel,
)
from engine.delivery.message import delivery_id_from_message_id, message_id_for
from engine.settings import load_settings


def test_every_channel_is_registered_under_its_rule_name_with_a_valid_schema():
    assert set(CHANNELS) == {"email", "in_app", "webhook"}
    for name, cls in CHANNELS.items():
        assert cls.name == name
        Draft202012Validator.check_schema(cls.config_schema)


def test_unknown_channels_and_bad_configs_are_refused_by_name():
    with pytest.raises(ChannelConfigError, match="unknown channel 'sms'"):
        get_channel("sms", {})
    with pytest.raises(ChannelConfigError, match="email channel config: host: required, missing \\(set TOUCHLINE_SMTP_URL\\)"):
        get_channel("email", {})
    with pytest.raises(ChannelConfigError, match="security: 'ssl' is not one of .* \\(set TOUCHLINE_SMTP_TLS\\)"):
        get_channel("email", {"host": "mail.example.com", "security": "ssl"})
    with pytest.raises(ChannelConfigError, match="Additional properties are not allowed \\('hots' was unexpected\\)"):
        get_channel("email", {"host": "mail.example.com", "hots": "x"})


def test_defaults_are_filled_in():
    channel = get_channel("email", {"host": "mail.example.com"})
    assert channel.config["security"] == "none" and channel.config["timeout"] == 30
    assert channel.port == 25
    assert get_channel("email", {"host": "m", "security": "starttls"}).port == 587
    assert get_channel("email", {"host": "m", "security": "tls"}).port == 465


def test_email_config_from_settings(monkeypatch):
    monkeypatch.setenv("TOUCHLINE_SMTP_URL", "smtp://mailer%40acme:p%40ss%3Aword@mail.acme.test:2525")
    monkeypatch.setenv("TOUCHLINE_SMTP_TLS", "starttls")
    monkeypatch.setenv("TOUCHLINE_SMTP_TIMEOUT", "12")
    monkeypatch.setenv("TOUCHLINE_MAIL_FROM", "Acme Success <success@acme.test>")
    channel = get_channel("email", config_from_settings("email", load_settings()))
    assert isinstance(channel, EmailChannel)
    assert channel.config == {
        "host": "mail.acme.test", "port": 2525, "security": "starttls", "username": "mailer@acme",
        "password": "p@ss:word", "timeout": 12, "ca_file": None, "mail_from": "Acme Success <success@acme.test>",
        "local_hostname": None,
    }  # fmt: skip


def test_smtps_means_implicit_tls(monkeypatch):
    monkeypatch.setenv("TOUCHLINE_SMTP_URL", "smtps://u:p@mail.acme.test")
    channel = get_channel("email", config_from_settings("email", load_settings()))
    assert (channel.config["security"], channel.port) == ("tls", 465)


def test_webhook_config_from_settings(monkeypatch):
    monkeypatch.setenv("TOUCHLINE_WEBHOOK_URL", "https://hooks.acme.test/cs")
    monkeypatch.setenv("TOUCHLINE_WEBHOOK_SECRET", "0123456789abcdef-secret")
    config = config_from_settings("webhook", load_settings())
    assert config == {"url": "https://hooks.acme.test/cs", "secret": "0123456789abcdef-secret", "timeout": 10,
                      "format": "json"}
    assert get_channel("webhook", config).config["format"] == "json"


def test_message_ids_are_stable_and_lead_back_to_the_delivery():
    mid = message_id_for(1234, "Touchline.Example.COM")
    assert mid == "<touchline.delivery.1234@touchline.example.com>" == message_id_for(1234, "touchline.example.com")
    assert delivery_id_from_message_id(mid) == 1234
    assert delivery_id_from_message_id("<abc@gmail.com>") is None
    assert message_id_for(5, "例え.jp") == "<touchline.delivery.5@xn--r8jz45g.jp>"
    for bad in ("", "bad domain", "evil.com>\r\nBcc: x@y.z", "a..b"):
        with pytest.raises(ValueError):
            message_id_for(1, bad)
    with pytest.raises(ValueError):
        message_id_for(-1, "example.com")
