"""In-app deliveries in the admin: the send log, the delivery page and the account's timeline show
what the product reported of each nudge (seen, clicked, dismissed, snoozed)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from engine.models import Delivery, Nudge, utcnow
from htmlids import parse as by_id


def report(app, w, who, kind, event, **extra):
    client = app.test_client()
    answer = client.post(f"/api/v1/inapp/{w.app_id}/nudges/{w.nudge[(who, kind)]}/events",
                         headers={"Authorization": f"Bearer {w.token(who)}"}, json={"type": event, **extra})  # fmt: skip
    assert answer.status_code == 200, answer.json


def delivery_of(db, nudge_id):
    with db.read_session() as s:
        return s.scalar(select(Nudge.delivery_id).where(Nudge.id == nudge_id))


def test_the_admin_shows_what_became_of_each_nudge(app, login_as, inapp_nudges, db):
    w = inapp_nudges
    report(app, w, "ann", "banner", "seen")
    report(app, w, "ann", "banner", "clicked")
    report(app, w, "bea", "banner", "seen")
    report(app, w, "bea", "banner", "dismissed")
    report(app, w, "carl", "card", "snoozed", until=(utcnow() + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    viewer = login_as("viewer")

    log = viewer.get("/admin/deliveries/?channel=in_app").get_data(as_text=True)
    rows = {d: log.split(f'data-id="{d}"', 1)[1].split("</tr>", 1)[0] for d in
            (delivery_of(db, w.nudge[("ann", "banner")]), delivery_of(db, w.nudge[("bea", "banner")]),
             delivery_of(db, w.nudge[("ann", "card")]))}  # fmt: skip
    ann_banner, bea_banner, ann_card = rows.values()
    assert "status-clicked" in ann_banner and "status-dismissed" in bea_banner
    assert "status-seen" not in ann_card and "status-clicked" not in ann_card  # not shown yet

    page = by_id(viewer.get(f"/admin/deliveries/{delivery_of(db, w.nudge[('ann', 'banner')])}").get_data(as_text=True))
    assert "a banner, priority 70" in page.text["nudge-facts"]
    assert "UTC" in page.text["nudge-seen"] and "UTC" in page.text["nudge-clicked"] and page.text["nudge-dismissed"] == "no"
    carl = by_id(viewer.get(f"/admin/deliveries/{delivery_of(db, w.nudge[('carl', 'card')])}").get_data(as_text=True))
    assert "UTC" in carl.text["nudge-snoozed"] and carl.text["nudge-seen"] == "not yet"

    account = viewer.get("/admin/accounts/acme").get_data(as_text=True)
    items = [part.split("</li>", 1)[0] for part in account.split('class="item-nudge')[1:]]
    assert len(items) == 4  # Ann seen + clicked, Bea seen + dismissed
    assert any("status-clicked" in i and "setup-banner: contact:" in i for i in items)


def test_touchline_deliveries_show_prints_the_nudges_state(app, inapp_nudges, db):
    from click.testing import CliRunner

    from engine.cli import cli

    w = inapp_nudges
    report(app, w, "ann", "banner", "seen")
    out = CliRunner().invoke(cli, ["deliveries", "show", str(delivery_of(db, w.nudge[("ann", "banner")]))]).output
    assert "In the product: a banner, priority 70; first seen 20" in out and "clicked -, dismissed -" in out
