"""Recipient addresses and categories as the suppression list keys them."""

from __future__ import annotations

import re

from engine.rules.validate import CATEGORY

OPERATIONAL = "operational"
GENERAL = "general"
MAX_ADDRESS = 320
# Deliberately loose: this is a lookup key, not a deliverability check. It only
# refuses what cannot be an address (no "@", spaces, control characters).
_ADDRESS = re.compile(r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+$")


class InvalidAddress(ValueError):
    pass


class InvalidCategory(ValueError):
    pass


def normalise_address(address: str) -> str:
    """Trimmed and lower-cased, so ``Ann@Example.com`` and ``ann@example.com`` are one recipient."""
    if not isinstance(address, str):
        raise InvalidAddress(f"address: expected a string, got {type(address).__name__}")
    value = address.strip().lower()
    if not value or len(value) > MAX_ADDRESS or not _ADDRESS.match(value):
        raise InvalidAddress(f"address {address!r}: not an email address")
    return value


def check_category(category: str) -> str:
    if not isinstance(category, str) or not CATEGORY.match(category):
        raise InvalidCategory(
            f"category {category!r}: use lowercase letters, digits, '-' or '_' (at most 50), as in a rule's category"
        )
    return category
