"""The demo product serves the demo data's contacts only, whose addresses are all under .example."""

from __future__ import annotations

import pytest
from sqlalchemy import func, update

from engine.models import Contact


@pytest.fixture
def inapp_nudges(inapp_nudges, db):
    """The root fixture's nudges, their contacts with demo addresses (ann@acme.example)."""
    with db.session() as s:
        s.execute(update(Contact).values(email=func.replace(Contact.email, ".test", ".example")))
    return inapp_nudges
