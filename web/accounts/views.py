"""Account list (search, filters, keyset pages) and the account page: engine.accounts does the work."""

from __future__ import annotations

from flask import Blueprint, render_template, request

from engine.accounts import AccountFilter, SearchError, UnknownAccount, account_detail, filter_choices, search_accounts
from engine.models import TIERS, utcnow
from web.auth.roles import role_required
from web.context import get_db
from web.paging import decode_cursor, encode_cursor, url_with

bp = Blueprint("accounts", __name__, url_prefix="/admin/accounts")
PAGE = 50


@bp.get("/")
@role_required("viewer")
def list_accounts():
    args = request.args
    after = decode_cursor(args.get("after"), str)  # a damaged cursor is a 400 saying so
    with get_db().read_session() as session:
        ctx = {"args": args, "tiers": TIERS, "choices": filter_choices(session), "page": None, "next_url": None}
        try:
            flt = AccountFilter(q=args.get("q", ""), tier=args.get("tier"), plan=args.get("plan"), owner=args.get("owner"))
        except SearchError as exc:
            return render_template("accounts/list.html", flt=AccountFilter(), error=str(exc), **ctx), 400
        ctx["page"] = search_accounts(session, flt, cursor=after[0] if after else None, limit=PAGE)
    if ctx["page"].next_cursor:
        ctx["next_url"] = url_with(after=encode_cursor(ctx["page"].next_cursor))
    first_url = url_with(after=None) if after else None
    return render_template("accounts/list.html", flt=flt, error=None, first_url=first_url, **ctx)


@bp.get("/<path:external_id>")
@role_required("viewer")
def show_account(external_id: str):
    with get_db().read_session() as session:
        try:
            detail = account_detail(session, external_id, utcnow())
        except UnknownAccount:
            return render_template("accounts/not_found.html", external_id=external_id), 404
    return render_template("accounts/show.html", d=detail)
