"""The bytes of an email: multipart/alternative text and HTML in UTF-8, with
every header value on one line whatever the template or the data held."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import formatdate

from engine.delivery.message import (
    AddressError,
    OutgoingMessage,
    clean_header_text,
    parse_addr_spec,
    parse_mailbox,
)

# Headers this module writes itself (or that would change who receives the
# message or how it is parsed); an extra header may not replace them.
RESERVED_HEADERS = frozenset(
    h.lower()
    for h in (
        "From", "To", "Cc", "Bcc", "Sender", "Subject", "Date", "Message-ID", "MIME-Version",
        "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "Return-Path", "Received",
    )
)  # fmt: skip
_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,76}$")
_MESSAGE_ID = re.compile(r"^<[!-;=?-~]+@[!-;=?-~]+>$")  # printable ASCII, no spaces, no <>


class MessageRefused(ValueError):
    """The message cannot be sent as it is (a permanent failure); the text says why."""


@dataclass(frozen=True)
class Envelope:
    mail_from: str
    rcpt_to: str
    data: bytes


def build_email(message: OutgoingMessage, default_from: str) -> Envelope:
    """The SMTP envelope and the message bytes, or MessageRefused."""
    try:
        to_addr = parse_addr_spec(message.to_addr)
    except AddressError as err:
        raise MessageRefused(f"invalid recipient: {err}") from None
    try:
        from_name, from_addr = parse_mailbox(message.from_addr or default_from)
    except AddressError as err:
        raise MessageRefused(f"invalid sender: {err}") from None
    if message.message_id and not _MESSAGE_ID.match(message.message_id):
        raise MessageRefused(f"invalid Message-ID {message.message_id!r}: expected <id@domain>")
    if not message.text and not message.html:
        raise MessageRefused("the message has neither a text nor an HTML body")

    msg = EmailMessage(policy=SMTP)
    msg["From"] = _address(from_name, from_addr)
    msg["To"] = _address(clean_header_text(message.to_name), to_addr)
    msg["Subject"] = clean_header_text(message.subject)
    msg["Date"] = formatdate(localtime=False)
    if message.message_id:
        msg["Message-ID"] = message.message_id
    for name, value in message.headers.items():
        if not _HEADER_NAME.match(name):
            raise MessageRefused(f"invalid header name {name!r}")
        if name.lower() in RESERVED_HEADERS:
            raise MessageRefused(f"header {name!r} is set by the channel and cannot be given as an extra header")
        msg[name] = clean_header_text(value)
    if message.text:
        msg.set_content(message.text, charset="utf-8", cte=_transfer_encoding(message.text))
        if message.html:
            msg.add_alternative(message.html, subtype="html", charset="utf-8", cte=_transfer_encoding(message.html))
    else:
        msg.set_content(message.html, subtype="html", charset="utf-8", cte=_transfer_encoding(message.html))
    return Envelope(mail_from=from_addr, rcpt_to=to_addr, data=msg.as_bytes(policy=SMTP))


def _transfer_encoding(body: str) -> str | None:
    """7-bit on the wire, so no server needs 8BITMIME: quoted-printable for
    mostly-ASCII text (still readable raw), base64 for, say, Japanese."""
    if body.isascii():
        return None  # the email package picks 7bit, or quoted-printable for overlong lines
    non_ascii = len(body) - len(body.encode("ascii", "ignore"))  # counted in C: a loop per character cost 0.3 ms a message
    return "base64" if non_ascii * 3 > len(body) else "quoted-printable"


def _address(name: str, addr: str) -> Address:
    local, _, domain = addr.rpartition("@")
    # Address quotes or RFC 2047-encodes the display name as it needs.
    return Address(display_name=name, username=local, domain=domain)
