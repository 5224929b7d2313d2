"""Limits: rule limits and the fatigue policy, decided set-wise; what was sent, read from the table."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from engine.delivery.limits import Candidate, Decision, History, Sent, apply_limits, lookback, sent_counts
from engine.delivery.policy import NO_POLICY, Fatigue, Policy
from engine.ingest import upsert_accounts, upsert_contacts
from engine.models import Account, Contact, Delivery, Nudge, RuleVersion
from engine.rules.schema import Limit, Limits
from engine.rules.validate import validate_text
from engine.rules.versions import apply_rules

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
POLICY = Policy(Fatigue(per_account=Limit(1, 7), per_contact=Limit(2, 30)))
ACCOUNT_REASON = "limit: at most 1 marketing message per account per 7 days (policy)"
CONTACT_REASON = "limit: at most 2 marketing messages per contact per 30 days (policy)"

_ids = iter(range(1, 10_000))


def cand(rule="r", occurrence=None, *, id=None, priority=0, category="general", channel="email", account=1, contact=11,
         due=NOW) -> Candidate:  # fmt: skip
    id = id if id is not None else next(_ids)
    recipient = f"c{contact}@x.test" if channel == "email" else f"contact:{contact}"
    return Candidate(id, rule, occurrence or f"enter:{id}", category, priority, channel, account, contact, recipient, due)


def sent(rule="old", occurrence="enter:0", *, ago=timedelta(days=1), category="general", channel="email", account=1,
         contact=11, shown_ago=None) -> Sent:  # fmt: skip
    return Sent(rule, occurrence, category, channel, account, contact, NOW - ago, NOW - shown_ago if shown_ago else None)


def verdicts(decisions: list[Decision]) -> list[str | None]:
    return [d.reason if not d.go else "send" for d in decisions]


def test_no_policy_and_no_rule_limits_send_everything():
    cs = [cand(), cand(), cand(account=2)]
    assert verdicts(apply_limits(cs, History(), NO_POLICY, {}, NOW)) == ["send"] * 3


def test_the_higher_priority_rule_wins_a_short_budget_and_the_loser_says_why():
    low, high = cand("tips", priority=10), cand("renewal", priority=50)
    decisions = apply_limits([low, high], History(), POLICY, {}, NOW)
    assert [d.id for d in decisions] == [low.id, high.id]  # the order given
    assert decisions[1] == Decision(high.id, "send")
    assert decisions[0] == Decision(low.id, "skipped", ACCOUNT_REASON, "policy.per_account")
    assert decisions[0].reason == "limit: at most 1 marketing message per account per 7 days (policy)"


def test_ties_go_to_the_older_due_time_then_the_lower_id():
    late, early = cand(id=1, due=NOW), cand(id=2, due=NOW - timedelta(hours=1))
    assert verdicts(apply_limits([late, early], History(), POLICY, {}, NOW)) == [ACCOUNT_REASON, "send"]
    a, b = cand(id=8), cand(id=7)
    assert verdicts(apply_limits([a, b], History(), POLICY, {}, NOW)) == [ACCOUNT_REASON, "send"]


def test_one_firing_is_one_message_whatever_its_channels_and_recipients():
    # Email and in-app nudge to two admins, all of one occurrence: one message to the account.
    cs = [cand("r", "enter:5", channel=ch, contact=c) for ch in ("email", "in_app") for c in (11, 12)]
    other = cand("other", "enter:6")
    assert verdicts(apply_limits([*cs, other], History(), POLICY, {}, NOW)) == ["send"] * 4 + [ACCOUNT_REASON]
    limits = {"r": Limits(per_account=Limit(1, 30), per_contact=Limit(1, 30))}
    assert verdicts(apply_limits(cs, History(), NO_POLICY, limits, NOW)) == ["send"] * 4


def test_what_was_sent_counts_while_it_is_inside_the_window():
    c = cand()
    three_days = History([sent(ago=timedelta(days=3))])
    assert verdicts(apply_limits([c], three_days, POLICY, {}, NOW)) == [ACCOUNT_REASON]
    # Exactly seven days ago is out of a 7-day window; a second less is in.
    assert verdicts(apply_limits([c], [sent(ago=timedelta(days=7))], POLICY, {}, NOW)) == ["send"]
    almost = [sent(ago=timedelta(days=7) - timedelta(seconds=1))]
    assert verdicts(apply_limits([c], almost, POLICY, {}, NOW)) == [ACCOUNT_REASON]


def test_in_app_nudges_count_once_shown_and_a_sibling_of_a_sent_message_is_free():
    in_app_sent = [sent("r", "enter:1", channel="in_app", ago=timedelta(hours=2), shown_ago=timedelta(hours=1))]
    assert verdicts(apply_limits([cand("x")], in_app_sent, POLICY, {}, NOW)) == [ACCOUNT_REASON]
    # The email of that same firing, deferred by its send window, still goes.
    sibling = cand("r", "enter:1", channel="email")
    assert verdicts(apply_limits([sibling], in_app_sent, POLICY, {"r": Limits(Limit(1, 30))}, NOW)) == ["send"]


def test_a_nudge_never_shown_uses_no_fatigue_budget_but_its_rules_own_limits():
    stored = [sent("r", "enter:1", channel="in_app", ago=timedelta(hours=2))]  # stored, not shown yet
    assert verdicts(apply_limits([cand("x")], stored, POLICY, {}, NOW)) == ["send"]
    again = cand("r", "enter:2", channel="in_app")
    limits = {"r": Limits(per_account=Limit(1, 7))}
    assert verdicts(apply_limits([again], stored, POLICY, limits, NOW)) == ["limit: rule r per_account 1 per 7d"]
    # Counted from when it was shown: stored 10 days ago, shown 2 days ago, inside a 7-day window.
    late = [sent("r", "enter:1", channel="in_app", ago=timedelta(days=10), shown_ago=timedelta(days=2))]
    assert verdicts(apply_limits([cand("x")], late, POLICY, {}, NOW)) == [ACCOUNT_REASON]


def test_operational_is_exempt_from_the_policy_but_not_from_its_rule_limits():
    ops = [cand("receipt", category="operational"), cand("receipt", category="operational")]
    history = [sent(ago=timedelta(hours=1))]  # the marketing budget is used up
    assert verdicts(apply_limits(ops, history, POLICY, {}, NOW)) == ["send", "send"]
    limited = {"receipt": Limits(per_account=Limit(1, 1))}
    assert verdicts(apply_limits(ops, history, POLICY, limited, NOW)) == ["send", "limit: rule receipt per_account 1 per 1d"]
    # And operational messages sent do not use the marketing budget.
    ops_sent = [sent(category="operational", ago=timedelta(hours=1))]
    assert verdicts(apply_limits([cand()], ops_sent, POLICY, {}, NOW)) == ["send"]


def test_owner_alerts_and_webhooks_are_not_messages_to_the_customer():
    alert = cand("owner-changed", channel="email", contact=None)
    hook = cand("hook", channel="webhook")
    nudge = cand("nudge")
    history = [sent(contact=None), sent(channel="webhook", occurrence="enter:9")]
    assert verdicts(apply_limits([alert, hook, nudge], history, POLICY, {}, NOW)) == ["send"] * 3
    counting_hooks = Policy(Fatigue(channels=frozenset({"email", "in_app", "webhook"}), per_account=Limit(1, 7)))
    # Counting webhooks, the webhook sent earlier uses the account's week.
    assert verdicts(apply_limits([hook], history, counting_hooks, {}, NOW)) == [ACCOUNT_REASON]


def test_the_contact_budget_counts_per_person():
    # Two messages to contact 11 in the last 30 days, but none in the last week.
    history = [sent("a", "enter:1", ago=timedelta(days=10)), sent("b", "enter:2", ago=timedelta(days=20))]
    to_11, to_12 = cand("c", "enter:3", contact=11), cand("c", "enter:3", contact=12)
    assert verdicts(apply_limits([to_11, to_12], history, POLICY, {}, NOW)) == [CONTACT_REASON, "send"]
    decision = apply_limits([to_11], history, POLICY, {}, NOW)[0]
    assert decision.limit == "policy.per_contact"


def test_rule_limits_name_the_rule_and_come_before_the_policy():
    limits = {"welcome": Limits(per_contact=Limit(1, 30))}
    history = [sent("welcome", "enter:1", ago=timedelta(days=2))]
    decision = apply_limits([cand("welcome", "enter:2")], history, POLICY, limits, NOW)[0]
    assert (decision.reason, decision.limit) == ("limit: rule welcome per_contact 1 per 30d", "rule.per_contact")
    # Another rule's messages do not use this rule's limit.
    assert verdicts(apply_limits([cand("welcome", "enter:2")], [sent("else")], NO_POLICY, limits, NOW)) == ["send"]


def test_lookback_is_the_longest_window():
    assert lookback(POLICY, {"r": Limits(per_account=Limit(1, 90))}, NOW) == NOW - timedelta(days=90)
    assert lookback(POLICY, {}, NOW) == NOW - timedelta(days=30)
    assert lookback(NO_POLICY, {}, NOW) == NOW


CONTACTS = st.sampled_from([11, 12, 21])
CANDIDATE = st.tuples(st.sampled_from("rst"), st.integers(0, 3), st.integers(0, 2), st.sampled_from(["email", "in_app"]),
                      CONTACTS, st.sampled_from(["general", "operational"]))  # fmt: skip
SENT = st.tuples(st.sampled_from("rsx"), st.integers(0, 5), st.integers(0, 40), CONTACTS)


@settings(max_examples=200, deadline=None)
@given(cands=st.lists(CANDIDATE, max_size=25), past=st.lists(SENT, max_size=8))
def test_no_budget_is_ever_overspent_and_no_skip_is_needless(cands, past):
    limits = {"r": Limits(per_account=Limit(2, 30)), "s": Limits(per_contact=Limit(1, 10))}
    account_of = {11: 1, 12: 1, 21: 2}
    candidates = [
        Candidate(i, rule, f"o{occ}", category, prio, ch, account_of[contact], contact, f"c{contact}", NOW)
        for i, (rule, occ, prio, ch, contact, category) in enumerate(cands)
    ]  # fmt: skip
    history = [Sent(rule, f"o{occ}", "general", "email", account_of[c], c, NOW - timedelta(days=days))
               for rule, occ, days, c in past]  # fmt: skip
    decisions = {d.id: d for d in apply_limits(candidates, history, POLICY, limits, NOW)}
    assert len(decisions) == len(candidates)

    def budgets(c):  # (key, max, days) of each limit the delivery is under
        own = limits.get(c.rule_id, Limits())
        if own.per_account:
            yield ("rule", c.rule_id, "a", c.account_id), own.per_account
        if own.per_contact:
            yield ("rule", c.rule_id, "c", c.contact_id), own.per_contact
        if POLICY.fatigue.counts(c.category, c.channel, c.contact_id):
            yield ("policy", "a", c.account_id), POLICY.fatigue.per_account
            yield ("policy", "c", c.contact_id), POLICY.fatigue.per_contact

    def used(key, limit, admitted):
        messages = {(s.rule_id, s.occurrence) for s in history
                    if any(k == key for k, _ in budgets(s)) and s.at > NOW - timedelta(days=limit.per)}  # fmt: skip
        return messages | {(c.rule_id, c.occurrence) for c in admitted if any(k == key for k, _ in budgets(c))}

    admitted = [c for c in candidates if decisions[c.id].go]
    before = defaultdict(int)
    for key, limit in {k: lim for c in candidates for k, lim in budgets(c)}.items():
        before[key] = len(used(key, limit, []))
        # Overspent only if it was already over before this batch, and then nothing new was added.
        assert len(used(key, limit, admitted)) <= max(limit.max, before[key])
    for c in candidates:
        if decisions[c.id].go:
            continue
        # Skipped: admitting it too would overspend the limit it names.
        kind, per = decisions[c.id].limit.split(".")  # e.g. policy.per_contact
        [(key, limit)] = [(k, lim) for k, lim in budgets(c) if (k[0], k[-2]) == (kind, per[4])]
        assert len(used(key, limit, [*admitted, c])) > limit.max


# -- what was sent, from the deliveries table ---------------------------------------------------

RULE = "id: r\nname: R\ncategory: tips\nwhen: {account.plan: trial}\nactions:\n  - email: {template: t/x, to: role:admin}\n"


def test_sent_counts_reads_sent_queued_sending_and_unknown_rows_in_the_window(session):
    rule = validate_text(RULE, "r.yaml", expected_id="r").rule
    apply_rules(session, [(rule, RULE)], author="test")
    upsert_accounts(session, [{"id": "a1", "name": "A"}, {"id": "a2", "name": "B"}, {"id": "a3", "name": "C"}])
    upsert_contacts(session, [{"id": "c1", "account_id": "a1", "email": "c1@x.test"},
                              {"id": "c3", "account_id": "a3", "email": "c3@x.test"}])  # fmt: skip
    version = session.scalar(select(RuleVersion.id))
    acc = {e: i for e, i in session.execute(select(Account.external_id, Account.id))}
    con = {e: i for e, i in session.execute(select(Contact.external_id, Contact.id))}
    since = NOW - timedelta(days=30)
    rows = [
        # (name, account, contact, status, sent_at, queued_at)
        ("sent-recent", "a1", "c1", "sent", NOW - timedelta(days=2), NOW - timedelta(days=2, minutes=1)),
        ("queued", "a1", "c1", "queued", None, NOW - timedelta(minutes=5)),
        ("sending", "a1", None, "sending", None, NOW - timedelta(minutes=1)),
        ("unknown", "a2", None, "unknown", None, NOW - timedelta(days=1)),
        ("sent-old", "a1", "c1", "sent", since - timedelta(seconds=1), since - timedelta(days=1)),
        ("pending", "a1", "c1", "pending", None, None),
        ("deferred", "a1", "c1", "deferred", None, None),
        ("skipped", "a1", "c1", "skipped", None, None),
        ("held-out", "a1", "c1", "held_out", None, None),
        ("failed", "a1", "c1", "failed", None, NOW - timedelta(days=1)),
        ("other-account", "a3", "c3", "sent", NOW - timedelta(days=1), NOW - timedelta(days=1)),
    ]
    for name, account, contact, status, sent_at, queued_at in rows:
        session.add(Delivery(dedupe_key=name, rule_id="r", rule_version_id=version, action_index=0, channel="email",
                             template="t/x", account_id=acc[account], contact_id=con.get(contact), recipient="x",
                             occurrence=name, status=status, category="tips", sent_at=sent_at, queued_at=queued_at,
                             due_at=NOW - timedelta(days=40)))  # fmt: skip
    session.flush()
    history = sent_counts(session, [acc["a1"], acc["a2"]], [con["c1"]], since)
    assert history.since == since
    assert sorted(s.occurrence for s in history.sent) == ["queued", "sending", "sent-recent", "unknown"]
    by = {s.occurrence: s for s in history.sent}
    assert by["sent-recent"].at == NOW - timedelta(days=2)  # sent_at, not queued_at
    assert by["queued"].at == NOW - timedelta(minutes=5)
    assert (by["sent-recent"].account_id, by["sent-recent"].contact_id, by["sent-recent"].category) == (acc["a1"], con["c1"], "tips")
    # A contact's messages are found by contact too, wherever its account is.
    assert [s.occurrence for s in sent_counts(session, [], [con["c3"]], since).sent] == ["other-account"]
    # A nudge stored before the window and shown inside it is read, with when it was shown.
    nudge_row = Delivery(dedupe_key="nudge", rule_id="r", rule_version_id=version, action_index=0, channel="in_app",
                         template="t/x", account_id=acc["a3"], contact_id=con["c3"], recipient="contact:c3",
                         occurrence="nudge", status="sent", category="tips", sent_at=since - timedelta(days=1),
                         due_at=NOW - timedelta(days=40))  # fmt: skip
    session.add(nudge_row)
    session.flush()
    session.add(Nudge(delivery_id=nudge_row.id, account_id=acc["a3"], contact_id=con["c3"], title="t",
                      seen_at=NOW - timedelta(days=1)))  # fmt: skip
    session.flush()
    shown = {s.occurrence: s for s in sent_counts(session, [], [con["c3"]], since).sent}
    assert shown["nudge"].shown_at == NOW - timedelta(days=1) and shown["other-account"].shown_at is None
    # The history feeds the decision: a1 already had a message this week.
    c = Candidate(999, "r", "new", "tips", 0, "email", acc["a1"], con["c1"], "c1@x.test", NOW)
    assert verdicts(apply_limits([c], history, POLICY, {}, NOW)) == [ACCOUNT_REASON]


def test_a_message_waiting_to_retry_keeps_its_place_in_the_budget(db):
    """A high-priority message deferred after a transient error is counted, so a lower one cannot take its slot."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import update

    from engine.delivery.limits import sent_counts
    from engine.ingest import upsert_accounts
    from engine.models import Account, Delivery, RuleVersion

    now = datetime(2026, 11, 23, 10, tzinfo=UTC)
    with db.session() as s:
        upsert_accounts(s, [{"id": "acme", "name": "Acme"}])
        account = s.query(Account).one()
        version = RuleVersion(rule_id="r", version=1, content="", content_hash="", author="t")
        s.add(version)
        s.flush()
        s.add(Delivery(dedupe_key="k", rule_id="r", rule_version_id=version.id, action_index=0, channel="email",
                       template="t", account_id=account.id, recipient="a@x.test", occurrence="enter:1",
                       status="deferred", attempts=1, queued_at=now - timedelta(minutes=2), due_at=now))  # fmt: skip
    with db.read_session() as s:
        assert [h.rule_id for h in sent_counts(s, [account.id], since=now - timedelta(days=7)).sent] == ["r"]
    with db.session() as s:
        s.execute(update(Delivery).values(attempts=0))  # never tried: not counted
    with db.read_session() as s:
        assert sent_counts(s, [account.id], since=now - timedelta(days=7)).sent == []
