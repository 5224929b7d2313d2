"""The webhook channel against a real HTTP server on loopback."""

from __future__ import annotations

import json

import pytest

from engine.delivery.channels import ChannelConfigError, get_channel
from engine.delivery.channels.webhook import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    sign,
    verify,
)
from engine.delivery.message import OutgoingMessage
from engine.embedded.process import free_port

SECRET = "a-webhook-secret-for-tests"


@pytest.fixture
def receiver(webhook_receiver):
    return webhook_receiver


def msg(**overrides) -> OutgoingMessage:
    fields = dict(delivery_id=42, to_addr="contact:7", subject="Owner changed at Acme", text="Maria is the new admin.",
                  html="<p>Maria is the new admin.</p>", account_id=3, contact_id=7, data={"rule": "owner-changed"})
    fields.update(overrides)
    return OutgoingMessage(**fields)


def test_a_signed_json_post(receiver):
    with get_channel("webhook", {"url": receiver.url, "secret": SECRET}) as channel:
        result = channel.send(msg())
    assert result.status == "sent" and result.provider_response.startswith("200")
    [request] = receiver.requests
    assert request["path"] == "/hooks/cs"
    assert request["headers"]["Content-Type"] == "application/json; charset=utf-8"
    assert request["headers"][DELIVERY_HEADER] == "42"
    assert verify(SECRET, request["headers"][SIGNATURE_HEADER], request["body"])
    assert not verify("another-secret-entirely", request["headers"][SIGNATURE_HEADER], request["body"])
    assert not verify(SECRET, request["headers"][SIGNATURE_HEADER], request["body"] + b" ")
    payload = json.loads(request["body"])
    assert payload["delivery_id"] == 42 and payload["subject"] == "Owner changed at Acme"
    assert payload["account_id"] == 3 and payload["contact_id"] == 7 and payload["data"] == {"rule": "owner-changed"}


def test_signatures_expire():
    body = b'{"x":1}'
    header = sign(SECRET, 1_000_000, body)
    assert verify(SECRET, header, body, now=1_000_100)
    assert not verify(SECRET, header, body, now=1_000_000 + 301)
    assert not verify(SECRET, "t=abc,v1=00", body)


def test_the_message_url_overrides_the_default(receiver):
    with get_channel("webhook", {"url": "http://127.0.0.1:1/unused", "secret": SECRET}) as channel:
        assert channel.send(msg(url=receiver.url.replace("/hooks/cs", "/rule/own"))).status == "sent"
    assert receiver.requests[0]["path"] == "/rule/own"


def test_slack_format_posts_text_only(receiver):
    with get_channel("webhook", {"url": receiver.url, "format": "slack"}) as channel:
        assert channel.send(msg(subject="Churn risk <Acme & Co>", text="Owner\nchanged")).status == "sent"
    body = json.loads(receiver.requests[0]["body"])
    assert body == {"text": "*Churn risk &lt;Acme &amp; Co&gt;*\nOwner\nchanged"}
    assert SIGNATURE_HEADER not in receiver.requests[0]["headers"]


@pytest.mark.parametrize(
    "reply, status",
    [(201, "sent"), (204, "sent"), (429, "transient"), (500, "transient"), (503, "transient"), (408, "transient"),
     (400, "permanent"), (404, "permanent"), (410, "permanent"), (301, "permanent"), (307, "permanent")],
)
def test_answers_are_classified(receiver, reply, status):
    receiver.replies = [reply]
    with get_channel("webhook", {"url": receiver.url, "secret": SECRET}) as channel:
        result = channel.send(msg())
    assert result.status == status
    assert result.provider_response.startswith(str(reply))
    assert len(receiver.requests) == 1  # a redirect is not followed


def test_a_slow_receiver_times_out_as_transient(receiver):
    receiver.replies = [("sleep", 2)]
    with get_channel("webhook", {"url": receiver.url, "secret": SECRET, "timeout": 0.5}) as channel:
        result = channel.send(msg())
    assert (result.status, result.maybe_delivered) == ("transient", True)


def test_nobody_listening_is_transient():
    with get_channel("webhook", {"url": f"http://127.0.0.1:{free_port()}/x", "secret": SECRET}) as channel:
        result = channel.send(msg())
    assert (result.status, result.maybe_delivered) == ("transient", False)
    assert "refused" in result.provider_response.lower()


def test_a_bad_url_is_permanent_and_no_url_at_all_waits_for_one():
    with get_channel("webhook", {"secret": SECRET}) as channel:
        missing = channel.send(msg())
        assert (missing.status, missing.unconfigured) == ("transient", True)
        assert "TOUCHLINE_WEBHOOK_URL" in missing.provider_response
        assert channel.send(msg(url="ftp://example.com/x")).status == "permanent"
        assert channel.send(msg(url="http://example.com/x\r\nX-Evil: 1")).status == "permanent"


def test_a_json_webhook_needs_a_secret(receiver):
    # Not an error of the whole channel: a rule's Slack alert needs none.
    with get_channel("webhook", {"url": receiver.url}) as channel:
        unsigned = channel.send(msg())
        assert channel.send(msg(format="slack")).status == "sent"
    assert (unsigned.status, unsigned.unconfigured) == ("transient", True)
    assert "set TOUCHLINE_WEBHOOK_SECRET" in unsigned.provider_response
    assert len(receiver.requests) == 1
    with pytest.raises(ChannelConfigError, match="format"):
        get_channel("webhook", {"url": "http://127.0.0.1/x", "format": "xml", "secret": SECRET})


def test_a_rule_can_ask_for_another_format_than_the_instance(receiver):
    # The instance posts signed JSON; this rule's alerts go to a Slack-compatible URL.
    with get_channel("webhook", {"url": receiver.url, "secret": SECRET}) as channel:
        assert channel.send(msg(format="slack")).status == "sent"
        assert channel.send(msg()).status == "sent"
    slack, plain = (json.loads(r["body"]) for r in receiver.requests)
    assert slack == {"text": "*Owner changed at Acme*\nMaria is the new admin."}
    assert plain["delivery_id"] == 42
    # And the other way round: JSON is signed, so it needs the secret the instance lacks.
    with get_channel("webhook", {"url": receiver.url, "format": "slack"}) as channel:
        refused = channel.send(msg(format="json"))
    assert (refused.status, refused.unconfigured) == ("transient", True)
    assert "TOUCHLINE_WEBHOOK_SECRET" in refused.provider_response
    assert len(receiver.requests) == 2
