"""The in-app snippet in Debian's Chromium, on a product's page of its own origin: under a strict
Content-Security-Policy, against a hostile stylesheet, with Touchline down, slow or answering
garbage, with script in a body, by keyboard, at 390 px, across tabs."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from sqlalchemy import select

from engine.inapp.keys import set_origins
from engine.models import Nudge, utcnow
from snippet_site import Console, HostSite, nudge

pytestmark = pytest.mark.browser

XSS = ('<p>Hi.</p><img src="/nope.png" onerror="window.__pwned=1"><script>window.__pwned=2</script>'
       '<a id="js-link" href="javascript:window.__pwned=3">a link</a><iframe srcdoc="<script>parent.__pwned=4</script>"></iframe>'
       '<svg onload="window.__pwned=5"></svg><p style="color:red" onclick="window.__pwned=6">styled</p>'
       '<style>* { display: none }</style>')  # fmt: skip
CLOSED = "http://127.0.0.1:1"  # nothing listens on port 1


def strict_csp(touchline: str = "") -> str:
    return (f"default-src 'self'; script-src 'self' {touchline}; connect-src 'self' {touchline}; style-src 'self'; "
            "img-src 'self'; object-src 'none'; base-uri 'none'; frame-src 'none'")  # fmt: skip


def our_warnings(console: Console) -> list[str]:
    return [m for m in console.of("warning") if m.startswith("Touchline:")]


def focused(page) -> str | None:
    """The accessible name (or text) of the focused element, inside the snippet's shadow root too."""
    return page.evaluate("""() => {
        let e = document.activeElement;
        while (e && e.shadowRoot && e.shadowRoot.activeElement) e = e.shadowRoot.activeElement;
        return e && e !== document.body ? (e.getAttribute('aria-label') || e.id || e.textContent.trim()) : null;
    }""")


def wait_for(check, timeout: float = 6.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.1)
    return check()


@pytest.fixture
def app(make_app):
    return make_app(policy_file=None)  # the in-app cap of rules/policy.yaml is not under test here


@pytest.fixture
def browser(chromium_path, chromium_args):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(chromium_path), args=chromium_args)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def site():
    with HostSite() as running:
        yield running


@pytest.fixture
def real(site, live_server, inapp_nudges, db):
    """The host page on the real nudge API as Ann: its origin allowed, the script from Touchline."""
    with db.session() as s:
        set_origins(s, actor="test", add=[site.origin])
    site.csp = strict_csp(live_server)
    site.snippet = f"{live_server}/inapp/touchline.js"
    site.config = {"endpoint": live_server, "app": inapp_nudges.app_id}
    site.token = lambda: inapp_nudges.token("ann")
    return inapp_nudges


@pytest.fixture
def fake(site):
    """The host page on the stand-in API (same origin), under a strict policy."""
    site.csp = strict_csp()
    site.config = {"endpoint": site.origin, "app": "app_test"}
    return site


def test_under_a_strict_csp_the_real_apis_nudges_show_untouched_by_the_hosts_css(browser, site, real, db, screenshots):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    console = Console(page)
    page.goto(site.url)
    banner = page.locator("touchline-nudges .b")
    card = page.locator("touchline-nudges li.c")
    banner.wait_for()
    card.wait_for()
    assert banner.get_attribute("role") == "region"
    assert page.get_by_role("region", name=banner.locator(".tt").inner_text()).is_visible()
    assert page.get_by_role("list", name="Messages").get_by_role("listitem").count() == 1
    assert page.get_by_role("link", name="Open the setup checklist").get_attribute("href") == f"{real.settings.public_url}/setup"
    # The host's stylesheet (serif, red, green buttons, magenta borders) stops at the shadow root.
    style = card.evaluate("""e => { const s = getComputedStyle(e), b = getComputedStyle(e.querySelector('button.s'));
        return [s.fontFamily, s.color, s.borderTopColor, s.marginTop, b.backgroundColor]; }""")
    assert "serif" not in style[0].replace("sans-serif", "") and style[1:] == ["rgb(17, 24, 39)", "rgb(229, 231, 235)", "0px", "rgba(0, 0, 0, 0)"]
    page.screenshot(path=str(screenshots / "snippet-strict-csp.png"))

    def seen():
        with db.read_session() as s:
            return all(s.scalars(select(Nudge.seen_at).where(Nudge.contact_id == real.contacts["ann"])))

    assert wait_for(seen), "both nudges were on screen for a second: seen"
    assert console.errors == [] and console.of("error") == [] and console.of("warning") == []


def test_script_and_handlers_in_a_body_run_nothing(browser, site, fake):
    site.csp = ""  # no policy to stop an inline handler: only the snippet's own care stands in the way
    site.answers = [{"nudges": [nudge(1, kind="modal", title="Hello", body_html=XSS, cta={"label": "Go", "url": "javascript:window.__pwned=7"}),
                                nudge(2, kind="card", body_html=XSS)]}]  # fmt: skip
    page = browser.new_page()
    console = Console(page)
    page.goto(site.url)
    dialog = page.get_by_role("dialog", name="Hello")
    dialog.wait_for()
    assert dialog.locator("script, iframe, svg, style, [onclick], [onerror], [onload], [style]").count() == 0
    assert dialog.locator("a.p").count() == 0  # a javascript: call to action is no call to action
    dialog.get_by_text("a link").click()
    page.wait_for_timeout(800)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("#host-button").is_visible() and dialog.is_visible()  # the body's <style> reached nothing
    assert console.errors == []


def test_through_the_real_api_a_stored_script_runs_nothing(browser, site, real, db):
    with db.session() as s:
        s.get(Nudge, real.nudge[("ann", "card")]).body_html = XSS
    page = browser.new_page()
    console = Console(page)
    page.goto(site.url)
    page.locator("touchline-nudges li.c").wait_for()
    page.wait_for_timeout(800)
    assert page.evaluate("window.__pwned") is None
    assert page.locator("touchline-nudges li.c").get_by_text("a link").count() == 1
    assert console.errors == [] and console.of("error") == []


@pytest.mark.parametrize("trouble", ["api closed", "script closed", "garbage", "server errors", "hangs"])
def test_when_touchline_is_down_or_broken_the_page_works_as_without_it(browser, site, fake, trouble):
    if trouble == "api closed":
        site.config["endpoint"] = CLOSED
    elif trouble == "script closed":
        site.snippet = f"{CLOSED}/inapp/touchline.js"
    else:
        site.answers = [{"garbage": "garbage", "server errors": ("status", 500), "hangs": "hang"}[trouble]]
    site.csp = ""  # a host without a policy: every request the snippet makes is really attempted
    page = browser.new_page()
    console = Console(page)
    page.goto(site.url)
    page.locator("#host-button").click()
    page.locator("#host-button").click()
    assert page.locator("#count").inner_text() == "2"
    page.wait_for_timeout(2500)
    assert page.locator("touchline-nudges .c, touchline-nudges .b, touchline-nudges .dlg").count() == 0
    assert console.errors == [], "no uncaught error"
    assert len(our_warnings(console)) <= 1 and console.of("warning") == our_warnings(console)
    if trouble in ("garbage", "server errors"):
        assert len(our_warnings(console)) == 1
        assert len([r for r in site.requests if r[0] == "GET"]) == 1, "backs off: no second request within seconds"
    # What the browser itself logs is the failed request, nothing from a script.
    assert all("Failed to load resource" in m or "ERR_CONNECTION_REFUSED" in m for m in console.of("error"))


def test_the_modal_by_keyboard_and_the_banner_after_it(browser, site, fake, screenshots):
    site.answers = [{"nudges": [
        nudge(1, kind="modal", priority=90, title="Welcome to Acme", cta={"label": "Start the tour", "url": f"{site.origin}/tour"},
              body_html="<p>Five minutes to the features your team will use most.</p>"),
        nudge(2, kind="banner", priority=10, title="Reports are faster", body_html="<p>Scheduled reports now run in seconds.</p>"),
    ]}]  # fmt: skip
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.goto(site.url)
    dialog = page.get_by_role("dialog", name="Welcome to Acme")
    dialog.wait_for()
    assert dialog.get_attribute("aria-modal") == "true"
    page.wait_for_timeout(400)  # past the entrance
    page.screenshot(path=str(screenshots / "snippet-modal.png"))
    names = []
    for _ in range(4):
        page.keyboard.press("Tab")
        names.append(focused(page))
    assert names == ["Dismiss", "Start the tour", "Later", "Dismiss"], "Tab stays inside the dialog"
    page.keyboard.press("Shift+Tab")
    assert focused(page) == "Later"
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert focused(page) == "host-button", "focus goes back where it was"
    assert wait_for(lambda: (1, {"type": "dismissed"}) in site.events)
    # The banner's buttons come next in the page's tab order.
    page.keyboard.press("Tab")
    assert focused(page) == "Later"
    page.keyboard.press("Enter")
    snoozed = wait_for(lambda: [b for i, b in site.events if i == 2 and b["type"] == "snoozed"])
    until = snoozed[0]["until"]
    assert abs((utcnow() + timedelta(days=1)).timestamp() - _ts(until)) < 120
    assert page.locator("touchline-nudges .b").count() == 0


def _ts(iso: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def test_at_390px_nothing_overflows(browser, site, fake, screenshots):
    long = "<p>Connect Salesforce, HubSpot or a warehouse: reports then refresh every hour, and the whole team sees the same figures.</p>"
    site.config["maxPerView"] = 3
    site.answers = [{"nudges": [
        nudge(1, kind="banner", priority=80, title="Your trial ends in 3 days", body_html="<p>Pick a plan to keep your reports.</p>",
              cta={"label": "Choose a plan", "url": f"{site.origin}/plans"}),
        nudge(2, kind="card", priority=50, title="Connect your first data source", body_html=long,
              cta={"label": "Connect", "url": f"{site.origin}/connect"}),
        nudge(3, kind="card", priority=40, title="レポートを共有しましょう", body_html="<p>チームのメンバーを招待すると、同じ数字を見られます。</p>", locale="ja"),
    ]}]  # fmt: skip
    page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    page.goto(site.url)
    cards = page.locator("touchline-nudges li.c")
    cards.nth(1).wait_for()
    assert page.get_by_role("button", name="あとで").count() == 1 and page.get_by_role("button", name="閉じる").count() == 1
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.wait_for_timeout(400)
    for box in [page.locator("touchline-nudges .b").bounding_box(), cards.nth(0).bounding_box(), cards.nth(1).bounding_box()]:
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    page.screenshot(path=str(screenshots / "snippet-390.png"))


def test_highest_priority_first_and_at_most_max_per_view(browser, site, fake):
    site.answers = [{"nudges": [nudge(1, priority=10), nudge(2, priority=90), nudge(3, priority=50), nudge(4, priority=70)]}]
    page = browser.new_page()
    page.goto(site.url)
    cards = page.locator("touchline-nudges li.c .tt")
    cards.nth(1).wait_for()
    page.wait_for_timeout(300)
    assert cards.all_inner_texts() == ["Nudge 2", "Nudge 4"]


HIDDEN_SWITCH = """
Object.defineProperty(document, 'hidden', { configurable: true, get: () => !!window.__hidden });
Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => window.__hidden ? 'hidden' : 'visible' });
window.__setHidden = (value) => { window.__hidden = value; document.dispatchEvent(new Event('visibilitychange')); };
"""


def test_seen_and_polling_only_while_the_tab_is_visible_with_the_etag(browser, site, fake):
    site.answers = [lambda headers: {"nudges": [nudge(1)], "poll_after": 5}]
    page = browser.new_page()
    page.add_init_script(HIDDEN_SWITCH)
    page.goto(site.url)
    page.locator("touchline-nudges li.c").wait_for()
    page.evaluate("window.__setHidden(true)")  # before the second on screen
    page.wait_for_timeout(6000)  # past poll_after
    assert site.events == [], "not seen while the tab is hidden"
    assert len([r for r in site.requests if r[0] == "GET"]) == 1, "no polling while hidden"
    page.evaluate("window.__setHidden(false)")
    assert wait_for(lambda: site.events == [(1, {"type": "seen"})], 4)
    gets = wait_for(lambda: [r for r in site.requests if r[0] == "GET"][1:], 4)
    assert gets and gets[0][2].get("If-None-Match", "").startswith('"'), "the next poll sends the ETag back"


def test_one_tab_polls_for_all_and_a_dismissal_reaches_the_others(browser, site, fake):
    site.answers = [{"nudges": [nudge(1, title="Shared")]}]
    context = browser.new_context()
    first = context.new_page()
    first.goto(site.url)
    first.locator("touchline-nudges li.c").wait_for()
    second = context.new_page()
    second.goto(site.url)
    second.locator("touchline-nudges li.c").wait_for()  # from the first tab, over the channel
    second.wait_for_timeout(500)
    assert len([r for r in site.requests if r[0] == "GET"]) == 1
    second.get_by_role("button", name="Dismiss").click()
    first.locator("touchline-nudges li.c").wait_for(state="detached")
    assert wait_for(lambda: (1, {"type": "dismissed"}) in site.events)
    context.close()


def test_a_refused_token_is_asked_for_again_once(browser, site, fake):
    tokens = iter(["stale", "fresh", "spare"])
    site.token = lambda: next(tokens)
    site.answers = [lambda headers: {"nudges": [nudge(1)]} if headers.get("Authorization") == "Bearer fresh" else ("status", 401)]
    page = browser.new_page()
    console = Console(page)
    page.goto(site.url)
    page.locator("touchline-nudges li.c").wait_for()
    assert page.evaluate("window.__tokenCalls()") == 2
    assert our_warnings(console) == []


def test_reduced_motion_stops_the_animation(browser, site, fake):
    site.answers = [{"nudges": [nudge(1)]}]
    names = {}
    for motion in ("no-preference", "reduce"):
        page = browser.new_page(reduced_motion=motion)
        page.goto(site.url)
        card = page.locator("touchline-nudges li.c")
        card.wait_for()
        names[motion] = card.evaluate("e => getComputedStyle(e).animationName")
        page.close()
    assert names == {"no-preference": "tl-in", "reduce": "none"}


def test_without_constructed_stylesheets_a_style_element_with_the_nonce(browser, site, fake):
    site.csp = "default-src 'self'; style-src 'self' 'nonce-r4nd0m'"
    site.config["nonce"] = "r4nd0m"
    site.answers = [{"nudges": [nudge(1)]}]
    page = browser.new_page()
    console = Console(page)
    page.add_init_script("delete ShadowRoot.prototype.adoptedStyleSheets; delete Document.prototype.adoptedStyleSheets;")
    page.goto(site.url)
    card = page.locator("touchline-nudges li.c")
    card.wait_for()
    assert card.evaluate("e => getComputedStyle(e).borderTopLeftRadius") == "12px"
    assert console.of("error") == [] and console.errors == []
