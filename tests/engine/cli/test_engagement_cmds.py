"""touchline deliveries show and accounts show: a delivery's clicks and opens, as their pages show them."""

from __future__ import annotations

from click.testing import CliRunner

from engine.cli import cli
from engine.delivery import engagement
from engine.delivery.tracking import read_click_token, scanner_flag
from engine.models import utcnow
from tests.web.tracking.test_click_route import BROWSER, path_of, send_guides, sent_a_minute_ago


def test_show_prints_clicks_with_the_flagged_ones_marked(db, smtp_server, tmp_path):
    out = send_guides(db, smtp_server, tmp_path, accounts=1)
    sent_a_minute_ago(db)
    # A HEAD request for the first link, recorded as the click route records it.
    token = path_of(out.links("acme0")[0]).rsplit("/", 1)[1]
    with db.read_session() as s:
        target = engagement.click_target(s, read_click_token(out.settings.secret_key, token), token)
    now = utcnow()
    engagement.record(db, target, "click", now, "HEAD", BROWSER, "127.0.0.1", scanner_flag("HEAD", BROWSER, target.sent_at, now))
    shown = CliRunner().invoke(cli, ["accounts", "show", "acme0"], catch_exceptions=False).output
    assert "click: guide: ann0@acme.test → https://docs.example.com/start?utm=mail&id=acme0 (flagged: HEAD request" in shown
    shown = CliRunner().invoke(cli, ["deliveries", "show", str(out.ids["acme0"])], catch_exceptions=False).output
    assert "Clicks and opens: 0 clicks by people, 1 flagged as link scanners', 0 opens (0 flagged)" in shown
    assert "click https://docs.example.com/start?utm=mail&id=acme0  HEAD 127.0.0.1  flagged: HEAD request" in shown
