"""A development SMTP server that delivers nothing: it keeps every message it
receives in a Maildir (``<instance>/mail/``) so the admin can show them.

Messages are stored as received, with the SMTP envelope added in front as
``Return-Path`` and ``Delivered-To`` headers (the usual Maildir convention),
because Bcc recipients appear nowhere else.
"""

from __future__ import annotations

import logging
import mailbox
from dataclasses import dataclass
from datetime import datetime, timezone
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

ENVELOPE_FROM = "Return-Path"
ENVELOPE_TO = "Delivered-To"


def mail_dir(instance_dir: Path) -> Path:
    return Path(instance_dir) / "mail"


def open_maildir(path: Path, create: bool = True) -> mailbox.Maildir:
    return mailbox.Maildir(str(path), factory=None, create=create)


class MaildirHandler:
    """aiosmtpd handler: every accepted message goes into the Maildir."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.maildir = open_maildir(self.path)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 (aiosmtpd's name)
        content = envelope.original_content or envelope.content
        if isinstance(content, str):
            content = content.encode("utf-8", "surrogateescape")
        trace = [f"{ENVELOPE_FROM}: <{envelope.mail_from or ''}>"]
        trace += [f"{ENVELOPE_TO}: {rcpt}" for rcpt in envelope.rcpt_tos]
        raw = ("\r\n".join(trace) + "\r\n").encode("utf-8") + content
        try:
            key = self.maildir.add(raw)
        except OSError as exc:
            log.error("could not store a message in %s: %s", self.path, exc)
            return "451 Requested action aborted: could not store the message"
        log.info("caught mail %s from %s to %s", key, envelope.mail_from, ", ".join(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


class MailCatcher:
    """An SMTP server on loopback, run in a background thread."""

    def __init__(self, path: Path, port: int = 0, host: str = "127.0.0.1") -> None:
        from engine.embedded.process import free_port

        self.path = Path(path)
        self.host = host
        self.port = port or free_port(host)
        self.handler = MaildirHandler(self.path)
        self._controller: Any = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def start(self) -> MailCatcher:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self.handler, hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    def __enter__(self) -> MailCatcher:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class CaughtMessage:
    key: str
    received_at: datetime
    subject: str
    from_header: str
    to_header: str
    envelope_from: str
    envelope_to: tuple[str, ...]
    size: int


def _summary(key: str, msg: mailbox.MaildirMessage) -> CaughtMessage:
    parsed = BytesParser(policy=policy.default).parsebytes(msg.as_bytes(), headersonly=True)
    return CaughtMessage(
        key=key,
        received_at=datetime.fromtimestamp(msg.get_date(), timezone.utc),
        subject=str(parsed.get("Subject", "")),
        from_header=str(parsed.get("From", "")),
        to_header=", ".join(addr for _, addr in getaddresses([str(v) for v in parsed.get_all("To", [])])),
        envelope_from=str(parsed.get(ENVELOPE_FROM, "")).strip("<>"),
        envelope_to=tuple(str(v) for v in parsed.get_all(ENVELOPE_TO, [])),
        size=len(msg.as_bytes()),
    )


def list_messages(path: Path, limit: int | None = None) -> list[CaughtMessage]:
    """Caught messages, newest first; an empty list if none were caught yet."""
    if not Path(path).is_dir():
        return []
    box = open_maildir(Path(path), create=False)
    found = [_summary(key, msg) for key, msg in box.iteritems()]
    found.sort(key=lambda m: (m.received_at, m.key), reverse=True)
    return found[:limit] if limit is not None else found


def read_message(path: Path, key: str) -> EmailMessage:
    """One caught message, parsed (``KeyError`` if there is no such key)."""
    box = open_maildir(Path(path), create=False)
    with box.get_file(key) as fh:
        return BytesParser(policy=policy.default).parse(fh)
