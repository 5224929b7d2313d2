"""Account search: each field it matches, the filters, keyset pages, refusals."""

from __future__ import annotations

from itertools import combinations

import pytest

from engine.accounts import AccountFilter, SearchError, search, search_accounts
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


@pytest.fixture
def crowd(db):
    """Accounts where every kind of match competes for the same pages: ids, names, addresses and
    domains starting with 'ab' spread over the id order, with tiers interleaved."""
    with db.session() as s:
        upsert_accounts(s, [
            {"id": f"{'ab' if i % 3 == 0 else 'zz'}-{i:03d}", "name": ("Abacus " if i % 4 == 0 else "Lab ab ") + str(i),
             "tier": ("tech", "low", "high")[i % 5 % 3]}
            for i in range(120)
        ])  # fmt: skip
        upsert_contacts(s, [
            {"id": f"c-{i}", "account_id": f"{'ab' if i % 3 == 0 else 'zz'}-{i:03d}",
             "email": f"abe{i}@x.example" if i % 7 == 0 else f"u{i}@ab{i}.example" if i % 11 == 0 else f"u{i}@y.example"}
            for i in range(120)
        ])  # fmt: skip
    return db


def _reference(i: int, q: str, tier: str | None) -> str | None:
    """What the search must find, computed in Python from the fixture's own rules."""
    external_id = f"{'ab' if i % 3 == 0 else 'zz'}-{i:03d}"
    name = ("Abacus " if i % 4 == 0 else "Lab ab ") + str(i)
    email = f"abe{i}@x.example" if i % 7 == 0 else f"u{i}@ab{i}.example" if i % 11 == 0 else f"u{i}@y.example"
    fields = [external_id, name.lower(), email, email.split("@")[1]]
    hit = any(f.startswith(q) for f in fields) or (len(q) >= 3 and q in name.lower())
    return external_id if hit and tier in (None, ("tech", "low", "high")[i % 5 % 3]) else None


@pytest.mark.parametrize(("q", "tier", "limit"), [
    ("ab", None, 50), ("ab", None, 7), ("ab", "low", 7), ("lab", None, 50), ("lab", "high", 1),
    ("abe", None, 7), ("abe", "tech", 1), ("zz-1", None, 7),
])  # fmt: skip
def test_pages_of_limited_branches_equal_the_whole_match(crowd, q, tier, limit):
    """Each kind of match is cut at a page before they are combined; paging through must still
    give every matching account once, in id order, as a filter over all of them does."""
    expected = sorted(x for i in range(120) if (x := _reference(i, q, tier)))
    assert len(expected) > limit  # more than a page, so the cut matters
    seen, cursor = [], None
    while True:
        with crowd.read_session() as s:
            page = search_accounts(s, AccountFilter(q=q, tier=tier), cursor, limit)
        seen += [row.external_id for row in page.rows]
        assert len(page.rows) <= limit and len(seen) <= len(expected), seen  # a page repeated would loop
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == expected


KINDS = ("id", "name", "address", "domain")


@pytest.mark.parametrize(("q", "cursor", "tier"), [
    ("ab", None, None), ("AB", "ab-039", None), ("a", None, "low"), ("abe", None, None), ("ab1", None, None),
    ("lab", "zz-050", None), ("u1", None, None), ("ab11.example", None, None), ("y.exam", "zz-100", "tech"),
    ("x.example", None, None), ("%", None, None), ("_", None, None), ("zz-11", None, None), ("nothing", None, None),
])  # fmt: skip
def test_every_plan_of_the_search_gives_the_same_rows(crowd, q, cursor, tier):
    """Whichever kinds of prefix match are read in page order instead of through their index
    (search.walked_kinds decides on SQLite), the page is the same, on either database."""
    flt = AccountFilter(q=q, tier=tier)
    pages = {}
    with crowd.read_session() as s:
        for n in range(len(KINDS) + 1):
            for walked in combinations(KINDS, n):
                stmt = search.search_query(flt, cursor, 7, crowd.dialect, frozenset(walked))
                pages[walked] = [row[0] for row in s.execute(stmt)]
    expected = sorted(x for i in range(120) if (x := _reference(i, q.lower(), tier)) and (cursor is None or x > cursor))
    assert pages[()] == expected[:8]
    assert {walked: page for walked, page in pages.items() if page != pages[()]} == {}


@pytest.mark.parametrize(("q", "limit"), [("ACME", 1), ("ann.lee@", 50), ("boltfreight.EX", 50), ("100%", 50), ("a_b", 50), ("さくら", 1), ("株式", 50)])
def test_every_plan_of_the_search_gives_the_same_rows_on_edge_cases(accounts, q, limit):
    with accounts.read_session() as s:
        pages = {
            walked: [row[0] for row in s.execute(search.search_query(AccountFilter(q=q), None, limit, accounts.dialect, frozenset(walked)))]
            for n in range(len(KINDS) + 1)
            for walked in combinations(KINDS, n)
        }  # fmt: skip
    assert len(set(map(tuple, pages.values()))) == 1, pages
    assert pages[()] == {"ACME": ["acme", "acme-eu"], "ann.lee@": ["bolt"], "boltfreight.EX": ["bolt"], "100%": ["pct"],
                         "a_b": ["under"], "さくら": ["sakura"], "株式": ["sakura"]}[q][: limit + 1]  # fmt: skip


@pytest.fixture
def sqlite_only(db):
    if db.dialect != "sqlite":
        pytest.skip("the plan is chosen by hand on SQLite only; PostgreSQL's planner chooses it")
    return db


@pytest.mark.parametrize(("cap", "pages"), [(1, 1), (1, 3), (2, 100), (10, 2)])
@pytest.mark.parametrize(("q", "tier", "limit"), [("ab", None, 7), ("ab", "low", 7), ("ab", "high", 3), ("abe", "tech", 1), ("u", None, 5)])
def test_pages_are_the_same_when_common_prefixes_are_read_in_page_order(crowd, sqlite_only, monkeypatch, cap, pages, q, tier, limit):
    """With the thresholds made small, SQLite reads common kinds of match in page order on some
    pages and through their indexes on others; paging still gives every match once, in order."""
    monkeypatch.setattr(search, "PROBE_CAP", cap)
    monkeypatch.setattr(search, "WALK_PAGES", pages)
    expected = sorted(x for i in range(120) if (x := _reference(i, q, tier)))
    seen, cursor, plans = [], None, set()
    while True:
        with crowd.read_session() as s:
            plans.add(search.walked_kinds(s, AccountFilter(q=q, tier=tier), cursor, limit))
            page = search_accounts(s, AccountFilter(q=q, tier=tier), cursor, limit)
        seen += [row.external_id for row in page.rows]
        assert len(seen) <= len(expected), seen
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == expected
    if q != "abe":  # ('abe' only at some thresholds: few addresses start with it)
        assert any(plans), plans  # some pages were read in page order


def test_sqlite_reads_a_common_prefix_in_page_order_only_where_its_matches_are_close(db, sqlite_only, monkeypatch):
    """Many index entries but one account (a big customer's contacts at one domain, last in id
    order): reading accounts in page order would read them all, so its index is used."""
    monkeypatch.setattr(search, "PROBE_CAP", 10)
    monkeypatch.setattr(search, "WALK_PAGES", 2)
    with db.session() as s:
        upsert_accounts(s, [{"id": f"a-{i:03d}", "name": f"Shop {i}", "tier": "tech"} for i in range(60)]
                        + [{"id": "zz-big", "name": "Big Corp", "tier": "high"}])  # fmt: skip
        upsert_contacts(s, [{"id": f"c-{i}", "account_id": f"a-{i:03d}", "email": f"ann{i}@shop{i}.example"} for i in range(60)]
                        + [{"id": f"big-{i}", "account_id": "zz-big", "email": f"p{i}@big.example"} for i in range(30)])  # fmt: skip

    def plan(q, cursor=None, limit=5):
        with db.read_session() as s:
            return search.walked_kinds(s, AccountFilter(q=q), cursor, limit), ids(db, AccountFilter(q=q), cursor, limit)

    assert plan("a-") == ({"id"}, ["a-000", "a-001", "a-002", "a-003", "a-004"])  # every account: in page order
    assert plan("sho") == ({"domain"}, ["a-000", "a-001", "a-002", "a-003", "a-004"])  # the name's inside, and domains
    assert plan("big") == (set(), ["zz-big"])  # 30 contacts, one account, last: through the index
    assert plan("p") == (set(), ["zz-big"])
    assert plan("p", cursor="a-055") == ({"address"}, ["zz-big"])  # 5 accounts left: read them
    assert plan("ab") == (set(), [])  # few entries: through the index
