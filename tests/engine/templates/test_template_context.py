from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from engine.ingest import track_events, upsert_accounts, upsert_contacts
from engine.models import Account, Contact
from engine.models.ruleset import RuleVersion
from engine.templates import ContextError, build_context
from engine.templates.context import Record

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
LINKS = {"app": "https://app.test/", "unsubscribe": "https://app.test/u/x", "preferences": "https://app.test/p/x"}


@pytest.fixture
def ids(db):
    with db.session() as s:
        upsert_accounts(s, [
            {"id": "acme", "name": "Acme", "plan": "pro", "mrr": "120.50", "tier": "tech", "owner": "csm@vendor.test",
             "renewal_at": "2026-04-01T00:00:00Z", "locale": "ja", "timezone": "Asia/Tokyo", "traits": {"industry": "retail"}},
            {"id": "bare", "name": "Bare"},
        ])  # fmt: skip
        upsert_contacts(s, [
            {"id": "ann", "account_id": "acme", "email": "ann@acme.test", "name": "Ann", "role": "admin", "locale": "en-US"},
            {"id": "nameless", "account_id": "acme", "email": "x@acme.test"},
            {"id": "bob", "account_id": "bare", "email": "bob@bare.test"},
        ])  # fmt: skip
        events = [
            {"id": f"r{n}", "account_id": "acme", "contact_id": "ann", "name": "report_run", "timestamp": (NOW - timedelta(days=d)).isoformat()}
            for n, d in enumerate([0, 0, 1, 6, 7, 20, 40])
        ]
        result = track_events(s, events, now=NOW, retention_days=3650)
        assert result.accepted == 7
        version = RuleVersion(rule_id="onboarding-stalled-day7", version=3, content="id: onboarding-stalled-day7\nname: Stalled onboarding, day 7\n",
                              content_hash="0" * 64, author="test")  # fmt: skip
        s.add(version)
        s.flush()
        accounts = dict(s.execute(select(Account.external_id, Account.id)).all())
        contacts = dict(s.execute(select(Contact.external_id, Contact.id)).all())
        return {**accounts, **contacts, "version": version.id}


def test_context_holds_everything_a_template_documents(db, ids):
    with db.read_session() as s:
        ctx = build_context(s, ids["acme"], ids["ann"], LINKS, NOW, rule_version_id=ids["version"])
    account, contact = ctx["account"], ctx["contact"]
    assert (account.name, account.plan, account.tier, account.external_id, account.owner) == ("Acme", "pro", "tech", "acme", "csm@vendor.test")
    assert account.mrr == Decimal("120.50") and account.renewal_at == datetime(2026, 4, 1, tzinfo=UTC)
    assert account.traits == {"industry": "retail"}
    assert (contact.name, contact.email, contact.role, contact.locale) == ("Ann", "ann@acme.test", "admin", "en-US")
    assert ctx["owner"].email == "csm@vendor.test"
    assert (ctx["rule"].id, ctx["rule"].name, ctx["rule"].version) == ("onboarding-stalled-day7", "Stalled onboarding, day 7", 3)
    assert ctx["links"] == LINKS and ctx["now"] == NOW and ctx["timezone"] == "Asia/Tokyo"
    usage = ctx["usage"]
    assert [usage.count("report_run", d) for d in (1, 2, 7, 8, 30, 90)] == [2, 3, 4, 5, 6, 7]
    assert usage.active_days("report_run", 30) == 5
    assert usage.count("login", 30) == 0


def test_null_fields_are_absent_and_contact_may_be_none(db, ids):
    with db.read_session() as s:
        ctx = build_context(s, ids["bare"], None, LINKS, NOW)
        nameless = build_context(s, ids["acme"], ids["nameless"], LINKS, NOW)["contact"]
    assert ctx["contact"] is None and ctx["owner"] is None and ctx["rule"] is None
    assert "plan" not in ctx["account"] and "renewal_at" not in ctx["account"]
    with pytest.raises(AttributeError):
        _ = ctx["account"].plan
    assert "name" not in nameless and nameless.email == "x@acme.test"
    assert ctx["timezone"] == "UTC"


def test_records_are_read_only():
    record = Record(name="x")
    with pytest.raises(AttributeError):
        record.name = "y"


def test_missing_rows_are_context_errors(db, ids):
    with db.read_session() as s:
        with pytest.raises(ContextError, match="account 999999 does not exist"):
            build_context(s, 999999, None, LINKS, NOW)
        with pytest.raises(ContextError, match="contact .* does not exist at account 'bare'"):
            build_context(s, ids["bare"], ids["ann"], LINKS, NOW)  # Ann works at Acme
        with pytest.raises(ContextError, match="rule version 424242"):
            build_context(s, ids["bare"], None, LINKS, NOW, rule_version_id=424242)
        with pytest.raises(ValueError, match="timezone-aware"):
            build_context(s, ids["bare"], None, LINKS, datetime(2026, 3, 2))


def test_usage_window_follows_the_utc_day_of_now(db, ids):
    # Late on March 1st in New York is already March 2nd in UTC: today's runs count.
    evening = datetime(2026, 3, 1, 22, 0, tzinfo=timezone(timedelta(hours=-5)))
    with db.read_session() as s:
        assert build_context(s, ids["acme"], None, LINKS, evening)["usage"].count("report_run", 1) == 2
    assert date(2026, 3, 2) == evening.astimezone(UTC).date()


def test_the_brand_is_the_senders_and_its_unset_fields_are_absent(db, ids):
    from engine.settings import Brand

    kumo = Brand(name="Kumo", company="Kumo K.K.", postal_address="1-2-3 Shibuya, Tokyo", support_email="help@kumo.test",
                 logo_url="https://kumo.test/logo.png", missing=())  # fmt: skip
    with db.read_session() as s:
        brand = build_context(s, ids["acme"], ids["ann"], LINKS, NOW, brand=kumo)["brand"]
        assert dict(brand) == {"name": "Kumo", "company": "Kumo K.K.", "postal_address": "1-2-3 Shibuya, Tokyo",
                               "support_email": "help@kumo.test", "logo_url": "https://kumo.test/logo.png"}  # fmt: skip
        bare = build_context(s, ids["acme"], None, LINKS, NOW, brand=Brand(name="Kumo", company=None, postal_address=None, support_email=None))
        assert dict(bare["brand"]) == {"name": "Kumo"}
        assert build_context(s, ids["acme"], None, LINKS, NOW)["brand"].name == Brand().name  # the demo's
