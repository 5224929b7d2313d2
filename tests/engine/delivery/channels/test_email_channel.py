"""The email channel against real SMTP servers on loopback: the shared sink,
and fault-injecting ones that refuse, stall or hang up at each step."""

from __future__ import annotations

import functools
from email import message_from_bytes
from email.policy import default

import pytest

from engine.delivery.channels import EmailChannel, SendResult, get_channel
from engine.delivery.message import OutgoingMessage, message_id_for
from engine.embedded.process import free_port


def message(n: int = 1, **overrides) -> OutgoingMessage:
    fields = dict(
        delivery_id=n,
        to_addr=f"user{n}@example.com",
        to_name="Aiko Tanaka",
        subject=f"Your project, step {n}",
        text=f"Hello {n}\n.\nA line that starts with a dot, above.",
        html=f"<p>Hello {n}</p>",
        message_id=message_id_for(n, "touchline.example.com"),
        headers={"List-Unsubscribe": "<https://touchline.example.com/u/abc>"},
    )
    fields.update(overrides)
    return OutgoingMessage(**fields)


@pytest.fixture(params=[False, True], ids=["one-command-at-a-time", "pipelining"])
def faulty_smtp(request, faulty_smtp):
    """Every fault script against a server without PIPELINING, and against one with it
    (MAIL, RCPT and DATA then go in one write and their replies are read in turn)."""
    return functools.partial(faulty_smtp, pipelining=request.param)


def channel_for(server, **config) -> EmailChannel:
    return get_channel("email", {"host": server.hostname, "port": server.port, "timeout": 5, **config})


def parsed(raw: bytes):
    return message_from_bytes(raw, policy=default)


def test_a_message_is_multipart_alternative_utf8_with_the_given_message_id(smtp_server):
    msg = message(7, subject="プロジェクトを作りましょう", to_name="田中 愛子", text="こんにちは\n", html="<p>こんにちは</p>")
    with channel_for(smtp_server, mail_from="CS Team <cs@touchline.example.com>") as channel:
        result = channel.send(msg)
    assert result.status == "sent" and result.provider_response.startswith("250")
    [received] = smtp_server.handler.messages
    assert received["from"] == "cs@touchline.example.com" and received["to"] == ["user7@example.com"]
    mail = parsed(received["data"])
    assert mail.get_content_type() == "multipart/alternative"
    assert mail["Message-ID"] == "<touchline.delivery.7@touchline.example.com>"
    assert mail["Subject"] == "プロジェクトを作りましょう"
    assert mail["To"].addresses[0].display_name == "田中 愛子"
    assert mail["From"].addresses[0].addr_spec == "cs@touchline.example.com"
    assert mail["List-Unsubscribe"] == "<https://touchline.example.com/u/abc>"
    text, html = mail.iter_parts()
    assert (text.get_content_type(), html.get_content_type()) == ("text/plain", "text/html")
    assert text.get_content_charset() == html.get_content_charset() == "utf-8"
    # Text travels in canonical form, CRLF line ends.
    assert text.get_content() == "こんにちは\r\n" and html.get_content().strip() == "<p>こんにちは</p>"
    # Only 7-bit on the wire: any server takes it, with or without 8BITMIME.
    assert max(received["data"]) < 128


def test_a_message_prepared_ahead_is_sent_as_built_and_only_for_itself(smtp_server):
    first, second = message(1), message(2)
    with channel_for(smtp_server) as channel:
        channel.prepare(first)
        assert channel.send(second).status == "sent"  # not the one prepared: built anew
        channel.prepare(first)
        assert channel.send(first).status == "sent"
        channel.prepare(message(3, to_addr="not an address"))  # a problem is left for send to report
        assert channel.send(message(3, to_addr="not an address")).status == "permanent"
    got = [parsed(m["data"]) for m in smtp_server.handler.messages]
    assert [m["Message-ID"] for m in got] == [second.message_id, first.message_id]
    assert [m["To"].addresses[0].addr_spec for m in got] == ["user2@example.com", "user1@example.com"]


def test_a_line_starting_with_a_dot_survives_the_smtp_transfer(smtp_server):
    with channel_for(smtp_server) as channel:
        assert channel.send(message(1, text=".\n..two\n")).status == "sent"
    text, _html = parsed(smtp_server.handler.messages[0]["data"]).iter_parts()
    assert text.get_content().replace("\r\n", "\n") == ".\n..two\n"


def test_a_batch_uses_one_connection(faulty_smtp):
    server = faulty_smtp()
    with channel_for(server) as channel:
        results = [channel.send(message(n)) for n in range(1, 6)]
    assert [r.status for r in results] == ["sent"] * 5
    assert [m["to"] for m in server.handler.messages] == [[f"user{n}@example.com"] for n in range(1, 6)]
    assert len(server.handler.peers) == 1


@pytest.mark.parametrize(
    "script, status, hard_bounce",
    [
        ({"rcpt": "550 5.1.1 <user1@example.com>: Recipient address rejected: User unknown"}, "permanent", True),
        ({"rcpt": "551 User not local"}, "permanent", True),
        ({"rcpt": "553 Mailbox name not allowed"}, "permanent", True),
        ({"rcpt": "550 5.7.1 Message rejected as spam"}, "permanent", False),  # policy, not the address
        ({"rcpt": "552 5.2.2 Mailbox full"}, "permanent", False),
        ({"rcpt": "451 4.3.0 Temporary lookup failure"}, "transient", False),
        ({"rcpt": "450 4.2.1 Greylisted, try again later"}, "transient", False),
        ({"mail": "451 4.3.2 System not accepting messages"}, "transient", False),
        ({"mail": "553 5.1.8 Sender domain does not exist"}, "permanent", False),
        ({"data": "554 5.6.0 Message content rejected"}, "permanent", False),
        ({"data": "452 4.3.1 Insufficient system storage"}, "transient", False),
    ],
)
def test_replies_are_classified(faulty_smtp, script, status, hard_bounce):
    # The fault applies to user1 only; user2, next in the same batch, still goes out.
    step, reply = next(iter(script.items()))
    address = "cs@touchline.example.com" if step == "mail" else "user1@example.com"
    server = faulty_smtp({step: {address: reply}})
    sender = {"from_addr": "cs@touchline.example.com"}
    with channel_for(server) as channel:
        first = channel.send(message(1, **sender))
        second = channel.send(message(2, from_addr="other@touchline.example.com"))
    assert (first.status, first.hard_bounce, first.channel_down) == (status, hard_bounce, False)
    assert reply.split()[0] in first.provider_response and reply.split()[-1] in first.provider_response
    assert second.status == "sent"
    assert [m["to"] for m in server.handler.messages] == [["user2@example.com"]]
    assert len(server.handler.peers) == 1  # RSET, not a new connection


def test_421_closes_the_connection_and_the_next_message_reconnects(faulty_smtp):
    server = faulty_smtp({"rcpt": ["421 4.7.0 Too many connections, closing"]})
    with channel_for(server) as channel:
        first, second = channel.send(message(1)), channel.send(message(2))
    assert (first.status, first.channel_down) == ("transient", True)
    assert second.status == "sent"
    assert [m["to"] for m in server.handler.messages] == [["user2@example.com"]]
    assert len(server.handler.peers) == 2


def test_a_connection_dropped_mid_batch_is_reopened_once_and_the_message_sent_once(faulty_smtp):
    # The server hangs up when the second message starts (an idle timeout, a restart).
    server = faulty_smtp({"mail": [None, "drop"]})
    with channel_for(server) as channel:
        results = [channel.send(message(n)) for n in (1, 2, 3)]
    assert [r.status for r in results] == ["sent"] * 3
    assert [m["to"][0] for m in server.handler.messages] == ["user1@example.com", "user2@example.com",
                                                            "user3@example.com"]
    assert len(server.handler.peers) == 2


def test_a_second_drop_for_the_same_message_is_not_retried_again(faulty_smtp):
    server = faulty_smtp({"rcpt": [None, "drop", "drop"]})
    with channel_for(server) as channel:
        first, second = channel.send(message(1)), channel.send(message(2))
        third = channel.send(message(3))
    assert first.status == "sent"
    assert (second.status, second.channel_down, second.maybe_delivered) == ("transient", True, False)
    assert "connection lost at RCPT TO" in second.provider_response
    assert third.status == "sent"
    assert [m["to"][0] for m in server.handler.messages] == ["user1@example.com", "user3@example.com"]


def test_a_drop_after_the_content_was_sent_is_not_resent(faulty_smtp):
    # The server had the whole message and hung up before answering: resending
    # could deliver it twice, so the caller is told it may have gone.
    server = faulty_smtp({"data": [None, "drop"]})
    with channel_for(server) as channel:
        results = [channel.send(message(n)) for n in (1, 2, 3)]
    assert [r.status for r in results] == ["sent", "transient", "sent"]
    assert results[1].maybe_delivered and not results[1].channel_down
    assert "after the message was sent" in results[1].provider_response
    assert [m["to"][0] for m in server.handler.messages] == ["user1@example.com", "user3@example.com"]


def test_connection_refused_is_transient_and_the_batch_does_not_retry_it_per_message():
    channel = get_channel("email", {"host": "127.0.0.1", "port": free_port(), "timeout": 5})
    with channel:
        first, second = channel.send(message(1)), channel.send(message(2))
    assert (first.status, first.channel_down) == ("transient", True)
    assert "ConnectionRefusedError" in first.provider_response
    assert second == first  # remembered for the batch, not tried again
    with channel:  # a new batch tries again
        assert channel.send(message(3)).status == "transient"


def test_a_server_that_stops_answering_times_out_as_transient(faulty_smtp):
    server = faulty_smtp({"rcpt": "sleep:3"})
    with channel_for(server, timeout=0.5) as channel:
        result = channel.send(message(1))
    assert result.status == "transient" and "timed out" in result.provider_response
    assert server.handler.messages == []


def test_an_invalid_recipient_is_refused_before_connecting(faulty_smtp):
    server = faulty_smtp()
    with channel_for(server) as channel:
        result = channel.send(message(1, to_addr="not-an-address"))
    assert (result.status, result.hard_bounce) == ("permanent", False)
    assert result.provider_response.startswith("invalid recipient:")
    assert server.handler.peers == set()


def test_messages_without_any_body_or_with_a_bad_message_id_are_refused(smtp_server):
    with channel_for(smtp_server) as channel:
        assert channel.send(message(1, text="", html="")).status == "permanent"
        assert channel.send(message(2, message_id="no-brackets@x")).status == "permanent"
        assert channel.send(message(3, message_id="<a b@x>")).status == "permanent"
        assert channel.send(message(4, headers={"Subject": "second subject"})).status == "permanent"
        assert channel.send(message(5, headers={"X-Bad Name": "v"})).status == "permanent"
        # An HTML-only message is a single text/html part.
        assert channel.send(message(6, text="")).status == "sent"
    [only] = smtp_server.handler.messages
    assert parsed(only["data"]).get_content_type() == "text/html"


def test_send_result_refuses_unknown_statuses():
    with pytest.raises(ValueError, match="expected sent, transient or permanent"):
        SendResult("maybe", "")


def test_work_given_for_meanwhile_runs_once_while_the_server_takes_the_message_in():
    """``meanwhile`` runs after the content went out and before the answer is read: here
    the server answers only once it has run, and would give up waiting otherwise."""
    import asyncio
    import threading

    from aiosmtpd.controller import Controller

    ran = threading.Event()

    class Waits:
        waited: list[bool] = []

        async def handle_DATA(self, server, session, envelope):  # noqa: N802 (aiosmtpd's name)
            self.waited.append(await asyncio.get_running_loop().run_in_executor(None, ran.wait, 5))
            return "250 OK"

    server = Controller(Waits(), hostname="127.0.0.1", port=free_port())
    server.start()
    calls: list[int] = []
    try:
        with channel_for(server) as channel:
            result = channel.send(message(1), meanwhile=lambda: (calls.append(1), ran.set()))
            failing = channel.send(message(2), meanwhile=lambda: 1 / 0)  # must not cost the answer
    finally:
        server.stop()
    assert result.status == "sent" and calls == [1] and Waits.waited[0] is True
    assert failing.status == "sent"


def test_a_server_offering_pipelining_gets_the_envelope_in_one_write(faulty_smtp, monkeypatch):
    import smtplib

    server = faulty_smtp()
    pipelining = type(server.handler).__name__ == "PipeliningHandler"
    sent: list[bytes] = []
    original = smtplib.SMTP.send
    with channel_for(server) as channel:
        channel.send(message(1))  # connects (EHLO) first
        monkeypatch.setattr(smtplib.SMTP, "send", lambda self, data: (sent.append(data), original(self, data))[1])
        assert channel.send(message(2)).status == "sent"
        # MAIL, RCPT, DATA and the content; or the three commands together, then the content.
        assert len(sent) == (2 if pipelining else 4)
    assert [m["to"] for m in server.handler.messages] == [["user1@example.com"], ["user2@example.com"]]


def test_a_pipelining_server_that_takes_data_after_refusing_the_recipient_gets_an_empty_message_ended_at_once():
    """RFC 2920 asks a server to refuse DATA without a recipient; for one that answers 354
    anyway, the client ends an empty message at once, and the recipient's refusal is the outcome."""
    import socket
    import threading

    listener = socket.create_server(("127.0.0.1", 0))
    seen: list[bytes] = []

    def serve():
        conn, _ = listener.accept()
        with conn, conn.makefile("rb") as lines:
            conn.sendall(b"220 sloppy ESMTP\r\n")
            replies = {b"EHLO": b"250-sloppy\r\n250 PIPELINING\r\n", b"MAIL": b"250 OK\r\n",
                       b"RCPT": b"550 5.1.1 No such user\r\n", b"DATA": b"354 Go on\r\n", b".": b"554 No valid recipients\r\n",
                       b"RSET": b"250 OK\r\n", b"QUIT": b"221 Bye\r\n"}  # fmt: skip
            for line in lines:
                seen.append(line.strip())
                word = line.split()[0].upper() if line.strip() else b""
                conn.sendall(replies.get(word, b"500 What\r\n"))
                if word == b"QUIT":
                    return

    threading.Thread(target=serve, daemon=True).start()
    channel = get_channel("email", {"host": "127.0.0.1", "port": listener.getsockname()[1], "timeout": 5})
    with channel:
        result = channel.send(message(1))
    listener.close()
    assert (result.status, result.hard_bounce) == ("permanent", True) and "RCPT TO 550" in result.provider_response
    commands = [s.split(b":")[0].split()[0].upper() for s in seen]
    assert commands == [b"EHLO", b"MAIL", b"RCPT", b"DATA", b".", b"RSET", b"QUIT"]


def test_the_claim_runs_once_before_the_content_even_when_the_connection_is_reopened(faulty_smtp):
    # The server hangs up at the second message's MAIL FROM: it is sent on a new connection,
    # claimed once (its claim ran before the drop), and the claim came before the content.
    server = faulty_smtp({"mail": [None, "drop"]})
    claims: list[tuple[int, int]] = []  # (message, messages the server had accepted by then)
    with channel_for(server) as channel:
        for n in (1, 2, 3):
            result = channel.send(message(n), claim=lambda n=n: claims.append((n, len(server.handler.messages))))
            assert result.status == "sent"
    assert claims == [(1, 0), (2, 1), (3, 2)]
    assert [m["to"][0] for m in server.handler.messages] == ["user1@example.com", "user2@example.com", "user3@example.com"]


def test_a_withdrawn_message_is_not_sent_and_leaves_the_conversation_clean(faulty_smtp):
    from engine.delivery.channels import Withdrawn

    server = faulty_smtp()

    def withdraw() -> None:
        raise Withdrawn(1)

    with channel_for(server) as channel:
        with pytest.raises(Withdrawn):
            channel.send(message(1), claim=withdraw)
        with pytest.raises(ZeroDivisionError):  # the caller's own failure: raised as it is, cleaned up too
            channel.send(message(2), claim=lambda: 1 / 0)
        assert channel.send(message(3), claim=lambda: None).status == "sent"
    assert [m["to"] for m in server.handler.messages] == [["user3@example.com"]]
    assert len(server.handler.peers) == 1  # RSET after each, the same connection


def test_a_message_refused_before_the_first_command_is_returned_unclaimed(faulty_smtp):
    server = faulty_smtp()
    claims: list[int] = []
    with channel_for(server) as channel:
        result = channel.send(message(1, to_addr="not an address"), claim=lambda: claims.append(1))
    assert result.status == "permanent" and claims == []
    refused = get_channel("email", {"host": "127.0.0.1", "port": free_port(), "timeout": 2})
    with refused:
        result = refused.send(message(2), claim=lambda: claims.append(2))
    assert (result.status, result.channel_down, claims) == ("transient", True, [])
