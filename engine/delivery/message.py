"""What the send job hands to a channel: one already-rendered message.

Channels never render or look anything up; every field they need is here.
``email`` uses the addressing and MIME fields, ``in_app`` the account,
contact and expiry, ``webhook`` all of it as JSON (plus ``url`` to override
the channel's default endpoint).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class OutgoingMessage:
    delivery_id: int
    to_addr: str  # an email address; for in_app/webhook the delivery's recipient (``contact:<id>``)
    subject: str
    text: str = ""
    html: str = ""
    from_addr: str = ""  # empty: the channel's configured sender (TOUCHLINE_MAIL_FROM)
    to_name: str = ""
    headers: dict[str, str] = field(default_factory=dict)  # extra email headers, e.g. List-Unsubscribe
    message_id: str = ""  # "<...@domain>", from message_id_for(); empty: the channel derives none
    account_id: int | None = None
    contact_id: int | None = None
    expires_at: datetime | None = None  # in_app: when the nudge stops showing; None = never
    # in_app: how and in which order the product shows it, its call to action, the language rendered.
    kind: str = "card"
    priority: int = 50
    cta_label: str = ""
    cta_url: str = ""
    locale: str | None = None
    url: str | None = None  # webhook: the rule's endpoint; None = the channel's default
    format: str | None = None  # webhook: the rule's payload format; None = the channel's default
    data: dict[str, Any] = field(default_factory=dict)  # webhook: extra JSON fields (rule, template, account...)


_DOMAIN = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")


def message_id_for(delivery_id: int, domain: str) -> str:
    """The Message-ID of a delivery: the same on every attempt, so a retried
    send is recognisably the same message to the receiving side, and a
    bounce or reply that quotes it leads back to the delivery
    (``delivery_id_from_message_id``).
    """
    if isinstance(delivery_id, bool) or not isinstance(delivery_id, int) or delivery_id < 0:
        raise ValueError(f"delivery id {delivery_id!r}: expected a non-negative whole number")
    host = domain.strip().lower()
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError(f"domain {domain!r} is not a valid host name") from None
    if not _DOMAIN.match(host):
        raise ValueError(f"domain {domain!r} is not a valid host name")
    return f"<touchline.delivery.{delivery_id}@{host}>"


_OURS = re.compile(r"^<touchline\.delivery\.(\d+)@[^<>@\s]+>$")


def delivery_id_from_message_id(message_id: str) -> int | None:
    """The delivery a Message-ID from ``message_id_for`` names; None for any other."""
    match = _OURS.match(message_id.strip())
    return int(match.group(1)) if match else None


# Header injection: anything a mail reader or an SMTP server might take for
# the end of a line. CR and LF end a header; the rest are line breaks to
# str.splitlines(), which the email package consults when folding.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
_BREAK_RUNS = re.compile(r"[\s\x00-\x1f\x7f\x85\u2028\u2029]*[\x00-\x1f\x7f\x85\u2028\u2029][\s\x00-\x1f\x7f\x85\u2028\u2029]*")


class AddressError(ValueError):
    """Not exactly one valid email address; the message says what is wrong."""


def clean_header_text(value: str) -> str:
    """``value`` on one line: every run of line breaks and control characters
    (tabs included) becomes one space, so a name, subject or header value
    can never start a header of its own."""
    return _BREAK_RUNS.sub(" ", value).strip()


_NOT_ONE_ADDRESS = re.compile(r'[\s,;<>()\[\]"\\:]')
# RFC 5321 dot-atom local part; quoted local parts are refused (no real
# recipient needs them, and they are where parsers disagree).
_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$")


def parse_addr_spec(value: str) -> str:
    """``value`` if it is one bare address (``user@example.com``), the domain
    IDNA-encoded; raise AddressError otherwise."""
    if _CONTROL.search(value):
        raise AddressError(f"{value!r} contains a line break or control character")
    addr = value.strip()
    if not addr:
        raise AddressError("the address is empty")
    if _NOT_ONE_ADDRESS.search(addr):
        raise AddressError(f"{addr!r} is not a single address (it has spaces, a list separator or brackets)")
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain:
        raise AddressError(f"{addr!r} is not an address: expected user@domain")
    if len(local) > 64 or not _LOCAL.match(local):
        raise AddressError(f"{addr!r}: the part before @ is not a valid mailbox name")
    try:
        # The IDNA codec is slow, and an ASCII domain comes out of it as it went in (lowercase).
        ascii_domain = domain.lower() if domain.isascii() else domain.lower().encode("idna").decode("ascii")
    except UnicodeError:
        raise AddressError(f"{addr!r}: {domain!r} is not a valid domain") from None
    if not _DOMAIN.match(ascii_domain) or "." not in ascii_domain and ascii_domain != "localhost":
        raise AddressError(f"{addr!r}: {domain!r} is not a valid domain")
    return f"{local}@{ascii_domain}"


def parse_mailbox(value: str) -> tuple[str, str]:
    """``Name <user@example.com>`` or a bare address as (display name, address);
    raise AddressError for anything but exactly one valid address."""
    if _CONTROL.search(value):
        raise AddressError(f"{value!r} contains a line break or control character")
    text = value.strip()
    if text.endswith(">") and "<" in text:
        name, _, rest = text.rpartition("<")
        name = name.strip()
        quoted = name.startswith('"') and name.endswith('"') and len(name) >= 2
        if quoted:
            name = name[1:-1]
        if any(c in name for c in ('"\\<>' if quoted else '<>@,;"\\')):
            raise AddressError(f"{value!r} is not a single address")
        return name, parse_addr_spec(rest[:-1])
    return "", parse_addr_spec(text)
