"""Webhooks: a JSON POST, signed so the receiver can tell it came from us.

Signature (format ``json``): header ``X-Touchline-Signature: t=<unix
seconds>,v1=<hex>`` where ``hex`` is HMAC-SHA256 with the shared secret over
``<t>.<raw body>``. The receiver recomputes it, compares in constant time and
rejects old timestamps (replays). ``X-Touchline-Delivery`` carries the
delivery id, the same on every retry, for the receiver to drop duplicates.

Format ``slack`` posts ``{"text": ...}`` to a Slack-compatible incoming
webhook (owner alerts); those URLs are secrets themselves, so no signature is
required, but one is sent when a secret is configured. The format is the
instance's (TOUCHLINE_WEBHOOK_FORMAT) unless the rule's action names one.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from engine.delivery.channels.base import Channel, SendResult
from engine.delivery.message import OutgoingMessage, clean_header_text

if TYPE_CHECKING:
    from engine.settings import Settings

SIGNATURE_HEADER = "X-Touchline-Signature"
DELIVERY_HEADER = "X-Touchline-Delivery"
USER_AGENT = "Touchline-Webhook/1"
_RESPONSE_KEPT = 500  # characters of the receiver's answer kept in provider_response


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The ``X-Touchline-Signature`` value for ``body`` sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does: the signature matches and is at most ``tolerance`` seconds old."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
        given = fields["v1"]
    except (ValueError, KeyError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, timestamp, body).rsplit("v1=", 1)[1]
    return hmac.compare_digest(expected, given)


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would turn a redirected POST into a GET without the body; a
    # receiver that moved must be configured with its new URL instead.
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class WebhookChannel(Channel):
    name = "webhook"
    config_schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "url": {"type": ["string", "null"], "pattern": "^https?://", "default": None},
            "secret": {"type": "string", "minLength": 16},
            "timeout": {"type": "number", "exclusiveMinimum": 0, "default": 10},
            "format": {"enum": ["json", "slack"], "default": "json"},
        },
    }
    settings_variables = {
        "url": "TOUCHLINE_WEBHOOK_URL",
        "secret": "TOUCHLINE_WEBHOOK_SECRET",
        "timeout": "TOUCHLINE_WEBHOOK_TIMEOUT",
        "format": "TOUCHLINE_WEBHOOK_FORMAT",
    }

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__(config)
        self._opener = urllib.request.build_opener(_NoRedirects)

    @classmethod
    def config_from_settings(cls, settings: Settings) -> dict[str, Any]:
        config: dict[str, Any] = {
            "url": settings.webhook_url,
            "timeout": settings.webhook_timeout,
            "format": settings.webhook_format,
        }
        if settings.webhook_secret:
            config["secret"] = settings.webhook_secret
        return config

    def payload(self, message: OutgoingMessage) -> dict[str, Any]:
        if (message.format or self.config["format"]) == "slack":
            return {"text": slack_text(message)}
        return {
            "delivery_id": message.delivery_id,
            "message_id": message.message_id or None,
            "to": message.to_addr,
            "to_name": message.to_name or None,
            "subject": message.subject,
            "text": message.text,
            "html": message.html,
            "account_id": message.account_id,
            "contact_id": message.contact_id,
            "data": message.data,
        }

    def send(self, message: OutgoingMessage) -> SendResult:
        url = message.url or self.config["url"]
        if not url:
            return SendResult("transient", "not tried: no webhook URL: the rule gives none and TOUCHLINE_WEBHOOK_URL "
                              "is not set", unconfigured=True)  # fmt: skip
        try:
            parts = urlsplit(url)
            _ = parts.port  # raises ValueError for a port that is not a number
            valid = parts.scheme in ("http", "https") and bool(parts.hostname)
        except ValueError:
            valid = False
        if not valid or any(c in url for c in "\r\n \t"):
            return SendResult("permanent", f"invalid webhook URL {url!r}: expected http:// or https://")
        if (message.format or self.config["format"]) == "json" and not self.config.get("secret"):
            # An unsigned JSON webhook would let anyone who finds the URL forge messages.
            return SendResult("transient", "not tried: JSON webhooks are signed: set TOUCHLINE_WEBHOOK_SECRET",
                              unconfigured=True)  # fmt: skip
        body = json.dumps(self.payload(message), ensure_ascii=False, separators=(",", ":"), default=str).encode()
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": USER_AGENT,
            DELIVERY_HEADER: str(message.delivery_id),
        }
        if self.config.get("secret"):
            headers[SIGNATURE_HEADER] = sign(self.config["secret"], int(time.time()), body)
        request = urllib.request.Request(url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.config["timeout"]) as response:
                return SendResult("sent", f"{response.status} {_excerpt(response.read(_RESPONSE_KEPT))}".strip(),
                                  content=body)  # fmt: skip
        except urllib.error.HTTPError as err:
            status = err.code
            text = f"{status} {_excerpt(err.read(_RESPONSE_KEPT))}".strip()
            err.close()
            if 300 <= status < 400:
                where = err.headers.get("Location", "?")
                return SendResult("permanent", f"{status} redirect to {where} not followed: configure the new URL")
            if status in (408, 429) or status >= 500:
                return SendResult("transient", text)
            return SendResult("permanent", text)
        except urllib.error.URLError as err:
            # Refused, unresolvable or timed out while connecting: nothing was sent.
            return SendResult("transient", f"cannot reach {parts.hostname}: {_describe(err.reason)}")
        except TimeoutError:
            # The request went out; the answer did not come in time.
            return SendResult("transient", f"no answer from {parts.hostname} within {self.config['timeout']}s",
                              maybe_delivered=True, content=body)  # fmt: skip
        except (OSError, ValueError) as err:
            return SendResult("transient", f"{parts.hostname}: {_describe(err)}", maybe_delivered=True, content=body)


def slack_text(message: OutgoingMessage) -> str:
    """Slack mrkdwn: the subject in bold over the text; &, < and > escaped as Slack asks."""
    def esc(value: str) -> str:
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")

    subject = clean_header_text(message.subject)
    body = message.text.strip()
    return f"*{esc(subject)}*\n{esc(body)}" if body else f"*{esc(subject)}*"


def _excerpt(raw: bytes) -> str:
    return " ".join(raw.decode("utf-8", "replace").split())[:_RESPONSE_KEPT]


def _describe(reason: object) -> str:
    if isinstance(reason, (TimeoutError, socket.timeout)):
        return "timed out"
    return f"{type(reason).__name__}: {reason}" if isinstance(reason, BaseException) else str(reason)
