"""Email over SMTP: one connection per batch, reconnected once if it drops.

Errors are classified for the send job: 4xx replies and network failures are
``transient``; 5xx replies are ``permanent``, and a 5xx refusing the
recipient as unknown is a ``hard_bounce``. A message is only resent after a
dropped connection when the drop came before its content was handed over, so
a batch never sends one message twice.
"""

from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from engine.delivery.channels.base import Channel, SendResult, Withdrawn
from engine.delivery.channels.mime import Envelope, MessageRefused, build_email
from engine.delivery.message import OutgoingMessage

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from engine.settings import Settings

# 5.1.x: bad mailbox or domain; 5.2.1: mailbox disabled. 5.7.x is policy
# (spam, relaying), which says nothing about the address.
_HARD_ENHANCED = re.compile(r"^5\.(1\.\d+|2\.1)\b")
_POLICY_ENHANCED = re.compile(r"^5\.7\.\d+\b")
_HARD_CODES = {550, 551, 553}
# Authentication required / too weak / credentials invalid / encryption required.
_NEEDS_LOGIN_OR_TLS = {530, 534, 535, 538}


class _Dropped(Exception):
    """The connection was lost; ``handed_over`` if the whole message had been sent."""

    def __init__(self, step: str, error: BaseException, handed_over: bool) -> None:
        super().__init__(step)
        self.step = step
        self.error = error
        self.handed_over = handed_over


class EmailChannel(Channel):
    name = "email"
    overlaps = True
    claims_late = True
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "required": ["host"],
        "properties": {
            "host": {"type": "string", "minLength": 1},
            "port": {"type": ["integer", "null"], "minimum": 1, "maximum": 65535, "default": None},
            "security": {"enum": ["starttls", "tls", "none"], "default": "none"},
            "username": {"type": ["string", "null"], "default": None},
            "password": {"type": ["string", "null"], "default": None},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "default": 30},
            "ca_file": {"type": ["string", "null"], "default": None},
            "mail_from": {"type": "string", "minLength": 3, "default": "Touchline <touchline@localhost>"},
            "local_hostname": {"type": ["string", "null"], "default": None},
        },
    }
    settings_variables = {
        "host": "TOUCHLINE_SMTP_URL",
        "port": "TOUCHLINE_SMTP_URL",
        "username": "TOUCHLINE_SMTP_URL",
        "password": "TOUCHLINE_SMTP_URL",
        "security": "TOUCHLINE_SMTP_TLS",
        "timeout": "TOUCHLINE_SMTP_TIMEOUT",
        "ca_file": "TOUCHLINE_SMTP_CA_FILE",
        "mail_from": "TOUCHLINE_MAIL_FROM",
    }

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self._smtp: smtplib.SMTP | None = None
        self._down: str | None = None  # why connecting failed in this batch
        self._ready: tuple[OutgoingMessage, Envelope] | None = None  # the next message, built ahead

    @classmethod
    def config_from_settings(cls, settings: Settings) -> dict[str, Any]:
        from engine.settings import parse_smtp_url

        config: dict[str, Any] = {
            "security": settings.smtp_tls,
            "timeout": settings.smtp_timeout,
            "mail_from": settings.mail_from,
            "ca_file": str(settings.smtp_ca_file) if settings.smtp_ca_file else None,
        }
        if settings.smtp_url:
            server = parse_smtp_url(settings.smtp_url)
            config.update(host=server.host, port=server.port, username=server.username, password=server.password)
        return config

    @property
    def port(self) -> int:
        if self.config["port"]:
            return self.config["port"]
        return {"tls": 465, "starttls": 587}.get(self.config["security"], 25)

    # -- the batch -------------------------------------------------------

    def open(self) -> None:
        self._down = None
        self._ready = None

    def prepare(self, message: OutgoingMessage) -> None:
        try:
            self._ready = (message, build_email(message, self.config["mail_from"]))
        except Exception:  # noqa: BLE001 -- send builds it again and reports the problem
            self._ready = None

    def _envelope(self, message: OutgoingMessage) -> Envelope:
        ready, self._ready = self._ready, None
        if ready is not None and ready[0] is message:
            return ready[1]
        return build_email(message, self.config["mail_from"])

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()

    def send(self, message: OutgoingMessage, meanwhile: Callable[[], None] | None = None,
             claim: Callable[[], None] | None = None) -> SendResult:  # fmt: skip
        try:
            envelope = self._envelope(message)
        except MessageRefused as err:
            return SendResult("permanent", str(err))
        reused = self._smtp is not None
        waiting = [meanwhile] if meanwhile is not None else []  # called once, even if the send is retried
        claiming = [claim] if claim is not None else []  # the same
        for attempt in (1, 2):
            if self._smtp is None:
                failure = self._connect()
                if failure is not None:
                    return failure
            try:
                return self._transaction(envelope, waiting, claiming)
            except _Dropped as drop:
                self._discard()
                what = f"connection lost at {drop.step}: {_describe(drop.error)}"
                if drop.handed_over:
                    return SendResult("transient", f"{what} (after the message was sent; it may have been delivered)",
                                      maybe_delivered=True, content=envelope.data)  # fmt: skip
                # A connection kept across a batch may have been closed by the
                # server as idle: try once more on a fresh one.
                if attempt == 2 or not reused:
                    return SendResult("transient", what, channel_down=True)
        raise AssertionError("unreachable")

    # -- the conversation ------------------------------------------------

    def _connect(self) -> SendResult | None:
        if self._down is not None:
            return SendResult("transient", self._down, channel_down=True)
        cfg = self.config
        where = f"{cfg['host']}:{self.port}"
        smtp: smtplib.SMTP | None = None
        try:
            if cfg["security"] == "tls":
                smtp = smtplib.SMTP_SSL(cfg["host"], self.port, local_hostname=cfg["local_hostname"],
                                        timeout=cfg["timeout"], context=self._tls_context())
            else:
                smtp = smtplib.SMTP(cfg["host"], self.port, local_hostname=cfg["local_hostname"],
                                    timeout=cfg["timeout"])
            smtp.ehlo_or_helo_if_needed()
            if cfg["security"] == "starttls":
                if not smtp.has_extn("starttls"):
                    raise smtplib.SMTPNotSupportedError("the server does not offer STARTTLS")
                smtp.starttls(context=self._tls_context())
                smtp.ehlo()
            if cfg["username"]:
                smtp.login(cfg["username"], cfg["password"] or "")
        except (smtplib.SMTPException, OSError) as err:
            if smtp is not None:
                smtp.close()
            self._down = f"cannot use the mail server {where}: {_describe(err)}"
            return SendResult("transient", self._down, channel_down=True)
        self._smtp = smtp
        return None

    def _tls_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.config["ca_file"])

    def _discard(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def _transaction(self, envelope: Envelope, waiting: list[Callable[[], None]],
                     claiming: list[Callable[[], None]]) -> SendResult:  # fmt: skip
        smtp = self._smtp
        assert smtp is not None
        # The addresses are checked addr-specs (build_email): smtplib's mail() and rcpt() would
        # parse each again with the email package, a tenth of the client's time per message.
        commands = (f"MAIL FROM:<{envelope.mail_from}>", f"RCPT TO:<{envelope.rcpt_to}>", "DATA")
        if smtp.has_extn("pipelining"):
            # DATA goes in the same write: the claim cannot wait for the server there.
            while claiming:
                claiming.pop()()
            refused = self._pipelined(smtp, commands)
        else:
            refused = self._one_at_a_time(smtp, commands, claiming)
        if refused is not None:
            return refused
        try:
            smtp.send(_dot_stuffed(envelope.data))
        except (smtplib.SMTPServerDisconnected, OSError) as err:
            # Part of the message may have gone; without the final dot the
            # server discards it, so nothing was delivered.
            raise _Dropped("message content", err, handed_over=False) from None
        while waiting:  # the server is taking the message in: the caller's work meanwhile
            try:
                waiting.pop()()
            except Exception:  # noqa: BLE001 -- must not lose this message's answer
                log.exception("work done while waiting for the mail server failed")
        try:
            code, reply = smtp.getreply()
        except (smtplib.SMTPServerDisconnected, OSError) as err:
            raise _Dropped("end of DATA", err, handed_over=True) from None
        if code != 250:
            return self._refused("end of DATA", code, reply)
        # The bytes the server took in (dot-stuffing is the transport's, undone by the server).
        return SendResult("sent", f"{code} {_text(reply)}", content=envelope.data)

    def _one_at_a_time(self, smtp: smtplib.SMTP, commands: tuple[str, ...],
                       claiming: list[Callable[[], None]]) -> SendResult | None:  # fmt: skip
        """MAIL, RCPT and DATA, each sent once the previous one was accepted. None when the
        server is ready for the content; the refusal otherwise. The caller's claim runs
        while the server answers MAIL FROM."""
        for (step, accepted, recipient), command in zip(_ENVELOPE, commands, strict=True):
            self._command(step, lambda c=command: smtp.putcmd(c))
            try:
                while claiming:
                    claiming.pop()()
            except BaseException:
                # Withdrawn, or the caller's own failure: the conversation is left clean either way.
                self._abandon(smtp, step)
                raise
            code, reply = self._command(step, smtp.getreply)
            if code not in accepted:
                return self._refused(step, code, reply, recipient=recipient)
        return None

    def _pipelined(self, smtp: smtplib.SMTP, commands: tuple[str, ...]) -> SendResult | None:
        """The same in one write, their replies read in turn (RFC 2920, for a server that
        offers PIPELINING): one round trip where there were three."""
        self._command("MAIL FROM", lambda: smtp.send("".join(f"{c}\r\n" for c in commands)))
        replies: list[tuple[int, bytes]] = []
        for step, _accepted, _recipient in _ENVELOPE:
            code, reply = self._command(step, smtp.getreply)
            if code == 421:  # closing: no more replies come
                return self._refused(step, code, reply)
            replies.append((code, reply))
        refusals = [(step, code, reply, recipient)
                    for (step, accepted, recipient), (code, reply) in zip(_ENVELOPE, replies, strict=True)
                    if code not in accepted]  # fmt: skip
        if not refusals:
            return None
        if replies[-1][0] == 354:
            # DATA accepted after the sender or recipient was refused (a server should refuse it):
            # an empty message, ended at once, which it then refuses or drops.
            self._command("DATA", lambda: (smtp.send(".\r\n"), smtp.getreply()))
        step, code, reply, recipient = refusals[0]
        return self._refused(step, code, reply, recipient=recipient)

    def _abandon(self, smtp: smtplib.SMTP, step: str) -> None:
        """Read the reply to a command already sent and RSET, so the next message starts clean;
        a connection that fails meanwhile is dropped (the next message opens a new one)."""
        try:
            self._command(step, smtp.getreply)
        except _Dropped:
            self._discard()
            return
        self._reset()

    def _command(self, step: str, call) -> tuple[int, bytes]:
        try:
            return call()
        except (smtplib.SMTPServerDisconnected, OSError) as err:
            raise _Dropped(step, err, handed_over=False) from None

    def _refused(self, step: str, code: int, reply: bytes, recipient: bool = False) -> SendResult:
        text = f"{step} {code} {_text(reply)}"
        if code == 421 or code in _NEEDS_LOGIN_OR_TLS:
            # The server is closing the connection (overloaded, rate limit), or
            # wants a login or TLS we did not give: the whole batch would fail.
            self._discard()
            return SendResult("transient", text, channel_down=True)
        self._reset()
        if 400 <= code < 500:
            return SendResult("transient", text)
        if 500 <= code < 600:
            return SendResult("permanent", text, hard_bounce=recipient and _is_hard_bounce(code, _text(reply)))
        # Not a reply SMTP defines (-1 is smtplib's "connection closed").
        self._discard()
        return SendResult("transient", text)

    def _reset(self) -> None:
        """RSET after a refused step, so the next message starts clean."""
        if self._smtp is None:
            return
        try:
            code, _ = self._smtp.rset()
            if code != 250:
                self._discard()
        except (smtplib.SMTPException, OSError):
            self._discard()


# The envelope's steps: the replies that let it go on, and whether a refusal is the recipient's.
_ENVELOPE = (("MAIL FROM", (250,), False), ("RCPT TO", (250, 251), True), ("DATA", (354,), False))


def _is_hard_bounce(code: int, reply: str) -> bool:
    if _HARD_ENHANCED.match(reply):
        return True
    if _POLICY_ENHANCED.match(reply):
        return False
    return code in _HARD_CODES


def _dot_stuffed(data: bytes) -> bytes:
    """CRLF line ends, leading dots doubled, and the terminating dot line."""
    if data.count(b"\n") != data.count(b"\r\n") or data.count(b"\r") != data.count(b"\r\n"):  # counted in C
        data = re.sub(rb"\r\n|\r|\n", b"\r\n", data)
    data = re.sub(rb"(?m)^\.", b"..", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return data + b".\r\n"


def _text(reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return " ".join(text.split())


def _describe(err: BaseException) -> str:
    if isinstance(err, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(err, smtplib.SMTPResponseException):
        return f"{err.smtp_code} {_text(err.smtp_error)}"
    if isinstance(err, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {err.verify_message}"
    return f"{type(err).__name__}: {err}" if str(err) else type(err).__name__
