"""The SQL compiler: the documented edge cases on the real database, and how the query is built."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from rulecases import CASES, CONTACT_CASES, NOW, acc, ago, con, logins, person, sent, spec
from ruledata import clear, contact_ids, write_accounts
from sqlalchemy import String, event, literal, select
from sqlalchemy.dialects import postgresql

from engine.models import Account
from engine.rules import sqlparts as sp
from engine.rules.ast import All, Changed, Compare, FieldRef, Not, Received, RelativeTime, Trend, Usage, Window
from engine.rules.compiler import compile_condition, compile_contact_condition, matching_account_ids, matching_contact_ids


@pytest.mark.parametrize(("account", "cond", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_edge_cases(db, account, cond, expected):
    # A second, empty account checks that subqueries are correlated to their own account.
    ids = write_accounts(db, [account, spec()], NOW)
    with db.read_session() as s:
        got = matching_account_ids(s, cond, NOW)
        alone = matching_account_ids(s, All((cond, Compare(acc("external_id"), "eq", "acct-0"))), NOW)
    assert (ids[0] in got) is expected
    assert alone == ({ids[0]} if expected else set())


def test_many_accounts_one_query(db):
    ids = write_accounts(db, [spec(plan="pro", usage=logins(d1=3)), spec(plan="pro"), spec(plan=None)], NOW)
    cond = All((Compare(acc("plan"), "eq", "pro"), Usage("login", "count", Window(7), "gte", 1),
                Not(Trend("login", 7, "lt", 0)), Not(Changed("owner", Window(30)))))  # fmt: skip
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with db.read_session() as s:
        s.connection()  # open the transaction first, so BEGIN is not counted
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            got = matching_account_ids(s, cond, NOW)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
    assert got == {ids[0]}
    assert len(statements) == 1
    assert "daily_usage" in statements[0] and " events" not in statements[0]


def test_received_is_one_exists_over_deliveries(db):
    old, new = NOW - timedelta(days=20), NOW
    ids = write_accounts(db, [spec(deliveries=[sent(old)]), spec(deliveries=[sent(new, index=1)]), spec()], NOW)
    cond = Received("welcome", within=14)
    sql = str(compile_condition(cond, NOW).compile(db.engine))
    assert "EXISTS" in sql and "deliveries" in sql
    with db.read_session() as s:
        assert matching_account_ids(s, cond, NOW) == {ids[1]}
        assert matching_account_ids(s, Received("welcome"), NOW) == {ids[0], ids[1]}
        assert matching_account_ids(s, Not(Received("welcome", 0)), NOW) == {ids[1], ids[2]}
        # Evaluated as of an earlier time, the later send has not happened yet.
        assert matching_account_ids(s, Received("welcome"), old) == {ids[0]}


def test_window_days_are_bound_parameters(db):
    compiled = compile_condition(Usage("login", "count", Window(60, 30), "gte", 1), NOW).compile(db.engine)
    assert {v for v in compiled.params.values() if isinstance(v, date)} == {ago(60), ago(30)}


def test_not_of_missing_value_matches(db):
    ids = write_accounts(db, [spec(plan=None), spec(plan="pro"), spec(plan="free")], NOW)
    with db.read_session() as s:
        assert matching_account_ids(s, Not(Compare(acc("plan"), "eq", "pro")), NOW) == {ids[0], ids[2]}
        assert matching_account_ids(s, Compare(acc("plan"), "ne", "pro"), NOW) == {ids[2]}


def test_statement_cache_keeps_trait_keys_apart(db):
    # The same construct with another key must not reuse the first key's bound path.
    ids = write_accounts(db, [spec(traits={"a": "x"}), spec(traits={"b": "x"})], NOW)
    with db.read_session() as s:
        assert matching_account_ids(s, Compare(acc("a", True), "eq", "x"), NOW) == {ids[0]}
        assert matching_account_ids(s, Compare(acc("b", True), "eq", "x"), NOW) == {ids[1]}


def test_text_order_ignores_the_database_locale(db):
    # The test database may well use the C locale; force a locale-aware operand to see the override.
    if db.dialect != "postgresql":
        pytest.skip("SQLite has no locale-aware collations")
    zurich = literal("Zürich", String()).collate("en-US-x-icu")
    with db.read_session() as s:
        assert s.scalar(select(zurich > "Zz")) is False  # what the locale says
        assert s.scalar(select(sp.Ordered(zurich) > "Zz")) is True  # what Python says


@pytest.mark.parametrize("ref", [acc("owner"), acc("industry", True)], ids=str)
def test_text_order_is_by_code_point_on_postgresql(ref):
    sql = str(compile_condition(Compare(ref, "gt", "Zz"), NOW).compile(dialect=postgresql.dialect()))
    assert 'COLLATE "C"' in sql


def test_contact_fields_need_a_contact_level_rule():
    with pytest.raises(ValueError, match="contact.role: contact fields need a contact-level rule"):
        compile_condition(Compare(FieldRef("contact", "role"), "eq", "admin"), NOW)
    with pytest.raises(ValueError, match="contact.created_at"):
        compile_condition(RelativeTime(con("created_at"), newer_than=3), NOW)


@pytest.mark.parametrize(("account", "cond", "expected"), [c[1:] for c in CONTACT_CASES], ids=[c[0] for c in CONTACT_CASES])
def test_contact_edge_cases(db, account, cond, expected):
    # Contact 0 is the subject; the account's other contacts and a second account with a
    # plain contact check that contact and account columns are read from the right rows.
    ids = write_accounts(db, [account, spec(people=[person()])], NOW)
    subject = (contact_ids(db)["c-0-0"], ids[0])
    with db.read_session() as s:
        got = matching_contact_ids(s, cond, NOW)
        alone = matching_contact_ids(s, All((cond, Compare(con("external_id"), "eq", "c-0-0"))), NOW)
    assert (subject in got) is expected
    assert alone == ({subject} if expected else set())


def test_contact_level_query_is_one_statement_over_contacts(db):
    ids = write_accounts(db, [
        spec(plan="pro", usage=logins(d1=3), people=[person(role="admin"), person(role="member"), person(role="admin")]),
        spec(plan="free", people=[person(role="admin")]),
    ], NOW)  # fmt: skip
    contacts = contact_ids(db)
    cond = All((Compare(con("role"), "eq", "admin"), Compare(acc("plan"), "eq", "pro"),
                Usage("login", "count", Window(7), "gte", 3), Not(Changed("owner", Window(30)))))  # fmt: skip
    statements: list[str] = []

    def record(conn, cursor, statement, *args):
        statements.append(statement)

    with db.read_session() as s:
        s.connection()
        event.listen(db.engine, "before_cursor_execute", record)
        try:
            got = matching_contact_ids(s, cond, NOW)
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
    assert got == {(contacts["c-0-0"], ids[0]), (contacts["c-0-2"], ids[0])}
    assert len(statements) == 1
    assert "FROM contacts JOIN accounts" in statements[0]


def test_contact_condition_with_shared_metrics(db):
    """compile_contact_condition reads usage from a MetricSet joined onto contacts and accounts."""
    from engine.rules.compiler import accounts, contacts, contacts_with_accounts
    from engine.rules.days import utc_today
    from engine.rules.metrics import MetricSet

    ids = write_accounts(db, [spec(usage=logins(d1=3), people=[person(role="admin")]),
                              spec(people=[person(role="admin")])], NOW)  # fmt: skip
    cond = All((Compare(con("role"), "eq", "admin"), Usage("login", "count", Window(7), "lt", 1)))
    metrics = MetricSet([cond], utc_today(NOW))
    stmt = (select(contacts.c.id, contacts.c.account_id)
            .select_from(metrics.join(contacts_with_accounts(), accounts.c.id))
            .where(compile_contact_condition(cond, NOW, metrics)))  # fmt: skip
    with db.read_session() as s:
        assert {a for _, a in s.execute(stmt)} == {ids[1]}
        assert {a for _, a in matching_contact_ids(s, cond, NOW)} == {ids[1]}


@pytest.mark.parametrize("name", ['say "hi"', "back\\slash"])
def test_unsupported_trait_names_are_refused(name):
    with pytest.raises(ValueError, match="trait name"):
        compile_condition(Compare(acc(name, True), "eq", "x"), NOW)


def test_invalid_tree_is_refused():
    with pytest.raises(ValueError):
        compile_condition(Compare(acc("mrr"), "eq", "100"), NOW)


def test_query_is_over_accounts(db):
    clear(db)
    stmt = select(Account.id).where(compile_condition(Compare(acc("plan"), "exists", True), NOW))
    with db.read_session() as s:
        assert list(s.scalars(stmt)) == []
