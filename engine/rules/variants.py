"""A/B variants: which variant of a rule's tested action each account gets.

Like the holdout (engine.delivery.holdout), a pure function of the rule id and
the account's external id, so it survives re-imports and database moves, with
no state stored. The variants' names and weights are hashed in too: a new rule
version that keeps them keeps every account's variant; changing them draws
afresh (the earlier results then belong to the earlier split). Weights are
shares: [50, 50] is an even split, [1, 3] gives the second three times as many.
"""

from __future__ import annotations

import hashlib

from engine.rules.schema import Variant

_SCALE = 2**64


def variant_for(rule_id: str, account_key: str, variants: tuple[Variant, ...]) -> Variant:
    """The account's variant (by its external id)."""
    if not variants:
        raise ValueError("variant_for needs at least one variant")
    signature = ",".join(f"{v.name}:{v.weight}" for v in variants)
    digest = hashlib.sha256(f"{rule_id}\0variants\0{signature}\0{account_key}".encode()).digest()
    point = int.from_bytes(digest[:8], "big") * sum(v.weight for v in variants) / _SCALE
    for variant in variants:
        if point < variant.weight:
            return variant
        point -= variant.weight
    return variants[-1]  # float rounding at the very top


def tested_action(actions) -> tuple[int, tuple[Variant, ...]] | None:
    """(index, variants) of the rule's action with variants, if any (at most one has them)."""
    return next(((i, a.variants) for i, a in enumerate(actions) if a.variants), None)
