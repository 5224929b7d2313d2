"""The mail catcher: a real SMTP session on loopback, read back from the Maildir."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest

from engine.embedded.mailcatcher import MailCatcher, list_messages, read_message


def send(catcher: MailCatcher, subject: str, to: list[str], bcc: list[str] = ()) -> None:
    msg = EmailMessage()
    msg["From"] = "Touchline <nudges@example.test>"
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg.set_content("こんにちは、プロジェクトを作成しましょう。\nHello, let's create a project.\n")
    with smtplib.SMTP(catcher.host, catcher.port, timeout=10) as smtp:
        smtp.send_message(msg, to_addrs=[*to, *bcc])


def test_caught_messages_are_kept_in_a_maildir(tmp_path: Path) -> None:
    mail = tmp_path / "mail"
    with MailCatcher(mail) as catcher:
        send(catcher, "Welcome aboard", ["ana@example.test"])
        send(catcher, "オンボーディングのご案内", ["ken@example.test"], bcc=["owner@example.test"])

    assert (mail / "new").is_dir() and len(list((mail / "new").iterdir())) == 2
    caught = list_messages(mail)
    assert {m.subject for m in caught} == {"Welcome aboard", "オンボーディングのご案内"}
    japanese = next(m for m in caught if m.subject.startswith("オン"))
    assert japanese.to_header == "ken@example.test"
    assert japanese.envelope_from == "nudges@example.test"
    # Bcc recipients appear only in the envelope, which the catcher keeps.
    assert japanese.envelope_to == ("ken@example.test", "owner@example.test")
    assert japanese.size > 0

    body = read_message(mail, japanese.key)
    assert body["Subject"] == "オンボーディングのご案内"
    assert "こんにちは" in body.get_content()
    assert list_messages(mail, limit=1) == caught[:1]


def test_listing_before_any_mail_is_empty(tmp_path: Path) -> None:
    assert list_messages(tmp_path / "mail") == []


def test_reading_an_unknown_message_is_a_key_error(tmp_path: Path) -> None:
    with MailCatcher(tmp_path / "mail") as catcher:
        send(catcher, "one", ["a@example.test"])
    with pytest.raises(KeyError):
        read_message(tmp_path / "mail", "no-such-key")
