"""The send log page: counts by rule and status, the latest deliveries, the unknown ones called out."""

from __future__ import annotations


def test_the_send_log_shows_counts_and_calls_out_unknown_messages(db, login_as, deliveries_with_one_lost):
    deliveries_with_one_lost(2)
    client = login_as("viewer")
    html = client.get("/admin/deliveries/").get_data(as_text=True)
    assert "1 unknown" in html and "unknown 1" in html and "pending 1" in html
    only = client.get("/admin/deliveries/?status=unknown").get_data(as_text=True)
    assert "c0@x.test" in only and "c1@x.test" not in only and "may or may not have been sent" in only
    assert client.get("/admin/deliveries/?status=lost").status_code == 400


def test_the_send_log_needs_a_signed_in_user(client):
    response = client.get("/admin/deliveries/")
    assert response.status_code == 302 and "/auth/login" in response.headers["Location"]


def test_a_paused_rule_and_its_reason_are_shown(db, login_as, deliveries_with_one_lost):
    from engine.rules.versions import pause_rule

    deliveries_with_one_lost(2)
    with db.session() as s:
        pause_rule(s, "nudge", "circuit breaker: more than 1,000 messages in one cycle")
    html = login_as("viewer").get("/admin/deliveries/").get_data(as_text=True)
    assert "nudge is paused" in html and "circuit breaker: more than 1,000 messages" in html
