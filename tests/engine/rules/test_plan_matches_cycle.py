"""What plan predicts is what the cycle then writes: same entering accounts, same
messages per channel, on the demo dataset with the shipped rules."""

from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from engine.demo import reference_time, seed
from engine.models import Delivery
from engine.rules.cycle import run_cycle
from engine.rules.plan import plan
from engine.rules.versions import active_rules, apply_rules, read_rules

RULES = Path(__file__).resolve().parents[3] / "rules"


def test_plan_predicts_the_cycle(db, monkeypatch):
    monkeypatch.setenv("TOUCHLINE_EVENT_RETENTION_DAYS", "36500")
    reference = reference_time()
    seed(db, accounts=200, seed=11, now=reference)
    now = reference - timedelta(microseconds=1)
    loaded = read_rules([str(RULES)])
    assert loaded.problems == []
    with db.read_session() as session:
        predicted = {p.rule_id: p for p in plan(session, loaded.rules, now) if p.planned}
    assert predicted and any(p.entering for p in predicted.values())
    with db.session() as session:
        apply_rules(session, loaded.rules, author="test")
    with db.read_session() as session:
        rules = active_rules(session)
    run_cycle(db, rules, now, only_due=False)
    with db.read_session() as session:
        written = session.execute(select(Delivery.rule_id, Delivery.channel, Delivery.status, Delivery.occurrence)).all()
    compared = 0
    for rule_id, predicted_plan in predicted.items():
        rule = next(r for _, _, r in rules if r.id == rule_id)
        if rule.min_dwell:
            continue  # entries wait for the dwell time, so the first cycle fires none of them
        # The plan counts before holdout: a control-group account's messages are held_out rows.
        sent = Counter(channel for rid, channel, status, _ in written if rid == rule_id and status in ("pending", "held_out"))
        assert dict(sent) == {k: v for k, v in predicted_plan.messages.items() if v}, rule_id
        compared += sum(sent.values())
        entered = {occ for rid, _, _, occ in written if rid == rule_id}
        assert len(entered) <= predicted_plan.entering
    assert compared > 0
