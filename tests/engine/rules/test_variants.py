"""A/B variants: declared on one action, assigned per account by hash, recorded on each delivery."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from engine.ingest import upsert_accounts, upsert_contacts
from engine.models import Account, Delivery
from engine.rules.cycle import run_cycle
from engine.rules.schema import Variant
from engine.rules.validate import validate_text
from engine.rules.variants import variant_for
from engine.rules.versions import active_rules, apply_rules

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
RULE = """\
id: ab-stalled
name: A/B stalled onboarding
holdout: 20
when:
  account.plan: trial
actions:
  - email:
      template: onboarding/stalled
      to: role:admin
      variants:
        - {name: long, weight: 1}
        - {name: short, template: onboarding/checklist, weight: 3}
  - in_app: {template: onboarding/checklist, to: role:admin}
"""


def problems(text: str) -> list[str]:
    return [f"{p.line}: {p.path}: {p.message}" for p in validate_text(text, "r.yaml").problems]


def test_variants_parse_with_weights_and_templates():
    rule = validate_text(RULE, "ab-stalled.yaml", expected_id="ab-stalled").rule
    assert rule.actions[0].variants == (Variant("long", 1, None), Variant("short", 3, "onboarding/checklist"))
    assert rule.actions[1].variants == ()


@pytest.mark.parametrize(
    ("variants", "expected"),
    [
        ("[{name: only}]", "a list of 2 to 10 variants"),
        ("[{name: a}, {name: a}]", "variant 'a' is named twice"),
        ("[{name: a}, {name: B!}]", "variant name"),
        ("[{name: a, weight: 0}, {name: b}]", "weight"),
        ("[{name: a, colour: red}, {name: b}]", "unknown key 'colour'"),
        ("[{weight: 2}, {name: b}]", "name"),
    ],
)
def test_bad_variants_name_the_problem(variants, expected):
    text = RULE.replace("""      variants:
        - {name: long, weight: 1}
        - {name: short, template: onboarding/checklist, weight: 3}
""", f"      variants: {variants}\n")
    found = problems(text)
    assert any(expected in p and "actions[0].email.variants" in p for p in found), found


def test_only_one_action_may_have_variants():
    text = RULE.replace("  - in_app: {template: onboarding/checklist, to: role:admin}",
                        "  - in_app: {template: onboarding/checklist, to: role:admin, variants: [{name: a}, {name: b}]}")
    assert any("only one action of a rule may have variants" in p for p in problems(text))


def test_assignment_is_stable_weighted_and_redrawn_when_the_variants_change():
    vs = (Variant("long", 1), Variant("short", 3))
    keys = [f"acct-{i}" for i in range(20_000)]
    picks = Counter(variant_for("r", k, vs).name for k in keys)
    assert abs(picks["short"] / len(keys) - 0.75) < 0.015
    assert all(variant_for("r", k, vs) == variant_for("r", k, vs) for k in keys[:100])
    other_rule = sum(variant_for("r", k, vs) != variant_for("r2", k, vs) for k in keys)
    assert other_rule > 5_000  # each rule draws its own split
    changed = (Variant("long", 1), Variant("short", 1))
    assert sum(variant_for("r", k, vs) != variant_for("r", k, changed) for k in keys) > 5_000


def test_each_delivery_records_its_accounts_variant_and_the_tested_action_its_template(db):
    rule = validate_text(RULE, "ab-stalled.yaml", expected_id="ab-stalled").rule
    with db.session() as s:
        apply_rules(s, [(rule, RULE)], author="test")
        upsert_accounts(s, [{"id": f"a{i}", "name": f"A{i}", "plan": "trial"} for i in range(200)])
        upsert_contacts(s, [{"id": f"c{i}", "account_id": f"a{i}", "email": f"c{i}@x.test", "role": "admin"} for i in range(200)])
    with db.read_session() as s:
        rules = active_rules(s)
    run_cycle(db, rules, NOW, only_due=False)
    with db.read_session() as s:
        rows = s.execute(select(Account.external_id, Delivery.action_index, Delivery.status, Delivery.variant, Delivery.template)
                         .join(Account, Account.id == Delivery.account_id)).all()  # fmt: skip
    by_account: dict[str, list] = {}
    for key, index, status, variant, template in rows:
        by_account.setdefault(key, []).append((index, status, variant, template))
    assert len(by_account) == 200
    for key, items in by_account.items():
        if items[0][1] == "held_out":
            assert all(v is None for _, _, v, _ in items)  # the control group gets no variant
            continue
        expected = variant_for("ab-stalled", key, rule.actions[0].variants)
        for index, status, variant, template in items:
            assert variant == expected.name
            if index == 0:
                assert template == (expected.template or "onboarding/stalled")
            else:
                assert template == "onboarding/checklist"
    assert {v for items in by_account.values() for _, _, v, _ in items} == {None, "long", "short"}
