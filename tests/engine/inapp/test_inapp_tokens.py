"""Identity tokens: only a fresh HS256 token for this app's live key names a contact."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from engine.inapp.keys import create_key, revoke_key
from engine.inapp.tokens import InvalidToken, mint_token, verify_token
from engine.models import Account, Contact

NOW = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)


@pytest.fixture
def app_key(db):
    with db.session() as s:
        a = Account(external_id="acme", name="Acme")
        b = Account(external_id="globex", name="Globex")
        s.add_all([a, b])
        s.flush()
        s.add_all([Contact(external_id="ann", account_id=a.id, email="ann@acme.test"),
                   Contact(external_id="bob", account_id=b.id, email="bob@globex.test")])  # fmt: skip
        return create_key(s, actor="cli:test", origins=["https://app.example.com"])


def verify(db, app_id, token, now=NOW):
    with db.read_session() as s:
        return verify_token(s, app_id, token, now)


def test_a_fresh_token_names_its_contact(db, app_key):
    who = verify(db, app_key.app_id, mint_token(app_key.secret, app_key.kid, contact="ann", account="acme", now=NOW))
    assert (who.contact, who.account, who.kid) == ("ann", "acme", app_key.kid)
    other = verify(db, app_key.app_id, mint_token(app_key.secret, app_key.kid, contact="bob", account="globex", now=NOW))
    assert other.contact_id != who.contact_id


def claims(**overrides):
    base = {"sub": "ann", "account": "acme", "iat": int(NOW.timestamp()), "exp": int((NOW + timedelta(hours=1)).timestamp())}
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda k: jwt.encode(claims(exp=int((NOW - timedelta(minutes=5)).timestamp())), k.secret, "HS256", headers={"kid": k.kid}), "expired"),
        (lambda k: jwt.encode(claims(iat=int((NOW + timedelta(minutes=10)).timestamp()), exp=int((NOW + timedelta(hours=2)).timestamp())),
                              k.secret, "HS256", headers={"kid": k.kid}), "in the future"),
        (lambda k: jwt.encode(claims(exp=int((NOW + timedelta(hours=25)).timestamp())), k.secret, "HS256", headers={"kid": k.kid}), "longer than 24 hours"),
        (lambda k: jwt.encode(claims(exp=None), k.secret, "HS256", headers={"kid": k.kid}), "no 'exp' claim"),
        (lambda k: jwt.encode(claims(iat=None), k.secret, "HS256", headers={"kid": k.kid}), "no 'iat' claim"),
        (lambda k: jwt.encode(claims(account=None), k.secret, "HS256", headers={"kid": k.kid}), "no 'account' claim"),
        (lambda k: jwt.encode(claims(), "another secret of enough length!!", "HS256", headers={"kid": k.kid}), "signature does not match"),
        (lambda k: jwt.encode(claims(), k.secret, "HS512", headers={"kid": k.kid}), "must be HS256"),
        (lambda k: f"{b64({'alg': 'none', 'typ': 'JWT', 'kid': k.kid})}.{b64(claims())}.", "must be HS256"),
        (lambda k: jwt.encode(claims(), k.secret, "HS256", headers={"kid": "key_unknown"}), "no key 'key_unknown'"),
        (lambda k: jwt.encode(claims(), k.secret, "HS256"), "no kid"),
        (lambda k: jwt.encode(claims(sub="bob"), k.secret, "HS256", headers={"kid": k.kid}), "no contact 'bob' in account 'acme'"),
        (lambda k: "not.a.jwt", "not a JWT"),
    ],
)
def test_bad_tokens_are_refused_saying_why(db, app_key, make, reason):
    with pytest.raises(InvalidToken, match=reason):
        verify(db, app_key.app_id, make(app_key))


def test_a_tampered_token_is_refused(db, app_key):
    token = mint_token(app_key.secret, app_key.kid, contact="ann", account="acme", now=NOW)
    header, _, signature = token.split(".")
    forged = f"{header}.{b64(claims(sub='bob', account='globex'))}.{signature}"
    with pytest.raises(InvalidToken, match="signature does not match"):
        verify(db, app_key.app_id, forged)


def test_a_token_is_for_its_own_app_and_a_revoked_key_stops_at_once(db, app_key):
    token = mint_token(app_key.secret, app_key.kid, contact="ann", account="acme", now=NOW)
    with pytest.raises(InvalidToken, match="no key"):
        verify(db, "app_other", token)
    with db.session() as s:
        second = create_key(s, actor="cli:test")  # rotation: both valid
    assert second.app_id == app_key.app_id
    verify(db, app_key.app_id, mint_token(second.secret, second.kid, contact="ann", account="acme", now=NOW))
    with db.session() as s:
        revoke_key(s, app_key.kid, actor="cli:test")
    with pytest.raises(InvalidToken, match="was revoked"):
        verify(db, app_key.app_id, token)
    verify(db, app_key.app_id, mint_token(second.secret, second.kid, contact="ann", account="acme", now=NOW))
