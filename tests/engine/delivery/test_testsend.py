"""Test sends: composed as the pipeline composes, sent only to the tester, never sent again, never counted."""

from __future__ import annotations

import dataclasses
import email
import email.policy
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from engine.audit import user_actor
from engine.delivery.detail import delivery_detail
from engine.delivery.dispatch import dispatch
from engine.delivery.gates import standard_gates
from engine.delivery.limits import sent_counts
from engine.delivery.log import status_counts
from engine.delivery.preview import preview_template
from engine.delivery.record import stored_messages
from engine.delivery.testsend import TestSendError, send_test, send_test_template
from engine.ingest import upsert_accounts, upsert_contacts
from engine.models import AuditEntry, Delivery, DeliveryEvent
from engine.rules.firing import written_since
from engine.rules.validate import validate_text
from engine.rules.versions import apply_rules
from engine.settings import load_settings

RULE = """\
id: stalled
name: Stalled onboarding
category: onboarding
when:
  account.plan: trial
actions:
  - email: {template: onboarding/stalled, to: role:admin}
"""
ME = "ops@vendor.test"


@pytest.fixture
def applied(db):
    rule = validate_text(RULE, "stalled.yaml", expected_id="stalled").rule
    with db.session() as s:
        apply_rules(s, [(rule, RULE)], author="test")
        upsert_accounts(s, [{"id": "acme", "name": "Acme", "plan": "trial"},
                            {"id": "kaisha", "name": "株式会社テスト", "plan": "trial", "locale": "ja"}])
        upsert_contacts(s, [{"id": "ann", "account_id": "acme", "email": "ann@acme.test", "name": "Ann", "role": "admin"},
                            {"id": "ken", "account_id": "kaisha", "email": "ken@kaisha.test", "name": "健", "role": "admin",
                             "locale": "ja"}])  # fmt: skip
    return db


def settings_for(smtp_server):
    return dataclasses.replace(load_settings(), smtp_url=f"smtp://127.0.0.1:{smtp_server.port}")


def test_a_rule_test_send_goes_to_the_tester_only_marked_and_is_kept_as_sent(applied, smtp_server):
    db = applied
    result = send_test(db, settings_for(smtp_server), rule_id="stalled", account_id="acme", to_address=ME,
                       actor=user_actor(ME))  # fmt: skip
    assert result.sent and result.provider_response.startswith("250 ") and result.subject.startswith("[Test] ")
    (received,) = smtp_server.handler.messages
    assert received["to"] == [ME]  # never the customer
    parsed = email.message_from_bytes(received["data"], policy=email.policy.default)
    assert parsed["Subject"].startswith("[Test] ") and parsed["To"] == ME and "Ann" in parsed.get_body(("plain",)).get_content()
    assert parsed["X-Touchline-Test"] == "rule stalled, account acme"
    with db.read_session() as s:
        row = s.get(Delivery, result.delivery_id)
        assert (row.status, row.recipient, row.sent_at is not None) == ("test", ME, True)
        assert row.message_id == parsed["Message-ID"] == result.message_id
        (stored,) = stored_messages(s, row.id)
        assert stored.content == received["data"]
        events = list(s.scalars(select(DeliveryEvent.status).where(DeliveryEvent.delivery_id == row.id)))
        assert events == ["test", "test"]  # written, then its outcome
        (audit,) = s.scalars(select(AuditEntry).where(AuditEntry.object_type == "test_send")).all()
        assert (audit.actor, audit.action, audit.object_id) == (f"user:{ME}", "send", str(row.id))
        detail = delivery_detail(s, row.id)
        assert detail.is_test and detail.message.subject.startswith("[Test] ")


def test_a_test_send_is_never_dispatched_nor_counted_with_real_sends(applied, smtp_server):
    db = applied
    settings = settings_for(smtp_server)
    result = send_test(db, settings, rule_id="stalled", account_id="acme", to_address=ME, actor=user_actor(ME))
    now = datetime.now(UTC)
    jobs: list = []
    report = dispatch(db, now + timedelta(days=1), lambda j, ids: jobs.append((j, ids)), gates=standard_gates(settings))
    assert report.queued == 0 and jobs == []
    with db.read_session() as s:
        row = s.get(Delivery, result.delivery_id)
        counts = sent_counts(s, {row.account_id}, {row.contact_id}, since=now - timedelta(days=30))
        assert counts.sent == []  # the limits and the fatigue policy never see it
        assert status_counts(s) == {"stalled": {"test": 1}}
        assert written_since(s, "stalled", None, now) == 0  # the circuit breaker does not count it either
    assert len(smtp_server.handler.messages) == 1


def test_a_template_test_send_in_another_locale_is_audited(applied, smtp_server):
    db = applied
    result = send_test_template(db, settings_for(smtp_server), template="onboarding/stalled", account_id="acme",
                                to_address=ME, actor=user_actor(ME), locale="ja")  # fmt: skip
    assert result.sent and result.delivery_id is None
    (received,) = smtp_server.handler.messages
    parsed = email.message_from_bytes(received["data"], policy=email.policy.default)
    assert received["to"] == [ME] and any(ord(ch) > 0x3000 for ch in parsed.get_body(("plain",)).get_content())
    with db.read_session() as s:
        (audit,) = s.scalars(select(AuditEntry).where(AuditEntry.object_type == "test_send")).all()
        assert audit.object_id == "template:onboarding/stalled" and audit.after["locale"] == "ja"
        assert s.scalar(select(Delivery.id)) is None


def test_bad_requests_name_the_problem_and_send_nothing(applied, smtp_server):
    settings = settings_for(smtp_server)
    with pytest.raises(TestSendError, match="no account with the id 'nobody'"):
        send_test(applied, settings, rule_id="stalled", account_id="nobody", to_address=ME, actor="cli:x")
    with pytest.raises(TestSendError, match="no applied rule 'missing'"):
        send_test(applied, settings, rule_id="missing", account_id="acme", to_address=ME, actor="cli:x")
    with pytest.raises(TestSendError, match="no action 2"):
        send_test(applied, settings, rule_id="stalled", account_id="acme", to_address=ME, actor="cli:x", action_index=1)
    with pytest.raises(TestSendError, match="cannot send a test to"):
        send_test(applied, settings, rule_id="stalled", account_id="acme", to_address="not an address", actor="cli:x")
    assert smtp_server.handler.messages == []


def test_a_template_that_does_not_render_is_reported_file_line_and_not_sent(applied, smtp_server, tmp_path):
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "en.html").write_text(
        "{% block subject %}Hi{% endblock %}\n{% block html %}<p>{{ account.nonexistent_field }}</p>{% endblock %}\n"
        "{% block text %}x{% endblock %}\n"
    )
    settings = dataclasses.replace(settings_for(smtp_server), templates_dir=tmp_path)
    result = send_test_template(applied, settings, template="broken", account_id="acme", to_address=ME, actor="cli:x")
    assert not result.sent and result.error.startswith("broken/en.html:2: ") and "nonexistent_field" in result.error
    assert smtp_server.handler.messages == []
    with applied.read_session() as s:
        preview = preview_template(s, settings, template="broken", account_id="acme")
    assert preview.message is None and preview.error == result.error
