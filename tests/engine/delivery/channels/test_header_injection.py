"""No name, subject, header value or address can add a header or a recipient:
checked on the bytes the SMTP server actually received."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default

import pytest

from engine.delivery.channels import get_channel
from engine.delivery.message import (
    AddressError,
    OutgoingMessage,
    clean_header_text,
    parse_mailbox,
)

BREAKS = ["\r\n", "\n", "\r", "\u2028", "\u2029", "\x85", "\v", "\f", "\x1c", "\x1d", "\x1e", "\r\n\t", "\x00"]
EXPECTED_HEADERS = {"from", "to", "subject", "date", "message-id", "list-unsubscribe", "mime-version", "content-type"}


def send(smtp_server, msg: OutgoingMessage):
    channel = get_channel("email", {"host": smtp_server.hostname, "port": smtp_server.port, "timeout": 5})
    with channel:
        return channel.send(msg)


def base(**overrides) -> OutgoingMessage:
    fields = dict(
        delivery_id=1, to_addr="user@example.com", to_name="Aiko", subject="Hello", text="Body", html="<p>Body</p>",
        message_id="<touchline.delivery.1@example.com>", headers={"List-Unsubscribe": "<https://example.com/u>"},
    )  # fmt: skip
    fields.update(overrides)
    return OutgoingMessage(**fields)


def header_lines(raw: bytes) -> list[bytes]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    return head.split(b"\r\n")


@pytest.mark.parametrize("brk", BREAKS, ids=[repr(b) for b in BREAKS])
@pytest.mark.parametrize("field", ["to_name", "subject", "header"])
def test_line_breaks_in_names_subjects_and_header_values_never_start_a_header(smtp_server, field, brk):
    evil = f"Aiko{brk}Bcc: victim@evil.example{brk}X-Injected: yes"
    if field == "header":
        msg = base(headers={"List-Unsubscribe": f"<https://example.com/u>{brk}Bcc: victim@evil.example"})
    else:
        msg = base(**{field: evil})
    assert send(smtp_server, msg).status == "sent"
    [received] = smtp_server.handler.messages
    assert received["to"] == ["user@example.com"]
    raw = received["data"]
    mail = message_from_bytes(raw, policy=default)
    assert {k.lower() for k in mail.keys()} == EXPECTED_HEADERS
    # On the wire: every header line is a header we wrote or the folded
    # continuation of one (leading whitespace), nothing else.
    starts = [line.split(b":", 1)[0].lower().decode() for line in header_lines(raw) if line[:1] not in (b" ", b"\t")]
    assert sorted(starts) == sorted(EXPECTED_HEADERS)
    if field == "subject":
        assert mail["Subject"] == "Aiko Bcc: victim@evil.example X-Injected: yes"
    if field == "to_name":
        assert mail["To"].addresses[0].addr_spec == "user@example.com" and len(mail["To"].addresses) == 1


@pytest.mark.parametrize(
    "to_addr",
    [
        "user@example.com\r\nBcc: victim@evil.example",
        "user@example.com\nBcc: victim@evil.example",
        "user@example.com\u2028Bcc: victim@evil.example",
        "user@example.com\x85",
        "user@example.com, victim@evil.example",
        "user@example.com;victim@evil.example",
        "Aiko <user@example.com>",
        "user@example.com victim@evil.example",
        '"user@example.com"@evil.example',
        "user@",
        "@example.com",
        "user@@example.com",
        "user@exa_mple.com",
        "",
    ],
)
def test_anything_but_one_valid_address_is_refused_and_nothing_is_sent(smtp_server, to_addr):
    result = send(smtp_server, base(to_addr=to_addr))
    assert (result.status, result.hard_bounce) == ("permanent", False)
    assert result.provider_response.startswith("invalid recipient:")
    assert smtp_server.handler.messages == []


@pytest.mark.parametrize("from_addr", ["cs@example.com\r\nBcc: victim@evil.example", "A <a@x.com>, B <b@y.com>",
                                       "CS\u2029Team <cs@example.com>"])
def test_a_bad_sender_is_refused(smtp_server, from_addr):
    result = send(smtp_server, base(from_addr=from_addr))
    assert result.status == "permanent" and result.provider_response.startswith("invalid sender:")
    assert smtp_server.handler.messages == []


def test_international_domains_are_sent_in_their_ascii_form(smtp_server):
    assert send(smtp_server, base(to_addr="taro@例え.jp")).status == "sent"
    assert smtp_server.handler.messages[0]["to"] == ["taro@xn--r8jz45g.jp"]


def test_clean_header_text_and_parse_mailbox():
    assert clean_header_text("a\r\n\tb\u2028 c\x1c") == "a b c"
    assert parse_mailbox("CS Team <cs@example.com>") == ("CS Team", "cs@example.com")
    assert parse_mailbox('"Team, CS" <cs@example.com>') == ("Team, CS", "cs@example.com")
    assert parse_mailbox("cs@example.com") == ("", "cs@example.com")
    with pytest.raises(AddressError, match="line break"):
        parse_mailbox("cs@example.com\n")
    with pytest.raises(AddressError, match="not a single address"):
        parse_mailbox("A, B <cs@example.com>")
