"""Every template the shipped rules use exists in English and Japanese and renders against demo data."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from engine.demo import seed
from engine.models import Account, Contact
from engine.rules.validate import check_paths
from engine.templates import TemplateLibrary, build_context, locale_chain
from tables import empty_tables

ROOT = Path(__file__).resolve().parents[3]
LIBRARY = TemplateLibrary(ROOT / "email_templates")
REF = datetime(2026, 3, 2, tzinfo=UTC)
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
RULE_TEMPLATES = {(a.template, a.channel) for r in check_paths([str(ROOT / "rules")]).rules for a in r.actions}
JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@pytest.fixture(autouse=True)
def _long_retention(monkeypatch):
    monkeypatch.setenv("TOUCHLINE_EVENT_RETENTION_DAYS", "36500")


def test_the_shipped_folder_has_no_problems():
    assert LIBRARY.check(required={t for t, _ in RULE_TEMPLATES}) == []


def test_every_rule_template_ships_in_english_and_japanese():
    assert len(RULE_TEMPLATES) >= 8
    for name, _channel in RULE_TEMPLATES:
        assert {"en", "ja"} <= set(LIBRARY.locales(name)), name


@pytest.fixture(scope="module")
def demo(migrated_database, tmp_path_factory):
    # Seeded once for the module; the per-test `db` fixture is not used so the rows stay.
    empty_tables(migrated_database)
    seed(migrated_database, accounts=60, seed=5, days=95, now=REF)
    yield migrated_database
    empty_tables(migrated_database)


def _subjects(db):
    """A few (account, contact) pairs per kind of recipient the rules address."""
    with db.read_session() as s:
        owned = s.scalars(select(Account).where(Account.owner.is_not(None)).order_by(Account.id).limit(3)).all()
        renewing = s.scalars(select(Account).where(Account.renewal_at.is_not(None)).order_by(Account.id).limit(3)).all()
        admins = s.execute(
            select(Account, Contact).join(Contact, Contact.account_id == Account.id).where(Contact.role == "admin").order_by(Contact.id).limit(6)
        ).all()  # fmt: skip
        assert owned and renewing and admins
        return (
            [(a.id, None) for a in owned],
            [(a.id, next(c.id for c in a.contacts if c.role == "admin")) for a in renewing],
            [(a.id, c.id) for a, c in admins],
        )


@pytest.mark.parametrize("locale", ["en", "ja"])
def test_every_shipped_template_renders_against_demo_data(demo, locale):
    owners, renewing, admins = _subjects(demo)
    links = {"app": "https://app.example.test/", "unsubscribe": "https://app.example.test/u/t", "preferences": "https://app.example.test/p/t"}
    rendered = 0
    for name, channel in sorted(RULE_TEMPLATES):
        recipients = owners if name.startswith("alerts/") else renewing if name.startswith("renewals/") else admins
        for account_id, contact_id in recipients:
            with demo.read_session() as s:
                ctx = build_context(s, account_id, contact_id, links, NOW)
            r = LIBRARY.render(name, locale_chain(locale, None), ctx)
            assert r.locale == locale and r.template == name
            assert r.subject and "\n" not in r.subject and r.text and r.html
            assert ctx["account"].name in r.subject + r.text
            # The template's own words are in the locale (names may be Japanese either way).
            own = (r.subject + r.text).replace(ctx["account"].name, "")
            if ctx["contact"] is not None:
                own = own.replace(ctx["contact"].get("name", ""), "")
            assert bool(JAPANESE.search(own)) == (locale == "ja"), (name, r.subject)
            if channel == "in_app":
                assert r.html.startswith('<div class="touchline-nudge"') and "<html" not in r.html
            else:
                assert r.html.startswith("<!DOCTYPE html>") and "<style>" not in r.html and 'style="' in r.html
            if channel == "email" and not name.startswith("alerts/"):
                assert links["unsubscribe"] in r.text and links["unsubscribe"] in r.html
            rendered += 1
    assert rendered >= 8 * 3


def test_contacts_get_their_own_language(demo):
    with demo.read_session() as s:
        pairs = s.execute(select(Contact.id, Contact.account_id, Contact.locale, Account.locale).join(Account)).all()
        by_locale = {}
        for contact_id, account_id, c_locale, a_locale in pairs:
            by_locale.setdefault(c_locale, (contact_id, account_id, a_locale))
        assert {"en", "ja"} <= set(by_locale)
        for locale, (contact_id, account_id, a_locale) in by_locale.items():
            ctx = build_context(s, account_id, contact_id, {"app": "a", "unsubscribe": "u", "preferences": "p"}, NOW)
            assert LIBRARY.render("reengagement/we-miss-you", locale_chain(locale, a_locale), ctx).locale == locale
