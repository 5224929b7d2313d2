"""Unsubscribe and the suppression list (no Flask here; web/unsubscribe serves the pages).

- ``unsubscribe_token`` / ``read_token``: signed, non-expiring tokens naming an
  address, a category and optionally a contact and a locale.
- ``unsubscribe_url``, ``preferences_url``, ``list_unsubscribe_headers``: the
  links and RFC 8058 headers a non-operational email carries.
- ``suppress``, ``resubscribe``, ``remove_suppressions``, ``suppression_for``, ``suppressed_addresses``:
  the list itself, checked at send time.
- ``known_categories``: what the preference page offers.

See docs/compliance.md.
"""

from engine.compliance.addresses import (
    GENERAL,
    OPERATIONAL,
    InvalidAddress,
    InvalidCategory,
    check_category,
    normalise_address,
)
from engine.compliance.categories import known_categories
from engine.compliance.suppressions import (
    STRENGTH,
    UnsubscribeNotAllowed,
    rejoined_categories,
    remove_suppressions,
    resubscribe,
    suppress,
    suppressed_addresses,
    suppression_for,
    suppressions_of,
)
from engine.compliance.tokens import BadToken, TokenData, read_token, unsubscribe_token
from engine.compliance.urls import ONE_CLICK, list_unsubscribe_headers, preferences_url, unsubscribe_url

__all__ = [
    "GENERAL",
    "ONE_CLICK",
    "OPERATIONAL",
    "STRENGTH",
    "BadToken",
    "InvalidAddress",
    "InvalidCategory",
    "TokenData",
    "UnsubscribeNotAllowed",
    "check_category",
    "known_categories",
    "list_unsubscribe_headers",
    "normalise_address",
    "preferences_url",
    "read_token",
    "rejoined_categories",
    "remove_suppressions",
    "resubscribe",
    "suppress",
    "suppressed_addresses",
    "suppression_for",
    "suppressions_of",
    "unsubscribe_token",
    "unsubscribe_url",
]
