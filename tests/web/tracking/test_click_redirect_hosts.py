"""Hosts that are not plain ASCII (IDNs): a tracked link's redirect names the host the browser would
have opened for the link itself, and never another one. The redirect's Location goes through
Python's IDNA 2003 codec (werkzeug's iri_to_uri), which maps straße to strasse and ς to σ where
browsers (UTS #46) keep them: two different domains. Such links are left as written, and a token
already made for one leads nowhere; a host the codec cannot encode is not a 500."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from engine.delivery import engagement
from engine.delivery.tracking import ClickToken, click_token
from engine.models import DeliveryEngagement
from tests.web.tracking.test_click_route import BROWSER, path_of, send_guides, sent_a_minute_ago

TRACKED = [
    "https://bücher.example/ä?q=ü#ö",
    "https://日本語ドメイン.example/start",
    "https://ΑΣ.example/",  # uppercase: browsers and IDNA 2003 agree on ασ
]
AS_WRITTEN = [
    "https://straße.example/start?from=mail",  # browsers: xn--strae-oqa; IDNA 2003: strasse
    "https://ευχαριστώς.example/",  # a final sigma
    "https://a\u200db.example/",  # a joiner
    "https://" + "ä" * 70 + ".example/",  # labels the codec refuses
    "https://docs." + "a" * 64 + ".example/x",
]
TEMPLATE = """{% extends "_layouts/base.html" %}
{% block subject %}Links for {{ account.name }}{% endblock %}
{% block html %}""" + "".join(f'<p><a href="{link}">link {i}</a></p>' for i, link in enumerate(TRACKED + AS_WRITTEN)) + """{% endblock %}
{% block text %}Links.{% endblock %}
"""


@pytest.fixture
def sent(db, smtp_server, tmp_path):
    out = send_guides(db, smtp_server, tmp_path, accounts=1, template=TEMPLATE)
    sent_a_minute_ago(db)
    return out


def redirects(client, sent) -> list[str]:
    found = []
    for link in sent.links("acme0"):
        answer = client.get(path_of(link), headers={"User-Agent": BROWSER})
        assert answer.status_code == 302, (link, answer.status_code)
        found.append(answer.headers["Location"])
    return found


def test_links_whose_host_python_and_browsers_read_differently_are_left_as_written(client, sent):
    html, _text, _m = sent.parts("acme0")
    assert len(sent.links("acme0")) == len(TRACKED)
    for link in AS_WRITTEN:
        assert f'href="{link}"' in html, link
    assert all(location.isascii() for location in redirects(client, sent))


def test_a_token_already_made_for_such_a_link_leads_nowhere(db, sent):
    with db.read_session() as s:
        for url in AS_WRITTEN:
            token = click_token(sent.settings.secret_key, sent.ids["acme0"], url)
            assert engagement.click_target(s, ClickToken(sent.ids["acme0"], url), token) is None, url
        assert s.scalars(select(DeliveryEngagement)).all() == []


@pytest.mark.browser
def test_chromium_reads_each_redirect_as_the_same_url_as_its_link(client, sent, chromium_path, chromium_args):
    from playwright.sync_api import sync_playwright

    found = redirects(client, sent)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium_path), args=chromium_args)
        try:
            pairs = browser.new_page().evaluate("(pairs) => pairs.map(([a, b]) => [new URL(a).href, new URL(b).href])",
                                                list(zip(TRACKED, found)))  # fmt: skip
        finally:
            browser.close()
    for link_href, redirect_href in pairs:
        assert link_href == redirect_href
    # And what the codec would have done with the first link left as written: another domain.
    assert "straße.example".encode("idna") == b"strasse.example"
