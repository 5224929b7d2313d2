"""Holdout: which accounts a rule keeps back as its control group.

The group is a pure function of the rule id and the account's *external* id
(the id the product sends, ``accounts.external_id``), never of the database
id: re-importing the accounts into a fresh database, or moving from SQLite to
PostgreSQL, keeps every account in the group it was in, so results measured
before and after compare like with like. No state is stored to decide it.

``sha256(rule_id NUL account_id)``'s first 8 bytes, read as a number in
``[0, 2**64)``, place the account at ``bucket = n / 2**64 * 100`` in
``[0, 100)``; the account is held out when ``bucket < percent``. Hence:

- the same rule and account always get the same answer, in any process;
- raising a rule's percentage only adds accounts to its group, never swaps
  them (an account held out at 10% is held out at 20%);
- each rule draws its own group (the rule id is hashed in), so one account
  is not the control of every rule at once.

The unit is the account even for contact-level rules: all contacts of one
account are in the same group, so an account never gets half a campaign.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

_SCALE = 2**64


def holdout_bucket(rule_id: str, account_key: str) -> float:
    """Where the account falls for this rule, a number in ``[0, 100)``."""
    return _draw(rule_id, account_key) * 100 / _SCALE


def in_holdout(rule_id: str, account_key: str, percent: float) -> bool:
    """True when the account (by its external id) is in the rule's control group.

    ``percent`` is the rule's ``holdout``, 0 to 100 (rules allow up to 50).
    """
    if not 0 <= percent <= 100:  # also refuses NaN
        raise ValueError(f"holdout percent must be from 0 to 100, got {percent!r}")
    if not isinstance(account_key, str) or not account_key:
        # A database id passed by mistake would silently draw another group.
        raise TypeError(f"in_holdout takes the account's external id (text), got {account_key!r}")
    # Integer comparison: no rounding at the edges (0% holds out nobody, 100% everybody).
    return _draw(rule_id, account_key) * 100 < percent * _SCALE


def _draw(rule_id: str, account_key: str) -> int:
    digest = hashlib.sha256(f"{rule_id}\x00{account_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


# -- the global holdout ----------------------------------------------------------------
#
# The program's control group (``global_holdout`` in the policy file, engine.delivery.policy):
# accounts kept out of every marketing play, so that the whole program can be compared with
# them (engine.results.program). The same scheme as a rule's group, drawn with a salt that no
# rule id can equal (rule ids have no spaces), so the global group is independent of every
# rule's group and of every A/B draw: being held out of the program says nothing about an
# account's group in any rule.

GLOBAL_SALT = "global holdout"
# Every row the global holdout stops carries a reason starting so (engine.rules.firing).
GLOBAL_REASON_PREFIX = "global holdout"


def global_holdout_bucket(account_key: str) -> float:
    """Where the account falls in the program's draw, a number in ``[0, 100)``."""
    return _draw(GLOBAL_SALT, account_key) * 100 / _SCALE


def in_global_holdout(account_key: str, percent: float) -> bool:
    """True when the account (by its external id) is in the program's control group.

    ``percent`` is the policy's ``global_holdout.percent`` (the policy allows 0 to 20). As for
    a rule: raising it only adds accounts to the group, and 0 holds out nobody.
    """
    return in_holdout(GLOBAL_SALT, account_key, percent)


def global_holdout_flags(account_keys: Iterable[str], percent: float) -> list[bool]:
    """``in_global_holdout`` of many accounts at once, in their order (a results pass draws
    every account: this is the same draw without the per-call checks)."""
    if not 0 <= percent <= 100:
        raise ValueError(f"holdout percent must be from 0 to 100, got {percent!r}")
    threshold, sha256, prefix = percent * _SCALE, hashlib.sha256, f"{GLOBAL_SALT}\x00"
    return [int.from_bytes(sha256(f"{prefix}{key}".encode()).digest()[:8], "big") * 100 < threshold
            for key in account_keys]  # fmt: skip


def global_holdout_reason(percent: float) -> str:
    """The reason on a message the global holdout stopped."""
    return f"{GLOBAL_REASON_PREFIX}: in the program's {percent:g}% control group"
