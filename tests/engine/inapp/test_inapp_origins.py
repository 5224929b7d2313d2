"""Allowed origins are kept as browsers send them in the Origin header (ASCII, Punycode hosts)."""

from __future__ import annotations

import pytest

from engine.inapp.keys import OriginError, normalise_origin


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("https://App.Example.com/", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("http://app.example.com:8080", "http://app.example.com:8080"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
        ("https://xn--strae-oqa.example", "https://xn--strae-oqa.example"),  # straße, as the browser sends it
    ],
)
def test_origins_as_browsers_send_them(given, kept):
    assert normalise_origin(given) == kept


@pytest.mark.parametrize(
    "given",
    [
        "https://straße.example",  # Python's IDNA 2003 makes it strasse.example: another site's origin
        "https://ευχαριστώς.example",
        "https://" + "ä" * 70 + ".example",  # a label the codec cannot encode: an OriginError, not a crash
        "null",
    ],
)
def test_hosts_python_cannot_name_as_browsers_do_are_refused_saying_why(given):
    with pytest.raises(OriginError):
        normalise_origin(given)


def test_an_ipv6_origin_keeps_its_brackets_as_browsers_send_it():
    assert normalise_origin("https://[::1]:8443/") == "https://[::1]:8443"
    assert normalise_origin("http://[2001:DB8::1]") == "http://[2001:db8::1]"
