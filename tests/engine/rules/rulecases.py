"""Edge cases of the rule semantics, each with its expected answer.

test_evaluate.py runs them through the Python evaluator and test_compiler.py
through SQL, so both paths are pinned to the same documented meaning.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from ruledata import AccountSpec, ContactSpec, SentSpec

from engine.rules.ast import (
    ACCOUNT_FIELDS,
    CONTACT_FIELDS,
    All,
    Any_,
    Changed,
    Compare,
    FieldRef,
    Not,
    Received,
    RelativeTime,
    Trend,
    Usage,
    Window,
)
from engine.rules.facts import AccountFacts, ContactFacts

NOW = datetime(2026, 3, 10, 15, 30, tzinfo=UTC)
TODAY = NOW.date()


def ago(days: int) -> date:
    return TODAY - timedelta(days=days)


def acc(name: str, trait: bool = False) -> FieldRef:
    return FieldRef("account", name, trait)


def logins(**days_ago: int) -> dict[tuple[str, date], int]:
    """``logins(d7=5, d0=1)``: 5 logins seven days ago, 1 today."""
    return {("login", ago(int(k[1:]))): n for k, n in days_ago.items()}


def spec(usage=None, contacts=None, changes=None, traits=None, deliveries=None, people=None, **fields) -> AccountSpec:
    return AccountSpec(fields, traits or {}, usage or {}, contacts or {}, changes or [], deliveries or [], people or [])


def sent(at: datetime | None, status: str = "sent", rule: str = "welcome", index: int = 0, template: str = "intro") -> SentSpec:
    return SentSpec(rule, index, template, status, at)


# The rule ids "received" cases name: facts_from_spec holds their deliveries, as load_facts would.
RULE_IDS = frozenset({"welcome", "other"})


def count_gte(n: float, window: Window | None) -> Usage:
    return Usage("login", "count", window, "gte", n)


def trend(op: str, value: float, baseline: float) -> Trend:
    return Trend("login", 7, op, value, baseline)


def since_last(op: str, value) -> Usage:
    return Usage("login", "days_since_last", None, op, value)


plan_is_pro = Compare(acc("plan"), "eq", "pro")
# (id, account, condition, expected)
CASES = [
    # windows: today - start < day <= today - end
    ("window-excludes-today-minus-start", spec(usage=logins(d7=5)), count_gte(1, Window(7)), False),
    ("window-includes-today-minus-start-plus-one", spec(usage=logins(d6=5)), count_gte(1, Window(7)), True),
    ("window-includes-today", spec(usage=logins(d0=1)), count_gte(1, Window(7)), True),
    ("window-end-excludes-later-days", spec(usage=logins(d29=1)), count_gte(1, Window(60, 30)), False),
    ("window-end-includes-today-minus-end", spec(usage=logins(d30=1)), count_gte(1, Window(60, 30)), True),
    ("window-between-excludes-start", spec(usage=logins(d60=1)), count_gte(1, Window(60, 30)), False),
    ("no-window-counts-all-history", spec(usage=logins(d400=2, d0=1)), count_gte(3, None), True),
    ("future-rollup-days-are-ignored", spec(usage=logins(d0=1) | {("login", ago(-1)): 5}), count_gte(2, None), False),
    ("count-without-rows-is-zero", spec(), Usage("login", "count", Window(7), "lt", 1), True),
    ("count-sums-days", spec(usage=logins(d1=2, d2=3)), Usage("login", "count", Window(7), "eq", 5), True),
    ("count-other-event-ignored", spec(usage={("export", ago(1)): 9}), count_gte(1, Window(7)), False),
    ("active-days-skip-zero-counts", spec(usage=logins(d1=0, d2=3, d3=1)),
     Usage("login", "active_days", Window(7), "eq", 2), True),
    ("active-contacts-distinct", spec(usage=logins(d1=2, d2=1), contacts={("login", ago(1)): {0, 1}, ("login", ago(2)): {0}}),
     Usage("login", "active_contacts", Window(7), "eq", 2), True),
    ("active-contacts-window", spec(usage=logins(d1=1, d9=1), contacts={("login", ago(1)): {0}, ("login", ago(9)): {1}}),
     Usage("login", "active_contacts", Window(7), "eq", 1), True),
    # days_since_last: missing if never seen
    ("days-since-last-never-seen", spec(), since_last("gte", 0), False),
    ("days-since-last-never-seen-not", spec(), Not(since_last("gte", 0)), True),
    ("days-since-last-only-zero-counts", spec(usage=logins(d2=0)), since_last("gte", 0), False),
    ("days-since-last-value", spec(usage=logins(d3=1, d10=4)), since_last("eq", 3), True),
    ("days-since-last-today-is-zero", spec(usage=logins(d0=1)), since_last("eq", 0), True),
    ("days-since-last-future-ignored", spec(usage={("login", ago(-1)): 1}), since_last("lte", 5), False),
    ("days-since-last-between", spec(usage=logins(d14=1)), since_last("between", (7, 14)), True),
    # trend: previous < min_baseline or 0 is missing
    ("trend-up-100", spec(usage=logins(d8=2, d1=4)), trend("eq", 100, 1), True),
    ("trend-below-baseline", spec(usage=logins(d8=2, d1=4)), trend("eq", 100, 3), False),
    ("trend-below-baseline-not", spec(usage=logins(d8=2, d1=4)), Not(trend("eq", 100, 3)), True),
    ("trend-at-baseline", spec(usage=logins(d8=2, d1=4)), trend("eq", 100, 2), True),
    ("trend-zero-previous", spec(usage=logins(d1=4)), trend("gte", -1000, 0), False),
    ("trend-drop-to-nothing", spec(usage=logins(d13=3)), trend("eq", -100, 1), True),
    ("trend-window-edges", spec(usage=logins(d14=50, d7=1, d0=2)), trend("eq", 100, 1), True),
    ("trend-fraction", spec(usage=logins(d8=3, d1=1)), trend("lt", -66.6, 1), True),
    # NULL fields and not
    ("null-eq", spec(plan=None), plan_is_pro, False),
    ("null-eq-not", spec(plan=None), Not(plan_is_pro), True),
    ("null-ne", spec(plan=None), Compare(acc("plan"), "ne", "pro"), False),
    ("null-ne-not", spec(plan=None), Not(Compare(acc("plan"), "ne", "pro")), True),
    ("null-in", spec(plan=None), Compare(acc("plan"), "in", ["pro", "free"]), False),
    ("null-not-in", spec(plan=None), Compare(acc("plan"), "not_in", ["pro", "free"]), False),
    ("null-not-in-not", spec(plan=None), Not(Compare(acc("plan"), "not_in", ["pro"])), True),
    ("not-in-other", spec(plan="team"), Compare(acc("plan"), "not_in", ["pro", "free"]), True),
    ("not-in-member", spec(plan="pro"), Compare(acc("plan"), "not_in", ["pro", "free"]), False),
    ("not-in-empty-list", spec(plan="pro"), Compare(acc("plan"), "not_in", []), True),
    ("in-empty-list", spec(plan="pro"), Compare(acc("plan"), "in", []), False),
    ("null-exists-false", spec(plan=None), Compare(acc("plan"), "exists", False), True),
    ("null-exists-true", spec(plan=None), Compare(acc("plan"), "exists", True), False),
    ("null-number-lt", spec(mrr=None), Compare(acc("mrr"), "lt", 100), False),
    ("null-number-lt-not", spec(mrr=None), Not(Compare(acc("mrr"), "lt", 100)), True),
    ("null-time-relative", spec(renewal_at=None), RelativeTime(acc("renewal_at"), within_next=60), False),
    ("time-exists", spec(renewal_at=NOW), Compare(acc("renewal_at"), "exists", True), True),
    # between is inclusive; money compared as a double
    ("between-low-edge", spec(mrr=100.0), Compare(acc("mrr"), "between", (100, 200)), True),
    ("between-high-edge", spec(mrr=100.0), Compare(acc("mrr"), "between", (50, 100)), True),
    ("between-outside", spec(mrr=100.0), Compare(acc("mrr"), "between", (100.01, 200)), False),
    ("money-cents", spec(mrr=19.99), Compare(acc("mrr"), "eq", 19.99), True),
    ("money-gt", spec(arr=1200.5), Compare(acc("arr"), "gt", 1200.49), True),
    ("text-between", spec(plan="pro"), Compare(acc("plan"), "between", ("pa", "pz")), True),
    # text: case-sensitive, ordered by code point (not by locale)
    ("contains-case-sensitive", spec(plan="Pro"), Compare(acc("plan"), "contains", "pro"), False),
    ("contains-middle", spec(plan="Pro"), Compare(acc("plan"), "contains", "ro"), True),
    ("starts-with", spec(plan="Pro"), Compare(acc("plan"), "starts_with", "Pr"), True),
    ("starts-with-not-middle", spec(plan="Pro"), Compare(acc("plan"), "starts_with", "ro"), False),
    ("code-point-order", spec(owner="Zürich"), Compare(acc("owner"), "gt", "Zz"), True),
    ("code-point-order-case", spec(owner="apple"), Compare(acc("owner"), "gt", "Banana"), True),
    # traits: a value of another JSON type never matches
    ("trait-number", spec(traits={"seats": 10}), Compare(acc("seats", True), "gt", 5), True),
    ("trait-float", spec(traits={"seats": 10.5}), Compare(acc("seats", True), "lt", 11), True),
    ("trait-string-vs-number", spec(traits={"seats": "10"}), Compare(acc("seats", True), "gt", 5), False),
    ("trait-string-vs-number-ne", spec(traits={"seats": "10"}), Compare(acc("seats", True), "ne", 5), False),
    ("trait-number-vs-string", spec(traits={"seats": 10}), Compare(acc("seats", True), "eq", "10"), False),
    ("trait-bool-vs-number", spec(traits={"beta": True}), Compare(acc("beta", True), "eq", 1), False),
    ("trait-bool", spec(traits={"beta": True}), Compare(acc("beta", True), "eq", True), True),
    ("trait-bool-ne", spec(traits={"beta": False}), Compare(acc("beta", True), "ne", True), True),
    ("trait-text", spec(traits={"industry": "Retail"}), Compare(acc("industry", True), "starts_with", "Ret"), True),
    ("trait-text-order", spec(traits={"industry": "émile"}), Compare(acc("industry", True), "gt", "z"), True),
    ("trait-missing", spec(), Compare(acc("industry", True), "ne", "x"), False),
    ("trait-missing-not", spec(), Not(Compare(acc("industry", True), "eq", "x")), True),
    ("trait-json-null-exists", spec(traits={"industry": None}), Compare(acc("industry", True), "exists", True), False),
    ("trait-list-exists", spec(traits={"tags": ["a"]}), Compare(acc("tags", True), "exists", True), True),
    ("trait-list-eq", spec(traits={"tags": ["a"]}), Compare(acc("tags", True), "eq", "a"), False),
    ("trait-in-mixed", spec(traits={"seats": 3}), Compare(acc("seats", True), "in", ["3", 3]), True),
    ("trait-not-in-other-type", spec(traits={"seats": 3}), Compare(acc("seats", True), "not_in", ["3", "4"]), False),
    ("trait-not-in-mixed", spec(traits={"seats": 5}), Compare(acc("seats", True), "not_in", ["3", 3]), True),
    ("trait-key-with-space", spec(traits={"a key": "v"}), Compare(acc("a key", True), "eq", "v"), True),
    # relative dates, on the exact boundaries
    ("older-than-edge", spec(signup_at=NOW - timedelta(days=7)), RelativeTime(acc("signup_at"), older_than=7), True),
    ("older-than-inside", spec(signup_at=NOW - timedelta(days=7) + timedelta(microseconds=1)),
     RelativeTime(acc("signup_at"), older_than=7), False),
    ("newer-than-edge", spec(signup_at=NOW - timedelta(days=7)), RelativeTime(acc("signup_at"), newer_than=7), False),
    ("within-next-edge", spec(renewal_at=NOW + timedelta(days=60)), RelativeTime(acc("renewal_at"), within_next=60), True),
    ("within-next-now", spec(renewal_at=NOW), RelativeTime(acc("renewal_at"), within_next=60), True),
    ("within-next-past", spec(renewal_at=NOW - timedelta(microseconds=1)),
     RelativeTime(acc("renewal_at"), within_next=60), False),
    ("after-next-edge", spec(renewal_at=NOW + timedelta(days=60)), RelativeTime(acc("renewal_at"), after_next=60), False),
    ("relative-both-bounds", spec(signup_at=NOW - timedelta(days=10)),
     RelativeTime(acc("signup_at"), older_than=7, newer_than=14), True),
    # changes, by UTC day of changed_at
    ("changed-before-window", spec(changes=[("owner", datetime(2026, 2, 8, 23, 59, 59, 999999, tzinfo=UTC))]),
     Changed("owner", Window(30)), False),
    ("changed-first-day", spec(changes=[("owner", datetime(2026, 2, 9, tzinfo=UTC))]), Changed("owner", Window(30)), True),
    ("changed-later-today", spec(changes=[("owner", datetime(2026, 3, 10, 23, 0, tzinfo=UTC))]),
     Changed("owner", Window(30)), True),
    ("changed-other-field", spec(changes=[("tier", NOW)]), Changed("owner", Window(30)), False),
    ("changed-window-end", spec(changes=[("plan", NOW - timedelta(days=1))]), Changed("plan", Window(30, 1)), True),
    ("changed-window-end-excludes-today", spec(changes=[("plan", NOW)]), Changed("plan", Window(30, 1)), False),
    ("changed-window-end-midnight", spec(changes=[("plan", datetime(2026, 3, 10, tzinfo=UTC))]),
     Changed("plan", Window(30, 1)), False),
    # received: status sent, now - within days < sent_at <= now
    ("received-ever", spec(deliveries=[sent(NOW - timedelta(days=400))]), Received("welcome"), True),
    ("received-none", spec(), Received("welcome"), False),
    ("received-none-not", spec(), Not(Received("welcome")), True),
    ("received-pending-not-sent", spec(deliveries=[sent(None, "pending")]), Received("welcome"), False),
    ("received-failed-with-time", spec(deliveries=[sent(NOW - timedelta(days=1), "failed")]), Received("welcome"), False),
    ("received-queued-with-time", spec(deliveries=[sent(NOW, "queued")]), Received("welcome", within=7), False),
    ("received-sent-without-time", spec(deliveries=[sent(None)]), Received("welcome"), False),
    ("received-within-edge", spec(deliveries=[sent(NOW - timedelta(days=14))]), Received("welcome", within=14), False),
    ("received-within-inside", spec(deliveries=[sent(NOW - timedelta(days=14) + timedelta(microseconds=1))]),
     Received("welcome", within=14), True),
    ("received-at-now", spec(deliveries=[sent(NOW)]), Received("welcome", within=1), True),
    ("received-future-ignored", spec(deliveries=[sent(NOW + timedelta(microseconds=1))]), Received("welcome"), False),
    # Yesterday 23:00 is within the last 24 hours (a whole-day window of 1d would hold today only).
    ("received-within-is-not-whole-days", spec(deliveries=[sent(datetime(2026, 3, 9, 23, 0, tzinfo=UTC))]),
     Received("welcome", within=1), True),
    ("received-within-24-hours", spec(deliveries=[sent(datetime(2026, 3, 9, 15, 0, tzinfo=UTC))]),
     Received("welcome", within=1), False),
    ("received-other-rule", spec(deliveries=[sent(NOW, rule="other")]), Received("welcome"), False),
    ("received-template", spec(deliveries=[sent(NOW, template="onboarding/b")]), Received("welcome", "onboarding/b"), True),
    ("received-other-template", spec(deliveries=[sent(NOW, template="intro")]), Received("welcome", "onboarding/b"), False),
    ("received-template-of-other-rule", spec(deliveries=[sent(NOW, rule="other", template="onboarding/b")]),
     Received("welcome", "onboarding/b"), False),
    ("received-index", spec(deliveries=[sent(NOW, index=1)]), Received("welcome", 1), True),
    ("received-other-index", spec(deliveries=[sent(NOW, index=1)]), Received("welcome", 0), False),
    ("received-one-of-several", spec(deliveries=[sent(NOW - timedelta(days=30)), sent(None, "pending"),
                                                 sent(NOW - timedelta(days=2), index=1)]),
     Received("welcome", 1, within=3), True),
    # combinators
    ("empty-all", spec(), All(()), True),
    ("empty-any", spec(), Any_(()), False),
    ("all-any-not", spec(plan="pro", mrr=50.0),
     All((plan_is_pro, Any_((Compare(acc("mrr"), "gt", 100), Not(Compare(acc("owner"), "exists", True)))))), True),
]  # fmt: skip


def facts_from_spec(s: AccountSpec, account_id: int = 1, rules: frozenset[str] = RULE_IDS) -> AccountFacts:
    """The facts load_facts would build for ``s`` written by ruledata.write_accounts (``rules``: rules_of)."""
    fields = {name: None for name in ACCOUNT_FIELDS}
    fields.update({"external_id": "acct-0", "name": "Account 0", "tier": "tech", "created_at": NOW, **s.fields})
    contacts = {key: set(numbers) for key, numbers in s.contacts.items() if key[1] <= TODAY}
    usage = {key: n for key, n in s.usage.items() if key[1] <= TODAY}
    sends = [(d.rule, d.action_index, d.template, d.sent_at) for d in s.deliveries
             if d.rule in rules and d.status == "sent" and d.sent_at is not None]  # fmt: skip
    return AccountFacts(account_id, fields, dict(s.traits), usage, contacts, list(s.changes), sends, rules)


# -- contact-level rules: the subject is contact 0 of the account -------------------


def con(name: str, trait: bool = False) -> FieldRef:
    return FieldRef("contact", name, trait)


def person(traits=None, **fields) -> ContactSpec:
    return ContactSpec(fields, traits or {})


def one(traits=None, **fields) -> AccountSpec:
    """An account whose contact 0 is described by the arguments."""
    return spec(people=[person(traits, **fields)])


is_admin = Compare(con("role"), "eq", "admin")
# (id, account with its contacts, condition, expected for contact 0)
CONTACT_CASES = [
    ("contact-role", one(role="admin"), is_admin, True),
    ("contact-role-other", one(role="member"), is_admin, False),
    ("contact-role-not", one(role="member"), Not(is_admin), True),
    ("contact-null-email-ne", one(email=None), Compare(con("email"), "ne", "a@x.example"), False),
    ("contact-null-email-not-eq", one(email=None), Not(Compare(con("email"), "eq", "a@x.example")), True),
    ("contact-null-email-not-in", one(email=None), Compare(con("email"), "not_in", ["a@x.example"]), False),
    ("contact-null-exists-false", one(email=None), Compare(con("email"), "exists", False), True),
    ("contact-email-contains", one(email="ann@x.example"), Compare(con("email"), "contains", "@x."), True),
    ("contact-email-case-sensitive", one(email="Ann@x.example"), Compare(con("email"), "starts_with", "ann"), False),
    ("contact-locale-in", one(locale="ja"), Compare(con("locale"), "in", ["ja", "en"]), True),
    ("contact-code-point-order", one(name="Zürich"), Compare(con("name"), "gt", "Zz"), True),
    ("contact-timezone-between", one(timezone="Asia/Tokyo"), Compare(con("timezone"), "between", ("Asia/", "Asia/~")), True),
    ("contact-name-is-not-account-name", spec(name="Acme", people=[person(name=None)]),
     Compare(con("name"), "eq", "Acme"), False),
    ("account-name-from-contact", spec(name="Acme", people=[person(name="Ann")]),
     Compare(acc("name"), "eq", "Acme"), True),
    # time fields of the contact, on the boundaries
    ("contact-last-seen-missing", one(last_seen_at=None), RelativeTime(con("last_seen_at"), older_than=14), False),
    ("contact-last-seen-missing-not", one(last_seen_at=None), Not(RelativeTime(con("last_seen_at"), older_than=14)), True),
    ("contact-last-seen-edge", one(last_seen_at=NOW - timedelta(days=14)), RelativeTime(con("last_seen_at"), older_than=14), True),
    ("contact-last-seen-inside", one(last_seen_at=NOW - timedelta(days=14) + timedelta(microseconds=1)),
     RelativeTime(con("last_seen_at"), older_than=14), False),
    ("contact-created-newer", one(created_at=NOW - timedelta(days=3) + timedelta(microseconds=1)),
     RelativeTime(con("created_at"), newer_than=3), True),
    ("contact-created-newer-edge", one(created_at=NOW - timedelta(days=3)), RelativeTime(con("created_at"), newer_than=3), False),
    ("contact-last-seen-exists", one(last_seen_at=NOW), Compare(con("last_seen_at"), "exists", True), True),
    # contact traits are the contact's, not the account's
    ("contact-trait-number", one(traits={"score": 7}), Compare(con("score", True), "gt", 5), True),
    ("contact-trait-string-vs-number", one(traits={"score": "7"}), Compare(con("score", True), "gt", 5), False),
    ("contact-trait-bool", one(traits={"beta": False}), Compare(con("beta", True), "ne", True), True),
    ("contact-trait-missing-not", one(), Not(Compare(con("score", True), "eq", 1)), True),
    ("contact-trait-json-null", one(traits={"score": None}), Compare(con("score", True), "exists", True), False),
    ("contact-trait-is-not-account-trait", spec(traits={"industry": "saas"}, people=[person()]),
     Compare(con("industry", True), "eq", "saas"), False),
    ("account-trait-from-contact", spec(traits={"industry": "saas"}, people=[person(traits={"industry": "x"})]),
     Compare(acc("industry", True), "eq", "saas"), True),
    # usage, changes and deliveries are the account's
    ("contact-reads-account-usage", spec(usage=logins(d1=3), contacts={("login", ago(1)): {1}}, people=[person()]),
     count_gte(3, Window(7)), True),
    ("contact-active-contacts-account-wide", spec(usage=logins(d1=2), contacts={("login", ago(1)): {1, 2}}, people=[person()]),
     Usage("login", "active_contacts", Window(7), "eq", 2), True),
    ("contact-days-since-last-account", spec(usage=logins(d4=1), contacts={("login", ago(4)): {1}}, people=[person()]),
     since_last("eq", 4), True),
    ("contact-trend-account", spec(usage=logins(d8=2, d1=4), people=[person()]), trend("eq", 100, 1), True),
    ("contact-changed-account", spec(changes=[("owner", NOW)], people=[person()]), Changed("owner", Window(30)), True),
    ("contact-received-account", spec(deliveries=[sent(NOW)], people=[person()]), Received("welcome"), True),
    ("contact-and-account-mixed", spec(plan="pro", usage=logins(d1=1), people=[person(role="admin", email=None)]),
     All((is_admin, plan_is_pro, count_gte(1, Window(7)), Not(Compare(con("email"), "exists", True)))), True),
    ("contact-any-account-miss", spec(plan=None, people=[person(role="member")]), Any_((is_admin, plan_is_pro)), False),
]  # fmt: skip


def contact_facts_from_spec(s: AccountSpec, index: int = 0, rules: frozenset[str] = RULE_IDS) -> ContactFacts:
    """The facts load_contact_facts would build for contact ``index`` of ``s`` (written by ruledata.write_accounts)."""
    fields = {name: None for name in CONTACT_FIELDS}
    mine = s.people[index] if index < len(s.people) else ContactSpec()
    fields.update({"external_id": f"c-0-{index}", "role": "member", "created_at": NOW, **mine.fields})
    return ContactFacts(index + 1, fields, dict(mine.traits), facts_from_spec(s, rules=rules))
