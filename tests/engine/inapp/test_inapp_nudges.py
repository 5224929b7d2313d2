"""A contact's active nudges and the events the product reports."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from engine.compliance import suppress
from engine.delivery.policy import Policy
from engine.inapp.nudges import BadEvent, NudgeNotFound, active_nudges, record_event, sanitise
from engine.models import Nudge, NudgeEvent, RuleState, utcnow
from engine.rules.schema import Limit


def listed(db, w, who="ann", policy=Policy(), now=None):
    with db.read_session() as s:
        return active_nudges(s, w.contacts[who], _account(s, w.contacts[who]), now or utcnow(), policy)


def _account(s, contact_id):
    from engine.models import Contact

    return s.get(Contact, contact_id).account_id


def event(db, w, who, nudge_id, kind, until=None, now=None):
    with db.session() as s:
        return record_event(s, w.contacts[who], nudge_id, kind, now or utcnow(), until)


def test_highest_priority_first_with_the_templates_call_to_action(db, inapp_nudges):
    w = inapp_nudges
    found = listed(db, w)
    assert [n.kind for n in found.nudges] == ["banner", "card"]
    banner = found.nudges[0]
    assert (banner.priority, banner.title, banner.locale) == (70, "Finish setting up Acme", "en")
    assert banner.cta == {"label": "Open the setup checklist", "url": f"{w.settings.public_url}/setup"}
    assert found.unread == 2 and found.as_json()["poll_after"] > 0
    carl = listed(db, w, "carl").nudges[0]
    assert carl.locale == "ja" and carl.title == "Globex の初期設定を完了しましょう"


def test_events_are_recorded_once_and_change_the_list_and_its_etag(db, inapp_nudges):
    w = inapp_nudges
    before = listed(db, w)
    first = event(db, w, "ann", w.nudge[("ann", "banner")], "seen")
    again = event(db, w, "ann", w.nudge[("ann", "banner")], "seen")
    assert first.first and not again.first and again.at == first.at
    after = listed(db, w)
    assert after.unread == 1 and after.etag != before.etag
    assert listed(db, w).etag == after.etag  # nothing changed: the same tag
    event(db, w, "ann", w.nudge[("ann", "banner")], "dismissed")
    assert [n.kind for n in listed(db, w).nudges] == ["card"]
    with db.read_session() as s:
        assert s.scalar(select(Nudge.dismissed_at).where(Nudge.id == w.nudge[("ann", "banner")])) is not None
        assert {e.type for e in s.scalars(select(NudgeEvent))} == {"seen", "dismissed"}


def test_snooze_hides_until_then(db, inapp_nudges):
    w = inapp_nudges
    now = utcnow()
    event(db, w, "ann", w.nudge[("ann", "card")], "snoozed", until=now + timedelta(hours=2), now=now)
    assert [n.kind for n in listed(db, w, now=now).nudges] == ["banner"]
    assert [n.kind for n in listed(db, w, now=now + timedelta(hours=3)).nudges] == ["banner", "card"]
    for bad in (None, now - timedelta(minutes=1), now + timedelta(days=31)):
        with pytest.raises(BadEvent):
            event(db, w, "ann", w.nudge[("ann", "card")], "snoozed", until=bad, now=now)
    with pytest.raises(BadEvent):
        event(db, w, "ann", w.nudge[("ann", "card")], "opened")


def test_another_contacts_nudge_is_not_found(db, inapp_nudges):
    w = inapp_nudges
    with pytest.raises(NudgeNotFound):
        event(db, w, "ann", w.nudge[("carl", "banner")], "dismissed")
    with pytest.raises(NudgeNotFound):
        event(db, w, "ann", w.nudge[("bea", "banner")], "clicked")
    assert all(n.id not in (w.nudge[("bea", "banner")], w.nudge[("carl", "banner")]) for n in listed(db, w).nudges)


def test_paused_rules_expired_and_unsubscribed_nudges_are_withdrawn(db, inapp_nudges):
    w = inapp_nudges
    with db.session() as s:
        s.execute(update(RuleState).where(RuleState.rule_id == "setup-banner").values(paused=True, paused_reason="review"))
    assert [n.kind for n in listed(db, w).nudges] == ["card"]
    with db.session() as s:
        suppress(s, "ann@acme.test", "unsubscribed", "product-tips", "preference page")
    assert listed(db, w).nudges == []
    assert [n.kind for n in listed(db, w, "bea").nudges] == ["card"]  # Bea did not unsubscribe
    assert listed(db, w, "bea", now=utcnow() + timedelta(days=8)).nudges[0].kind == "card"  # the card never expires
    with db.session() as s:
        s.execute(update(RuleState).values(paused=False))
    assert [n.kind for n in listed(db, w, "bea", now=utcnow() + timedelta(days=8)).nudges] == ["card"]  # the banner expired


def test_the_policy_caps_new_nudges_per_account_when_shown(db, inapp_nudges):
    w = inapp_nudges
    cap = Policy(in_app_shown_per_account=Limit(1, 1))
    assert len(listed(db, w, "bea", cap).nudges) == 2  # nothing shown in acme yet
    event(db, w, "ann", w.nudge[("ann", "banner")], "seen")
    assert [n.kind for n in listed(db, w, "ann", cap).nudges] == ["banner"]  # what Ann has seen stays
    assert listed(db, w, "bea", cap).nudges == []  # acme has had its one today
    assert len(listed(db, w, "carl", cap).nudges) == 2  # another account
    assert len(listed(db, w, "bea", cap, now=utcnow() + timedelta(days=1, minutes=1)).nudges) == 2


@pytest.mark.parametrize(
    "body",
    ['<p>Hi<script>window.pwned=1</script></p>', '<img src=x onerror="window.pwned=1">', '<a href="javascript:alert(1)">x</a>',
     '<p onclick="x()">Hi</p>', '<iframe src="https://evil.test"></iframe>', '<style>*{display:none}</style><p>Hi</p>',
     '<a href="data:text/html,<script>1</script>">x</a>', '<svg onload="x()"></svg>'],
)
def test_sanitised_html_keeps_no_script_handler_or_dangerous_url(body):
    clean = sanitise(body)
    for bad in ("<script", "onerror", "onclick", "onload", "javascript:", "<iframe", "<style", "data:", "<svg", "<img"):
        assert bad not in clean.lower(), clean
    assert sanitise('<p>Read <a href="https://x.test/a">this</a></p>') == '<p>Read <a href="https://x.test/a" rel="noopener noreferrer">this</a></p>'
