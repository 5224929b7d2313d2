"""Unsubscribe tokens: what they carry, and that a changed or foreign token is refused."""

from __future__ import annotations

import base64
import dataclasses
import json

import pytest

from engine.compliance import (
    BadToken,
    InvalidAddress,
    InvalidCategory,
    TokenData,
    list_unsubscribe_headers,
    preferences_url,
    read_token,
    unsubscribe_token,
    unsubscribe_url,
)
from engine.settings import Settings

SETTINGS = Settings(secret_key="a-secret-key-for-tests-only")


def test_a_token_carries_the_normalised_address_category_contact_and_locale():
    token = unsubscribe_token(SETTINGS, "  Ann@Example.COM ", "onboarding", contact_id=42, locale="ja")
    assert read_token(SETTINGS, token) == TokenData("ann@example.com", "onboarding", 42, "ja")


def test_contact_and_locale_are_optional_and_no_category_means_all():
    assert read_token(SETTINGS, unsubscribe_token(SETTINGS, "b@x.test", "general")) == TokenData("b@x.test", "general")
    assert read_token(SETTINGS, unsubscribe_token(SETTINGS, "b@x.test", None)).category is None


def test_a_token_is_url_safe_and_stable():
    token = unsubscribe_token(SETTINGS, "ann@example.com", "onboarding", 7)
    assert token == unsubscribe_token(SETTINGS, "ANN@example.com", "onboarding", 7)
    assert all(c.isalnum() or c in "-_." for c in token)


def test_a_tampered_payload_is_refused():
    token = unsubscribe_token(SETTINGS, "ann@example.com", "onboarding")
    payload, signature = token.split(".")
    forged = base64.urlsafe_b64encode(json.dumps({"a": "boss@example.com", "c": "onboarding"}).encode()).decode()
    with pytest.raises(BadToken, match="changed"):
        read_token(SETTINGS, f"{forged.rstrip('=')}.{signature}")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    with pytest.raises(BadToken, match="changed"):
        read_token(SETTINGS, f"{payload}.{flipped}")


def test_a_cut_short_token_is_refused():
    token = unsubscribe_token(SETTINGS, "ann@example.com", "onboarding")
    for broken in (token[:-5], token.split(".")[0], "", "not-a-token", "x" * 3000):
        with pytest.raises(BadToken):
            read_token(SETTINGS, broken)


def test_a_token_signed_with_another_key_is_refused():
    other = dataclasses.replace(SETTINGS, secret_key="another-instance-secret")
    token = unsubscribe_token(other, "ann@example.com", "onboarding")
    with pytest.raises(BadToken, match="signature does not match"):
        read_token(SETTINGS, token)


def test_a_token_from_another_salt_is_refused():
    """A value signed for some other purpose with the same key is not an unsubscribe token."""
    from itsdangerous import URLSafeSerializer

    token = URLSafeSerializer(SETTINGS.secret_key, salt="something-else").dumps({"a": "ann@example.com"})
    with pytest.raises(BadToken):
        read_token(SETTINGS, token)


def test_bad_inputs_are_refused_when_making_a_token():
    with pytest.raises(InvalidAddress):
        unsubscribe_token(SETTINGS, "not an address", "general")
    with pytest.raises(InvalidCategory):
        unsubscribe_token(SETTINGS, "a@x.test", "Bad Category")
    with pytest.raises(ValueError, match="locale"):
        unsubscribe_token(SETTINGS, "a@x.test", "general", locale="ja<script>")
    with pytest.raises(ValueError, match="secret_key"):
        unsubscribe_token(Settings(secret_key=""), "a@x.test", "general")


def test_urls_and_rfc8058_headers():
    token = unsubscribe_token(SETTINGS, "ann@example.com", "onboarding")
    assert unsubscribe_url("https://t.example.com/", token) == f"https://t.example.com/u/{token}"
    assert preferences_url("https://t.example.com", token) == f"https://t.example.com/preferences/{token}"
    assert list_unsubscribe_headers("https://t.example.com", token) == {
        "List-Unsubscribe": f"<https://t.example.com/u/{token}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    with_mailto = list_unsubscribe_headers("https://t.example.com", token, mailto="leave@t.example.com")
    assert with_mailto["List-Unsubscribe"] == (
        f"<https://t.example.com/u/{token}>, <mailto:leave@t.example.com?subject=unsubscribe>"
    )


def test_one_click_needs_https_except_on_loopback():
    token = unsubscribe_token(SETTINGS, "ann@example.com", "onboarding")
    with pytest.raises(ValueError, match="https"):
        list_unsubscribe_headers("http://t.example.com", token)
    assert "List-Unsubscribe" in list_unsubscribe_headers("http://127.0.0.1:8000", token)
    with pytest.raises(ValueError, match="base_url"):
        unsubscribe_url("t.example.com", token)
