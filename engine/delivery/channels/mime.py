"""The bytes of an email: multipart/alternative text and HTML in UTF-8, with
every header value on one line whatever the template or the data held."""

from __future__ import annotations

import base64
import binascii
import functools
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from email import quoprimime
from email._policybase import Compat32
from email.header import Header
from email.utils import format_datetime, formataddr

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
        from_name, from_addr = _sender(message.from_addr or default_from)
    except AddressError as err:
        raise MessageRefused(f"invalid sender: {err}") from None
    if message.message_id and not _MESSAGE_ID.match(message.message_id):
        raise MessageRefused(f"invalid Message-ID {message.message_id!r}: expected <id@domain>")
    if not message.text and not message.html:
        raise MessageRefused("the message has neither a text nor an HTML body")
    try:
        return _build(message, to_addr, from_name, from_addr)
    except UnicodeEncodeError as err:  # a lone surrogate, which no mail can carry
        raise MessageRefused(f"the message holds text that is not valid Unicode: {err.reason} at {err.start}") from None


def _build(message: OutgoingMessage, to_addr: str, from_name: str, from_addr: str) -> Envelope:
    headers: list[tuple[str, str | Header]] = [
        ("From", _mailbox(from_name, from_addr)),
        ("To", _mailbox(clean_header_text(message.to_name), to_addr)),
        ("Subject", _header(clean_header_text(message.subject))),
        # "+0000": UTC; formatdate(localtime=False) writes "-0000", which RFC 5322 reads as "zone unknown".
        ("Date", format_datetime(datetime.now(UTC))),
    ]
    if message.message_id:
        headers.append(("Message-ID", message.message_id))
    for name, value in message.headers.items():
        if not _HEADER_NAME.match(name):
            raise MessageRefused(f"invalid header name {name!r}")
        if name.lower() in RESERVED_HEADERS:
            raise MessageRefused(f"header {name!r} is set by the channel and cannot be given as an extra header")
        headers.append((name, _header(clean_header_text(value))))
    headers.append(("MIME-Version", "1.0"))
    if message.text and message.html:
        parts = [_part(message.text, "plain"), _part(message.html, "html")]
        boundary = _boundary(parts)
        headers.append(("Content-Type", f'multipart/alternative; boundary="{boundary}"'))
        delimiter = b"--" + boundary.encode("ascii")
        body = b"".join(delimiter + b"\r\n" + _headers(part.headers) + b"\r\n" + part.payload + b"\r\n" for part in parts)
        body += delimiter + b"--\r\n"
    else:
        part = _part(message.text, "plain") if message.text else _part(message.html, "html")
        headers.extend(part.headers)
        body = part.payload
    return Envelope(mail_from=from_addr, rcpt_to=to_addr, data=_headers(headers) + b"\r\n" + body)


class _Wire(Compat32):
    """compat32 with CRLF line ends: what goes on the wire.

    A header of printable ASCII that fits on one line is written as it is: the
    bytes compat32 folding would give (a property test holds the two equal),
    without the folding machinery, which was a third of the cost of a message."""

    def _fold(self, name, value, sanitize):
        if isinstance(value, str) and len(name) + 2 + len(value) <= _FOLD_AT and _PLAIN.match(value):
            return f"{name}: {value}{self.linesep}"
        return super()._fold(name, value, sanitize)


_FOLD_AT = 78  # compat32's max_line_length
_PLAIN = re.compile(r"[\t\x20-\x7e]*\Z")
_WIRE = _Wire(linesep="\r\n")
_MAX_LINE = 998  # SMTP's limit on a line, without the CRLF


@dataclass(frozen=True)
class _Part:
    headers: list[tuple[str, str]]
    payload: bytes  # encoded, CRLF line ends


def _part(body: str, subtype: str) -> _Part:
    """7-bit on the wire, so no server needs 8BITMIME: plain 7bit for short-lined
    ASCII, quoted-printable for mostly-ASCII text (still readable raw), base64 for,
    say, Japanese. (The encoders are in C: the email package's generator
    and quoted-printable encoder were half the cost of a message.)"""
    body = _LINE_ENDS.sub("\n", body)
    if body.isascii() and all(len(line) <= _MAX_LINE for line in body.split("\n")):
        charset, encoding, payload = "us-ascii", "7bit", body.encode("ascii")
    else:
        charset = "utf-8"
        non_ascii = len(body) - len(body.encode("ascii", "ignore"))  # counted in C
        if non_ascii * 3 > len(body):
            # Text travels in canonical form: base64 hides its line ends from the conversion below.
            # encodebytes: lines of 76 characters, as RFC 2045 asks.
            encoding, payload = "base64", base64.encodebytes(body.replace("\n", "\r\n").encode("utf-8")).rstrip(b"\n")
        else:
            encoding, payload = "quoted-printable", binascii.b2a_qp(body.encode("utf-8"), istext=True)
            if max(map(len, payload.split(b"\n"))) > _QP_LINE:
                # binascii can end a line with an encoded space past 76 characters (RFC 2045 6.7).
                payload = quoprimime.body_encode(body.encode("utf-8").decode("latin-1")).encode("ascii")
    headers = [("Content-Type", f'text/{subtype}; charset="{charset}"'), ("Content-Transfer-Encoding", encoding)]
    return _Part(headers, payload.replace(b"\n", b"\r\n"))


_LINE_ENDS = re.compile(r"\r\n?")
_QP_LINE = 76


def _headers(headers: list[tuple[str, str | Header]]) -> bytes:
    return b"".join(_WIRE.fold_binary(name, value) for name, value in headers)


def _boundary(parts: list[_Part]) -> str:
    """A multipart boundary none of the parts contains. "=_" appears in neither
    base64 nor quoted-printable, so only a 7bit part could hold it, and is checked."""
    while True:
        boundary = f"=_{secrets.token_hex(12)}"
        if not any(boundary.encode("ascii") in part.payload for part in parts):
            return boundary


@functools.lru_cache(maxsize=64)
def _sender(value: str) -> tuple[str, str]:
    # Every message of an instance has the same sender: parsed once.
    return parse_mailbox(value)


def _header(value: str) -> str | Header:
    """ASCII as it is; anything else RFC 2047-encoded. ``value`` is already on one line."""
    return value if value.isascii() else Header(value, "utf-8")


def _mailbox(name: str, addr: str) -> str:
    """``Name <addr>``: the name quoted, or RFC 2047-encoded, as it needs; addr is one checked addr-spec."""
    return formataddr((name, addr), charset="utf-8") if name else addr
