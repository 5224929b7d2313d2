"""``/u/<token>`` (confirm, one-click) and ``/preferences/<token>``.

GET never changes anything: link scanners and mail previews fetch every link
in a message. POST to ``/u/<token>`` unsubscribes at once, with or without the
RFC 8058 body ``List-Unsubscribe=One-Click``, and is idempotent.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, make_response, render_template, request
from sqlalchemy.orm import Session

from engine.compliance import (
    GENERAL,
    OPERATIONAL,
    BadToken,
    InvalidCategory,
    TokenData,
    check_category,
    known_categories,
    read_token,
    rejoined_categories,
    resubscribe,
    suppress,
    suppression_for,
    suppressions_of,
)
from engine.models import ALL_CATEGORIES
from web.context import get_db, get_settings
from web.unsubscribe.strings import STRINGS, category_label, pick_locale

bp = Blueprint("unsubscribe", __name__)

PREFERENCE_ACTIONS = ("leave", "rejoin", "leave_all", "rejoin_all")


def _page(template: str, status: int = 200, **context: Any) -> Response:
    response = make_response(render_template(template, **context), status)
    # The token in the URL is the recipient's key to these pages: keep it out
    # of caches, of Referer headers and of search engines.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _context(data: TokenData | None, token: str) -> dict[str, Any]:
    locale = pick_locale(data.locale if data else None)
    strings = STRINGS[locale]
    # The sender's brand: recipients know the product that mailed them, not Touchline.
    return {"locale": locale, "t": strings, "token": token, "label": lambda c: category_label(c, strings),
            "brand": get_settings().brand}  # fmt: skip


def _bad(token: str, problem: str, status: int = 400) -> Response:
    return _page("unsubscribe/bad_token.html", status, problem=problem, **_context(None, token))


def error_page(status: int) -> Response:
    """Any error under a recipient's URL (a 405, a crash): the sender's page, never the admin's."""
    return _page("unsubscribe/error.html", status, **_context(None, ""))


def _left_all(session: Session, address: str) -> bool:
    return any(r.category == ALL_CATEGORIES and r.reason == "unsubscribed" for r in suppressions_of(session, address))


def _already_out(session: Session, data: TokenData) -> bool:
    if data.category is None:
        return _left_all(session, data.address)
    return suppression_for(session, data.address, data.category) is not None


@bp.get("/u/<token>")
def confirm(token: str):
    try:
        data = read_token(get_settings(), token)
    except BadToken as exc:
        return _bad(token, str(exc))
    with get_db().read_session() as session:
        already = data.category != OPERATIONAL and _already_out(session, data)
    return _page("unsubscribe/confirm.html", data=data, already=already, **_context(data, token))


def _recipient(data) -> str:
    """The audit trail's actor for a recipient's own choice, made through their signed link."""
    return f"recipient:{data.address}"


@bp.post("/u/<token>")
def one_click(token: str):
    try:
        data = read_token(get_settings(), token)
    except BadToken as exc:
        return _bad(token, str(exc))
    if data.category == OPERATIONAL:
        return _page("unsubscribe/confirm.html", data=data, already=False, **_context(data, token))
    source = "unsubscribe-page" if request.form.get("via") == "page" else "one-click"
    with get_db().session() as session:
        suppress(session, data.address, "unsubscribed", data.category, source, actor=_recipient(data))
    return _page("unsubscribe/done.html", data=data, **_context(data, token))


@bp.route("/preferences/<token>", methods=["GET", "POST"])
def preferences(token: str):
    try:
        data = read_token(get_settings(), token)
    except BadToken as exc:
        return _bad(token, str(exc))
    context = _context(data, token)
    strings = context["t"]
    message: str | None = None
    if request.method == "POST":
        action = request.form.get("action", "")
        category = request.form.get("category") or None
        if action not in PREFERENCE_ACTIONS:
            return _bad(token, f"action {action!r}: expected one of {', '.join(PREFERENCE_ACTIONS)}")
        if action in ("leave", "rejoin"):
            if category is None:
                return _bad(token, f"category: the form has no category to {action.replace('_', ' ')}")
            try:
                category = check_category(category)
            except InvalidCategory as exc:
                return _bad(token, str(exc))
            if category == OPERATIONAL:
                return _bad(token, "category 'operational': account messages cannot be unsubscribed from")
        with get_db().session() as session:
            if action == "leave":
                suppress(session, data.address, "unsubscribed", category, "preferences", actor=_recipient(data))
            elif action == "leave_all":
                suppress(session, data.address, "unsubscribed", None, "preferences", actor=_recipient(data))
            elif action == "rejoin":
                resubscribe(session, data.address, category, actor=_recipient(data))
            else:
                resubscribe(session, data.address, None, actor=_recipient(data))
        message = strings[f"saved_{action}"].format(category=category_label(category, strings))
    with get_db().read_session() as session:
        rows = _preference_rows(session, data)
        left_all = _left_all(session, data.address)
        blocked = next(
            (r.reason for r in suppressions_of(session, data.address)
             if r.category == ALL_CATEGORIES and r.reason != "unsubscribed"),
            None,
        )  # fmt: skip
    return _page(
        "unsubscribe/preferences.html",
        data=data, rows=rows, left_all=left_all, blocked=blocked, message=message, **context,
    )  # fmt: skip


def _preference_rows(session: Session, data: TokenData) -> list[dict[str, Any]]:
    """One row per category the recipient may leave: the system's, the link's own,
    and any they left or re-joined that no applied rule uses now."""
    address = data.address
    own = {r.category for r in suppressions_of(session, address)} | rejoined_categories(session, address)
    if data.category is not None:
        own.add(data.category)
    categories = (set(known_categories(session)) | own) - {ALL_CATEGORIES, OPERATIONAL}
    rows = []
    for category in sorted(categories, key=lambda c: (c != GENERAL, c)):
        rows.append({"category": category, "reason": suppression_for(session, address, category)})
    return rows
