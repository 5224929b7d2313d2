"""Tracking links made at compose time: which links are rewritten, the signed tokens, the open pixel,
and how a request is judged a link scanner's."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from engine.compliance import unsubscribe_token
from engine.delivery.tracking import (
    BadLink,
    Tracker,
    add_pixel,
    click_token,
    open_token,
    read_click_token,
    read_open_token,
    rewrite_html,
    rewrite_text,
    safe_target,
    scanner_flag,
    without_pixel,
)
from engine.settings import load_settings

BASE = "https://tl.example.com"
UNSUBSCRIBE = f"{BASE}/u/UNSUB"
PREFERENCES = f"{BASE}/preferences/PREFS"


@pytest.fixture
def settings():
    return dataclasses.replace(load_settings(), public_url=BASE, secret_key="k" * 32, track_opens=("product-tips",))


def tracked(settings, delivery_id: int = 7):
    """``new_url`` as the tracker makes it for a delivery: the tracking link of each URL it tracks."""
    tracker = Tracker(settings)
    keep = frozenset({UNSUBSCRIBE, PREFERENCES})
    return lambda url: tracker.link(delivery_id, url) if tracker.trackable(url, keep) else None


def targets(settings, html_or_text: str) -> list[str]:
    """The original URLs behind the tracking links of a rewritten part, in order."""
    import re

    return [read_click_token(settings.secret_key, t).url for t in re.findall(r"/t/c/([A-Za-z0-9_.-]+)", html_or_text)]


def test_http_links_of_the_html_part_are_rewritten_and_nothing_else_changes(settings):
    html = ('<p class="x">Hi <a class="button" href="https://app.example.com/p?a=1&amp;b=2">Go</a>, '
            "<a href='http://plain.example/'>plain</a> <a href=https://unquoted.example/x>bare</a> "
            '<a title="1 > 0" href="https://after-a-quoted-gt.example/">gt</a> '
            '<map><area shape="rect" href="https://area.example/" alt=""></map></p>')  # fmt: skip
    out = rewrite_html(html, tracked(settings))
    assert targets(settings, out) == ["https://app.example.com/p?a=1&b=2", "http://plain.example/",
                                      "https://unquoted.example/x", "https://after-a-quoted-gt.example/",
                                      "https://area.example/"]  # fmt: skip
    # Only the href values changed: the markup around them is as it was.
    import re

    assert re.sub(r'href="[^"]*"', "HREF", out) == re.sub(r"""href=("[^"]*"|'[^']*'|[^\s>]+)""", "HREF", html)
    assert out.count(f'href="{BASE}/t/c/') == 5


@pytest.mark.parametrize("href", [
    UNSUBSCRIBE, PREFERENCES, f"{BASE}/u/another-token", f"{BASE}/preferences/x", f"{BASE}/t/c/already",
    "mailto:support@example.com", "tel:+81300000000", "javascript:alert(1)", "data:text/html,<b>x</b>",
    "//evil.example/", "/relative/path", "#section", "https:evil.example", "http:///no-host",
    "https://back\\slash.example/", "https://exa mple.com/", "https://app.example.com/" + "x" * 1500,
])  # fmt: skip
def test_links_that_are_not_tracked_are_left_exactly_as_written(settings, href):
    html = f'<a href="{href}">x</a>'
    assert rewrite_html(html, tracked(settings)) == html


def test_a_tag_whose_name_starts_with_a_is_not_a_link(settings):
    html = '<abbr href="https://x.example/">x</abbr><address href="https://y.example/">y</address>'
    assert rewrite_html(html, tracked(settings)) == html


def test_urls_of_the_text_part_are_rewritten_without_the_punctuation_after_them(settings):
    text = ("Create a project: https://app.example.com/new?x=1&y=2.\n"
            "(see https://docs.example.com/a_(b)) and https://docs.example.com/c)\n"
            "詳しくは https://docs.example.com/ja。\n"
            f"Unsubscribe: {UNSUBSCRIBE}\nmailto:support@example.com\n")  # fmt: skip
    out = rewrite_text(text, tracked(settings))
    assert targets(settings, out) == ["https://app.example.com/new?x=1&y=2", "https://docs.example.com/a_(b)",
                                      "https://docs.example.com/c", "https://docs.example.com/ja"]  # fmt: skip
    lines = out.splitlines()
    assert lines[0].startswith(f"Create a project: {BASE}/t/c/") and lines[0].endswith(".")
    assert lines[1].endswith(")") and lines[2].endswith("。")
    assert lines[3:] == [f"Unsubscribe: {UNSUBSCRIBE}", "mailto:support@example.com"]


def test_the_same_link_makes_the_same_token_in_both_parts_and_on_every_attempt(settings):
    tracker = Tracker(settings)
    html, text = tracker.apply(7, "onboarding", True, '<a href="https://a.example/">a</a>', "https://a.example/")
    again = tracker.apply(7, "onboarding", True, '<a href="https://a.example/">a</a>', "https://a.example/")
    assert (html, text) == again
    assert html == f'<a href="{text}">a</a>'


def test_a_click_token_carries_its_delivery_and_url_under_the_installations_key(settings):
    token = click_token(settings.secret_key, 42, "https://app.example.com/x?y=1")
    link = read_click_token(settings.secret_key, token)
    assert (link.delivery_id, link.url) == (42, "https://app.example.com/x?y=1")
    assert read_click_token(settings.secret_key, token + ".").url == link.url  # a full stop taken in by a mail reader
    with pytest.raises(BadLink, match="signature"):
        read_click_token("another installation's key!", token)
    with pytest.raises(BadLink, match="signature"):
        read_click_token(settings.secret_key, token[:-2] + ("AA" if not token.endswith("AA") else "BB"))
    with pytest.raises(BadLink, match="signature"):  # signed for another purpose: a salt of its own
        read_click_token(settings.secret_key, unsubscribe_token(settings, "ann@example.com", "onboarding"))
    with pytest.raises(BadLink, match="signature"):
        read_click_token(settings.secret_key, open_token(settings.secret_key, 42))
    with pytest.raises(BadLink):
        read_click_token(settings.secret_key, "")
    with pytest.raises(BadLink, match="too long"):
        read_click_token(settings.secret_key, "a" * 3000)


def test_an_open_token_names_its_delivery_only(settings):
    assert read_open_token(settings.secret_key, open_token(settings.secret_key, 9)) == 9
    with pytest.raises(BadLink):
        read_open_token(settings.secret_key, click_token(settings.secret_key, 9, "https://a.example/"))


@pytest.mark.parametrize("delivery_id, category, to_contact, clicks, opens", [
    (7, "onboarding", True, True, False),
    (7, "product-tips", True, True, True),
    (7, "operational", True, False, False),  # account and security messages: never
    (7, "product-tips", False, False, False),  # an alert to the account's owner, not customer email
    (0, "product-tips", True, False, False),  # a preview's draft: no delivery to record against
])  # fmt: skip
def test_what_a_message_gets(settings, delivery_id, category, to_contact, clicks, opens):
    assert Tracker(settings).wanted(delivery_id, category, to_contact) == (clicks, opens)


def test_operational_email_is_never_rewritten_and_never_gets_a_pixel(settings):
    html = '<html><body><a href="https://app.example.com/">a</a></body></html>'
    tracker = Tracker(dataclasses.replace(settings, track_opens=("product-tips",)))
    assert tracker.apply(7, "operational", True, html, "https://app.example.com/") == (html, "https://app.example.com/")


def test_click_tracking_can_be_switched_off(settings):
    html = '<html><body><a href="https://app.example.com/">a</a></body></html>'
    off = Tracker(dataclasses.replace(settings, track_clicks=False))
    assert off.apply(7, "onboarding", True, html, "https://app.example.com/") == (html, "https://app.example.com/")
    # The pixel is its own switch.
    html_out, _ = off.apply(7, "product-tips", True, html, "")
    assert '<a href="https://app.example.com/">' in html_out and "/t/o/" in html_out


def test_the_pixel_ends_the_body_and_is_one_transparent_pixel_wide(settings):
    html = "<html><body><p>x</p></body></html>"
    out = add_pixel(html, f"{BASE}/t/o/TOKEN.gif")
    assert out == ('<html><body><p>x</p><img src="https://tl.example.com/t/o/TOKEN.gif" width="1" height="1" alt="" '
                   'style="display:block;width:1px;height:1px;border:0;margin:0;padding:0"></body></html>')  # fmt: skip
    assert add_pixel("<p>fragment</p>", "x").startswith("<p>fragment</p><img ")
    html_out, _ = Tracker(settings).apply(7, "product-tips", True, html, "")
    token = html_out.split("/t/o/")[1].split(".gif")[0]
    assert read_open_token(settings.secret_key, token) == 7


def test_a_message_shown_in_the_admin_keeps_its_pixel_without_loading_it(settings):
    html = "<html><body><p>x</p></body></html>"
    sent, _ = Tracker(settings).apply(7, "product-tips", True, html, "")
    shown = without_pixel(sent)
    assert "/t/o/" not in shown
    assert shown == sent.replace(sent.split('src="')[1].split('"')[0], "data:image/gif;base64,R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
    assert without_pixel(html) == html


@pytest.mark.parametrize("url, ok", [
    ("https://app.example.com/x?y=1#z", True),
    ("HTTP://APP.EXAMPLE.COM/", True),
    ("https://例え.jp/パス", True),
    ("//evil.example/", False),
    ("javascript:alert(1)", False),
    ("data:text/html,x", False),
    ("https:evil.example", False),
    ("https:/evil.example", False),
    ("https://evil.example\\@app.example.com", False),
    ("/\\evil.example", False),
    ("https://app.example.com/\r\nSet-Cookie: x=1", False),
    (" https://app.example.com/", False),
    ("https://app.example.com:99999/", False),
    ("ftp://files.example.com/", False),
])  # fmt: skip
def test_safe_targets(url, ok):
    assert safe_target(url) is ok


SENT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
BROWSER = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15"


@pytest.mark.parametrize("method, agent, after, flagged, dest", [
    ("GET", BROWSER, 120, None, None),
    ("HEAD", BROWSER, 120, "HEAD request", None),
    ("GET", BROWSER, 3, "3 s after it was sent", None),
    ("GET", BROWSER, 10, None, None),
    ("GET", None, 120, "no user agent", None),
    ("GET", "Mozilla/5.0 (compatible; Barracuda Sentinel)", 120, "scanner user agent (Barracuda)", None),
    ("GET", "Mimecast-URL-Protect/1.0", 120, "scanner user agent (Mimecast)", None),
    ("GET", "python-requests/2.32", 120, "scanner user agent (python-requests)", None),
    ("GET", "Mozilla/5.0 (compatible; bingbot/2.0)", 120, "scanner user agent (bot)", None),
    ("GET", "Mozilla/5.0 HeadlessChrome/120.0", 120, "scanner user agent (HeadlessChrome)", None),
    ("GET", BROWSER, 120, "followed inside a frame", "iframe"),
    ("GET", BROWSER, 120, None, "document"),
])  # fmt: skip
def test_scanner_flags(method, agent, after, flagged, dest):
    found = scanner_flag(method, agent, SENT, SENT + timedelta(seconds=after), dest)
    assert (found is None) if flagged is None else (found is not None and found.startswith(flagged)), found


def test_a_request_before_anything_was_sent_is_not_judged_by_time():
    assert scanner_flag("GET", BROWSER, None, SENT) is None
