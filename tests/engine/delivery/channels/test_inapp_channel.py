"""In-app nudges: sending stores one row per delivery, however often it is sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select

from engine.db import Database
from engine.delivery.channels import (
    InAppChannel,
    config_from_settings,
    get_channel,
    store_nudge,
)
from engine.delivery.message import OutgoingMessage
from engine.ingest import upsert_accounts, upsert_contacts
from engine.models import Contact, Delivery, Nudge
from engine.rules.cycle import run_cycle
from engine.rules.validate import validate_text
from engine.rules.versions import active_rules, apply_rules
from engine.settings import load_settings

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
RULE = """\
id: checklist
name: Checklist
when:
  account.plan: trial
actions:
  - in_app: {template: onboarding/checklist, to: role:admin, expires_in: 7d}
"""


def in_app_delivery(db: Database) -> Delivery:
    """One pending in_app delivery, written by the real cycle."""
    rule = validate_text(RULE, "checklist.yaml", expected_id="checklist").rule
    with db.session() as s:
        apply_rules(s, [(rule, RULE)], author="test")
        upsert_accounts(s, [{"id": "acme", "name": "Acme", "plan": "trial"}])
        upsert_contacts(s, [{"id": "aiko", "account_id": "acme", "email": "aiko@acme.test", "role": "admin"}])
    with db.read_session() as s:
        rules = active_rules(s)
    run_cycle(db, rules, NOW, only_due=False)
    with db.read_session() as s:
        return s.scalars(select(Delivery).where(Delivery.channel == "in_app")).one()


def nudge_for(delivery: Delivery, **overrides) -> OutgoingMessage:
    fields = dict(delivery_id=delivery.id, to_addr=delivery.recipient, subject="Finish\nyour setup",
                  text="Three steps left.", html="<p>Three steps left.</p>", account_id=delivery.account_id,
                  contact_id=delivery.contact_id, expires_at=NOW + timedelta(days=7))
    fields.update(overrides)
    return OutgoingMessage(**fields)


def nudges(db: Database) -> list[Nudge]:
    with db.read_session() as s:
        return list(s.scalars(select(Nudge)))


def test_sending_stores_the_nudge_once(db):
    delivery = in_app_delivery(db)
    with get_channel("in_app", {"database_url": db.url}) as channel:
        first = channel.send(nudge_for(delivery))
        again = channel.send(nudge_for(delivery, subject="changed on retry"))
    assert first.status == again.status == "sent"
    assert "already stored" in again.provider_response
    [nudge] = nudges(db)
    assert (nudge.delivery_id, nudge.account_id, nudge.contact_id) == (delivery.id, delivery.account_id,
                                                                      delivery.contact_id)
    assert nudge.title == "Finish your setup"  # one line, like a subject
    assert (nudge.body_text, nudge.body_html) == ("Three steps left.", "<p>Three steps left.</p>")
    assert nudge.expires_at == NOW + timedelta(days=7)
    assert nudge.seen_at is None and nudge.dismissed_at is None and nudge.created_at is not None


def test_store_nudge_joins_the_callers_transaction(db):
    delivery = in_app_delivery(db)
    with pytest.raises(RuntimeError):
        with db.session() as s:
            assert store_nudge(s, nudge_for(delivery)).status == "sent"
            raise RuntimeError("the send job failed before committing")
    assert nudges(db) == []
    with db.session() as s:
        store_nudge(s, nudge_for(delivery))
        assert store_nudge(s, nudge_for(delivery)).status == "sent"
    assert len(nudges(db)) == 1


def test_the_database_refuses_a_second_nudge_for_a_delivery(db):
    from sqlalchemy.exc import IntegrityError

    delivery = in_app_delivery(db)
    with db.session() as s:
        store_nudge(s, nudge_for(delivery))
    with pytest.raises(IntegrityError):
        with db.session() as s:
            s.add(Nudge(delivery_id=delivery.id, account_id=delivery.account_id, contact_id=delivery.contact_id,
                        title="t", body_html="", body_text=""))


def test_a_nudge_without_its_contact_is_permanent(db):
    delivery = in_app_delivery(db)
    with get_channel("in_app", {"database_url": db.url}) as channel:
        assert channel.send(nudge_for(delivery, contact_id=None)).status == "permanent"
        with db.session() as s:
            s.execute(delete(Contact))
        result = channel.send(nudge_for(delivery))
    assert result.status == "permanent" and "could not store" in result.provider_response
    assert nudges(db) == []


def test_deleting_the_contact_deletes_its_nudges(db):
    delivery = in_app_delivery(db)
    with db.session() as s:
        store_nudge(s, nudge_for(delivery))
    with db.session() as s:
        s.execute(delete(Contact))
    with db.read_session() as s:
        assert s.scalar(select(func.count()).select_from(Nudge)) == 0


def test_config_comes_from_the_database_url(db):
    config = config_from_settings("in_app", load_settings())
    assert config == {"database_url": db.url}
    assert isinstance(get_channel("in_app", config), InAppChannel)
