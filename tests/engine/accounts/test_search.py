"""Account search: each field it matches, the filters, keyset pages, refusals."""

from __future__ import annotations

import pytest

from engine.accounts import AccountFilter, SearchError, search_accounts
from engine.ingest import upsert_accounts, upsert_contacts


@pytest.fixture
def accounts(db):
    with db.session() as s:
        upsert_accounts(s, [
            {"id": "acme", "name": "Acme Robotics", "tier": "tech", "plan": "team"},
            {"id": "acme-eu", "name": "ACME Europe", "tier": "low", "plan": "business", "owner": "kim@cs.example"},
            {"id": "bolt", "name": "Bolt Freight", "tier": "high", "plan": "enterprise", "owner": "kim@cs.example"},
            {"id": "sakura", "name": "株式会社さくら商事", "tier": "tech", "plan": "starter"},
            {"id": "pct", "name": "100% Pure", "tier": "tech", "plan": "starter"},
            {"id": "under", "name": "a_b labs", "tier": "tech", "plan": "starter"},
        ])  # fmt: skip
        upsert_contacts(s, [
            {"id": "bolt-u1", "account_id": "bolt", "email": "Ann.Lee@BoltFreight.example"},
            {"id": "bolt-u2", "account_id": "bolt", "email": "ops@boltfreight.example"},
            {"id": "sakura-u1", "account_id": "sakura", "email": "taro@sakura-shoji.example"},
        ])  # fmt: skip
    return db


def ids(db, flt: AccountFilter, cursor=None, limit=50) -> list[str]:
    with db.read_session() as s:
        return [row.external_id for row in search_accounts(s, flt, cursor, limit).rows]


def test_matches_id_name_address_and_domain_by_prefix_case_insensitively(accounts):
    assert ids(accounts, AccountFilter(q="ACME")) == ["acme", "acme-eu"]  # id and name
    assert ids(accounts, AccountFilter(q="acme-")) == ["acme-eu"]
    assert ids(accounts, AccountFilter(q="bolt f")) == ["bolt"]  # name prefix
    assert ids(accounts, AccountFilter(q="ann.lee@")) == ["bolt"]  # contact address
    assert ids(accounts, AccountFilter(q="sakura-shoji")) == ["sakura"]  # the address's domain
    assert ids(accounts, AccountFilter(q="BoltFreight.example")) == ["bolt"]
    assert ids(accounts, AccountFilter(q="nothing-like-it")) == []


def test_inside_names_from_three_characters_only(accounts):
    assert ids(accounts, AccountFilter(q="さくら")) == ["sakura"]
    assert ids(accounts, AccountFilter(q="robotics")) == ["acme"]
    # Two characters: prefix only, so 'ei' (inside 'Freight') finds nothing.
    assert ids(accounts, AccountFilter(q="ei")) == []
    assert ids(accounts, AccountFilter(q="eig")) == ["bolt"]


def test_like_wildcards_in_the_text_are_literal(accounts):
    assert ids(accounts, AccountFilter(q="100%")) == ["pct"]
    assert ids(accounts, AccountFilter(q="%")) == []
    assert ids(accounts, AccountFilter(q="a_b")) == ["under"]
    assert ids(accounts, AccountFilter(q="_")) == []


def test_filters_alone_and_with_text(accounts):
    assert ids(accounts, AccountFilter(tier="tech")) == ["acme", "pct", "sakura", "under"]
    assert ids(accounts, AccountFilter(plan="starter")) == ["pct", "sakura", "under"]
    assert ids(accounts, AccountFilter(owner="kim@cs.example")) == ["acme-eu", "bolt"]
    assert ids(accounts, AccountFilter(q="acme", owner="kim@cs.example")) == ["acme-eu"]
    assert ids(accounts, AccountFilter(q="acme", tier="high")) == []
    # Blank form fields do not filter.
    assert ids(accounts, AccountFilter(q="  ", tier="", plan=" ", owner="")) == [
        "acme", "acme-eu", "bolt", "pct", "sakura", "under",
    ]  # fmt: skip


def test_keyset_pages_cover_everything_once(accounts):
    seen, cursor = [], None
    while True:
        with accounts.read_session() as s:
            page = search_accounts(s, AccountFilter(), cursor, limit=4)
        seen += [row.external_id for row in page.rows]
        if page.next_cursor is None:
            break
        assert page.next_cursor == page.rows[-1].external_id
        cursor = page.next_cursor
    assert seen == ["acme", "acme-eu", "bolt", "pct", "sakura", "under"]
    # An exactly full last page says nothing follows.
    with accounts.read_session() as s:
        assert search_accounts(s, AccountFilter(), "acme-eu", limit=4).next_cursor is None


def test_rows_carry_the_contact_count(accounts):
    with accounts.read_session() as s:
        rows = {r.external_id: r for r in search_accounts(s, AccountFilter()).rows}
    assert (rows["bolt"].contacts, rows["acme"].contacts, rows["bolt"].owner) == (2, 0, "kim@cs.example")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tier": "gold"}, "unknown tier 'gold'; expected one of high, low, tech"),
        ({"q": "x" * 201}, "search text too long: 201 characters; at most 200"),
    ],
)
def test_bad_filters_are_refused_with_the_reason(kwargs, message):
    with pytest.raises(SearchError, match=message):
        AccountFilter(**kwargs)


def test_bad_limit_is_refused(accounts):
    with accounts.read_session() as s, pytest.raises(SearchError, match="limit must be between 1 and 200, not 0"):
        search_accounts(s, AccountFilter(), limit=0)
