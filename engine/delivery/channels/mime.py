"""The bytes of an email: multipart/alternative text and HTML in UTF-8, with
every header value on one line whatever the template or the data held."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.charset import BASE64, QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import formataddr, formatdate

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

    # The legacy (compat32) classes: the same bytes a mail reader sees as the
    # policy-based EmailMessage would give, at a third of the cost per message.
    if message.text and message.html:
        msg: Message = MIMEMultipart("alternative")
        msg.attach(_part(message.text, "plain"))
        msg.attach(_part(message.html, "html"))
    else:
        msg = _part(message.text, "plain") if message.text else _part(message.html, "html")
    msg["From"] = _mailbox(from_name, from_addr)
    msg["To"] = _mailbox(clean_header_text(message.to_name), to_addr)
    msg["Subject"] = _header(clean_header_text(message.subject))
    msg["Date"] = formatdate(localtime=False)
    if message.message_id:
        msg["Message-ID"] = message.message_id
    for name, value in message.headers.items():
        if not _HEADER_NAME.match(name):
            raise MessageRefused(f"invalid header name {name!r}")
        if name.lower() in RESERVED_HEADERS:
            raise MessageRefused(f"header {name!r} is set by the channel and cannot be given as an extra header")
        msg[name] = _header(clean_header_text(value))
    return Envelope(mail_from=from_addr, rcpt_to=to_addr, data=msg.as_bytes(policy=_WIRE))


# compat32 with CRLF line ends: what goes on the wire.
_WIRE = compat32.clone(linesep="\r\n")
_MAX_LINE = 998  # SMTP's limit on a line, without the CRLF


def _part(body: str, subtype: str) -> MIMEText:
    """7-bit on the wire, so no server needs 8BITMIME: plain 7bit for short-lined
    ASCII, quoted-printable for mostly-ASCII text (still readable raw), base64 for,
    say, Japanese."""
    if body.isascii() and all(len(line) <= _MAX_LINE for line in body.splitlines()):
        return MIMEText(body, subtype, "us-ascii")
    charset = Charset("utf-8")
    non_ascii = len(body) - len(body.encode("ascii", "ignore"))  # counted in C: a loop per character cost 0.3 ms a message
    charset.body_encoding = BASE64 if non_ascii * 3 > len(body) else QP
    if charset.body_encoding == BASE64:
        # Text travels in canonical form: base64 hides the line ends from the CRLF conversion on output.
        body = body.replace("\r\n", "\n").replace("\n", "\r\n")
    return MIMEText(body, subtype, charset)


def _header(value: str) -> str | Header:
    """ASCII as it is; anything else RFC 2047-encoded. ``value`` is already on one line."""
    return value if value.isascii() else Header(value, "utf-8")


def _mailbox(name: str, addr: str) -> str:
    """``Name <addr>``: the name quoted, or RFC 2047-encoded, as it needs; addr is one checked addr-spec."""
    return formataddr((name, addr), charset="utf-8") if name else addr
