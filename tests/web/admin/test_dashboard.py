import re
from datetime import timedelta

from engine.auth import create_api_key, revoke_api_key
from engine.ingest import track_events, upsert_accounts, upsert_contacts
from engine.models import utcnow


def figure(html: str, element_id: str) -> int:
    match = re.search(rf'id="{element_id}">(\d+)<', html)
    assert match, f"no #{element_id} on the page"
    return int(match.group(1))


def test_dashboard_counts_accounts_by_tier_contacts_last_week_events_and_keys(db, login_as):
    now = utcnow()
    with db.session() as session:
        upsert_accounts(session, [{"id": "a1", "tier": "high"}, {"id": "a2", "tier": "tech"}, {"id": "a3", "tier": "tech"}])
        upsert_contacts(session, [{"id": "c1", "account_id": "a1"}, {"id": "c2", "account_id": "a2"}])
        track_events(
            session,
            [
                {"id": "old", "account_id": "a1", "name": "login", "timestamp": (now - timedelta(days=8)).isoformat()},
                {"id": "new1", "account_id": "a1", "name": "login", "timestamp": (now - timedelta(hours=1)).isoformat()},
                {"id": "new2", "account_id": "a2", "name": "report_run", "timestamp": now.isoformat()},
            ],
        )
        key, _ = create_api_key(session, "kept")
        revoked, _ = create_api_key(session, "gone")
        revoke_api_key(session, revoked.prefix)

    html = login_as("viewer").get("/admin/").get_data(as_text=True)
    assert figure(html, "accounts-total") == 3
    assert (figure(html, "tier-high"), figure(html, "tier-low"), figure(html, "tier-tech")) == (1, 0, 2)
    assert figure(html, "contacts-total") == 2
    assert figure(html, "events-7d") == 2
    assert figure(html, "api-keys-active") == 1
    assert "1 revoked API key not counted above" in html

