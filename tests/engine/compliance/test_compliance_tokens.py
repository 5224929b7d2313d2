"""Unsubscribe tokens: what they carry, and that a changed or foreign token is refused."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json

import pytest
from itsdangerous import URLSafeSerializer

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

# Tokens already sent in emails must keep reading back: a token made once, by
# this key and payload, pinned. A change of salt, digest, key derivation or
# payload layout makes a different string and fails here first.
GOLDEN_SETTINGS = Settings(secret_key="touchline-golden-key")
GOLDEN = (
    "eyJhIjoiYW5uQGV4YW1wbGUuY29tIiwiYyI6Im9uYm9hcmRpbmciLCJpIjo0MiwibCI6ImphIn0"
    ".KNlekaRYdEu-JysTx6y3ma0i3YG4ZxHrujEyXlgMcxA"
)
GOLDEN_EVERY_CATEGORY = "eyJhIjoiYW5uQGV4YW1wbGUuY29tIn0.klVARcHhiAK_fSyLSO21sg09bbLgtf51rT1-_gi08oU"


def signed(payload: object) -> str:
    """``payload`` signed as tokens are (docs/compliance.md), for payloads unsubscribe_token would not make."""
    serializer = URLSafeSerializer(
        SETTINGS.secret_key, salt="touchline.unsubscribe.v1", signer_kwargs={"digest_method": hashlib.sha256}
    )
    return serializer.dumps(payload)


def refusal(token: object) -> str:
    with pytest.raises(BadToken) as refused:
        read_token(SETTINGS, token)  # type: ignore[arg-type]
    return str(refused.value)


def test_a_known_token_is_made_and_still_reads_back():
    assert unsubscribe_token(GOLDEN_SETTINGS, "ann@example.com", "onboarding", contact_id=42, locale="ja") == GOLDEN
    assert read_token(GOLDEN_SETTINGS, GOLDEN) == TokenData("ann@example.com", "onboarding", 42, "ja")
    assert unsubscribe_token(GOLDEN_SETTINGS, "ann@example.com", None) == GOLDEN_EVERY_CATEGORY
    assert read_token(GOLDEN_SETTINGS, GOLDEN_EVERY_CATEGORY) == TokenData("ann@example.com", None)
    payload = GOLDEN.split(".")[0]
    assert json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))) == {
        "a": "ann@example.com", "c": "onboarding", "i": 42, "l": "ja",
    }  # fmt: skip


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


def test_each_bad_token_says_what_is_wrong():
    no_token = "the link has no token"
    changed = "the link is incomplete or has been changed (its signature does not match)"
    no_recipient = "the link's token does not name a recipient"
    bad_contact = "the link's token has a malformed contact id"
    assert refusal("") == no_token
    assert refusal(None) == no_token
    assert refusal(b"eyJhIjoiYSJ9.abc") == no_token
    assert refusal("x" * 2001) == "the link's token is too long to be one of ours"
    assert refusal("x" * 2000) == changed  # the longest token still read
    assert refusal("not-a-token") == changed
    assert refusal(signed(["ann@example.com"])) == no_recipient
    assert refusal(signed({"c": "onboarding"})) == no_recipient
    assert refusal(signed({"a": 42})) == no_recipient
    assert refusal(signed({"a": "not an address"})) == (
        "the link's token is malformed: address 'not an address': not an email address"
    )
    assert refusal(signed({"a": "ann@example.com", "c": "Bad Category"})).startswith(
        "the link's token is malformed: category 'Bad Category': use lowercase letters"
    )
    for contact_id in ("42", True, 42.0):
        assert refusal(signed({"a": "ann@example.com", "i": contact_id})) == bad_contact


def test_a_token_with_an_odd_locale_still_unsubscribes_in_the_default_language():
    for odd in (5, ["ja"], None):
        assert read_token(SETTINGS, signed({"a": "ann@example.com", "l": odd})).locale is None
    assert read_token(SETTINGS, signed({"a": "ann@example.com", "c": None})).category is None


def test_every_contact_id_a_token_is_made_with_reads_back():
    for contact_id in (0, 1, 42, 2**53, -1):
        assert read_token(SETTINGS, unsubscribe_token(SETTINGS, "a@x.test", "general", contact_id)).contact_id == contact_id
    for refused in (True, False, "42", 42.0):
        with pytest.raises(ValueError) as made:
            unsubscribe_token(SETTINGS, "a@x.test", "general", contact_id=refused)  # type: ignore[arg-type]
        assert str(made.value) == f"contact_id {refused!r}: expected a whole number"


def test_locales_up_to_sixteen_tag_characters():
    for locale in ("ja", "en-US", "zh_Hant", "x" * 16):
        assert read_token(SETTINGS, unsubscribe_token(SETTINGS, "a@x.test", "general", locale=locale)).locale == locale
    assert read_token(SETTINGS, unsubscribe_token(SETTINGS, "a@x.test", "general", locale="")).locale is None
    for refused in ("x" * 17, "ja<script>", "en US", "日本"):
        with pytest.raises(ValueError) as made:
            unsubscribe_token(SETTINGS, "a@x.test", "general", locale=refused)
        assert str(made.value) == f"locale {refused!r}: expected a tag such as 'ja' or 'en-US'"


def test_bad_inputs_are_refused_when_making_a_token():
    with pytest.raises(InvalidAddress):
        unsubscribe_token(SETTINGS, "not an address", "general")
    with pytest.raises(InvalidCategory):
        unsubscribe_token(SETTINGS, "a@x.test", "Bad Category")
    with pytest.raises(ValueError, match="locale"):
        unsubscribe_token(SETTINGS, "a@x.test", "general", locale="ja<script>")
    with pytest.raises(ValueError, match=r"^settings.secret_key is empty: unsubscribe tokens cannot be signed$"):
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
