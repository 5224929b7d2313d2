"""The message bytes: what a mail reader parses back is what was composed, whatever the text."""

from __future__ import annotations

from email import message_from_bytes
from email.policy import default

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.delivery.channels.mime import _WIRE, build_email
from engine.delivery.message import OutgoingMessage, clean_header_text

# Mostly ASCII, some Japanese and symbols, and every kind of line end.
PIECES = st.one_of(
    st.characters(min_codepoint=32, max_codepoint=126),
    st.sampled_from(["\n", "\r\n", "\r", "\t", " ", ".", "=", "-", "é", "—", "日本語", "😀", "=_", "--"]),
)
TEXT = st.lists(PIECES, max_size=200).map("".join)
LONG_LINE = st.integers(0, 1500).map(lambda n: "x" * n)


def message(text: str, html: str, subject: str = "Hello", name: str = "Aiko") -> OutgoingMessage:
    return OutgoingMessage(delivery_id=1, to_addr="user@example.com", to_name=name, subject=subject, text=text,
                           html=html, message_id="<touchline.delivery.1@example.com>",
                           headers={"List-Unsubscribe": "<https://example.com/u/" + "t" * 120 + ">"})  # fmt: skip


def lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


@settings(max_examples=300, deadline=None)
@given(text=st.one_of(TEXT, LONG_LINE), html=st.one_of(TEXT, LONG_LINE), subject=TEXT, name=TEXT)
def test_what_a_mail_reader_parses_is_what_was_composed(text, html, subject, name):
    if not text and not html:
        return
    data = build_email(message(text, html, subject or "s", name), "Touchline <cs@example.com>").data
    assert data.isascii() and b"\n" not in data.replace(b"\r\n", b"")  # 7-bit, CRLF only
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    mail = message_from_bytes(data, policy=default)
    assert mail["Subject"] == " ".join(clean_header_text(subject or "s").split()) or mail["Subject"] == clean_header_text(subject or "s")
    assert str(mail["To"].addresses[0].addr_spec) == "user@example.com"
    if text and html:
        assert mail.get_content_type() == "multipart/alternative"
        got_text = mail.get_body(("plain",)).get_content()
        got_html = mail.get_body(("html",)).get_content()
        assert (lines(got_text), lines(got_html)) == (lines(text), lines(html))
    else:
        assert lines(mail.get_content()) == lines(text or html)


@settings(max_examples=2000)
@given(
    st.sampled_from(["Subject", "To", "From", "List-Unsubscribe", "X-A"]),
    st.text(st.sampled_from([chr(c) for c in range(32, 127)] + ["\t"]), max_size=90),
)
def test_a_header_written_as_it_is_is_what_compat32_folding_would_write(name, value):
    from email.policy import compat32

    slow = compat32.clone(linesep="\r\n")
    assert _WIRE.fold_binary(name, value) == slow.fold_binary(name, value)


def test_quoted_printable_lines_stay_within_76_characters_even_with_trailing_whitespace():
    # binascii alone ends this line with an encoded tab at 78 characters.
    text = "é" + "a" * 69 + "\t\nb"
    data = build_email(message(text, "<p>x</p>"), "Touchline <cs@example.com>").data
    head, body = data.split(b"\r\n\r\n", 1)
    assert b"quoted-printable" in body
    assert all(len(line) <= 76 for line in body.split(b"\r\n"))
    mail = message_from_bytes(data, policy=default)
    assert lines(mail.get_body(("plain",)).get_content()) == lines(text)


def test_text_that_is_not_valid_unicode_is_refused_not_sent():
    import pytest

    from engine.delivery.channels.mime import MessageRefused

    for fields in ({"text": "lone \ud800 surrogate"}, {"subject": "lone \udfff"}):
        msg = message(**{"text": "t", "html": "<p>h</p>", **fields})
        with pytest.raises(MessageRefused, match="not valid Unicode"):
            build_email(msg, "Touchline <cs@example.com>")


def test_the_date_header_says_utc():
    # "-0000" means "zone unknown" in RFC 5322; the time is UTC, and "+0000" says so.
    from datetime import UTC, datetime, timedelta
    from email.utils import parsedate_to_datetime

    before = datetime.now(UTC).replace(microsecond=0)
    mail = message_from_bytes(build_email(message("hi", ""), "Touchline <cs@example.com>").data, policy=default)
    raw = mail["Date"]
    assert raw.endswith(" +0000"), raw
    sent = parsedate_to_datetime(raw)
    assert sent.utcoffset() == timedelta(0) and before <= sent <= datetime.now(UTC) + timedelta(seconds=1)
