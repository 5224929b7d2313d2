"""STARTTLS, implicit TLS and AUTH against aiosmtpd with a certificate made
for the test (by the openssl command; skipped where it is missing)."""

from __future__ import annotations

import shutil
import ssl
import subprocess

import pytest

from engine.delivery.channels import get_channel
from engine.delivery.message import OutgoingMessage

pytestmark = pytest.mark.skipif(
    shutil.which("openssl") is None, reason="the openssl command is not installed; it makes the test certificate"
)

USER, PASSWORD = "touchline", "s3cret:with@signs"


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    """A self-signed certificate for 127.0.0.1: (cert file, key file)."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return str(cert), str(key)


def server_context(certificate) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


def authenticator(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult

    ok = auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd replies 535 itself


def msg() -> OutgoingMessage:
    return OutgoingMessage(delivery_id=1, to_addr="user@example.com", subject="Hi", text="Hello")


@pytest.fixture
def starttls_server(faulty_smtp, certificate):
    return faulty_smtp(
        tls_context=server_context(certificate), require_starttls=True,
        authenticator=authenticator, auth_required=True,
    )  # fmt: skip


def test_starttls_and_login(starttls_server, certificate):
    channel = get_channel("email", {
        "host": "127.0.0.1", "port": starttls_server.port, "security": "starttls",
        "username": USER, "password": PASSWORD, "ca_file": certificate[0], "timeout": 5,
    })  # fmt: skip
    with channel:
        assert channel.send(msg()).status == "sent"
    assert [m["to"] for m in starttls_server.handler.messages] == [["user@example.com"]]


def test_a_wrong_password_is_a_channel_failure_not_the_messages(starttls_server, certificate):
    channel = get_channel("email", {
        "host": "127.0.0.1", "port": starttls_server.port, "security": "starttls",
        "username": USER, "password": "wrong", "ca_file": certificate[0], "timeout": 5,
    })  # fmt: skip
    with channel:
        result = channel.send(msg())
    assert (result.status, result.channel_down) == ("transient", True)
    assert "535" in result.provider_response
    assert starttls_server.handler.messages == []


def test_an_untrusted_certificate_is_refused(starttls_server):
    # No ca_file: the system's trust store does not know the test's certificate.
    channel = get_channel("email", {
        "host": "127.0.0.1", "port": starttls_server.port, "security": "starttls",
        "username": USER, "password": PASSWORD, "timeout": 5,
    })  # fmt: skip
    with channel:
        result = channel.send(msg())
    assert (result.status, result.channel_down) == ("transient", True)
    assert "certificate" in result.provider_response
    assert starttls_server.handler.messages == []


def test_without_tls_a_server_that_requires_it_fails_the_batch_not_the_message(starttls_server):
    channel = get_channel("email", {"host": "127.0.0.1", "port": starttls_server.port, "timeout": 5})
    with channel:
        result = channel.send(msg())
    assert (result.status, result.channel_down) == ("transient", True)
    assert "530" in result.provider_response


def test_starttls_refuses_a_server_that_does_not_offer_it(faulty_smtp, certificate):
    plain = faulty_smtp()
    channel = get_channel("email", {"host": "127.0.0.1", "port": plain.port, "security": "starttls",
                                    "ca_file": certificate[0], "timeout": 5})
    with channel:
        result = channel.send(msg())
    assert (result.status, result.channel_down) == ("transient", True)
    assert "does not offer STARTTLS" in result.provider_response
    assert plain.handler.messages == []


def test_implicit_tls(faulty_smtp, certificate):
    server = faulty_smtp(ssl_context=server_context(certificate))
    channel = get_channel("email", {"host": "127.0.0.1", "port": server.port, "security": "tls",
                                    "ca_file": certificate[0], "timeout": 5})
    with channel:
        assert channel.send(msg()).status == "sent"
        assert channel.send(OutgoingMessage(delivery_id=2, to_addr="b@example.com", subject="x", text="y")).status == "sent"
    assert len(server.handler.messages) == 2 and len(server.handler.peers) == 1
