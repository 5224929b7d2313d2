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
