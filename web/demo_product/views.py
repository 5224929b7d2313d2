"""The demo product's page, and the token endpoint a product's backend would have."""

from __future__ import annotations

from datetime import timedelta

from flask import Blueprint, abort, make_response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine.inapp.keys import normalise_origin
from engine.inapp.tokens import mint_token
from engine.models import utcnow
from web.auth.roles import role_required
from web.context import get_db, get_settings
from web.demo_product.key import demo_key
from web.demo_product.people import find_person, people_with_nudges

bp = Blueprint("demo_product", __name__, url_prefix="/demo/product")
# As a product would: short-lived, minted again when the snippet asks (a page load, a 401).
TOKEN_TTL = timedelta(minutes=15)


def _wanted() -> str:
    return (request.args.get("contact") or "").strip()[:255]


@bp.get("")
@role_required("viewer")
def page():
    settings = get_settings()
    now = utcnow()
    with get_db().session() as session:  # the first visit creates the demo's key
        key = demo_key(session, settings, actor=current_user.email)
        people = people_with_nudges(session, now)
        wanted = _wanted()
        person = find_person(session, wanted, now) if wanted else None
    if not wanted and people:
        # The contact in the address: a reload stays with them after their last nudge is gone.
        return redirect(url_for(".page", contact=people[0].contact))
    if wanted and person is None:
        abort(404, description=_("There is no contact %(contact)s in the demo data.", contact=wanted))
    if person is not None and all(p.contact != person.contact for p in people):
        people.insert(0, person)  # kept in the list after their last nudge is dismissed
    # The nudge API answers only the app's origins: the public URL. Opened at another address
    # (localhost for 127.0.0.1), the snippet would be refused, so the page says where to go.
    public = normalise_origin(settings.public_url)
    here = normalise_origin(request.host_url)
    return render_template(
        "demo_product/page.html", person=person, people=people, app_id=key.app_id,
        endpoint=settings.public_url, public_url=settings.public_url, same_origin=public == here,
        opened=(request.args.get("opened") or "")[:100],
    )  # fmt: skip


@bp.get("/<path:feature>")
@role_required("viewer")
def feature(feature: str):
    """Where a call to action leads (links.app/setup, /tour): the demo product has only its overview."""
    return redirect(url_for(".page", opened=feature[:100]))


@bp.get("/token")
@role_required("viewer")
def token():
    """A short-lived identity token for one demo contact, as the product's backend mints it."""
    with get_db().session() as session:
        person = find_person(session, _wanted(), utcnow())
        if person is None:
            abort(404, description=_("There is no contact %(contact)s in the demo data.", contact=_wanted()))
        key = demo_key(session, get_settings(), actor=current_user.email)
    response = make_response(mint_token(key.secret, key.kid, contact=person.contact, account=person.account, ttl=TOKEN_TTL))
    response.mimetype = "text/plain"
    response.headers["Cache-Control"] = "no-store"
    return response
