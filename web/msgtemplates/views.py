"""The template list and a template's preview and test send; engine.templates.catalog and
engine.delivery.preview / testsend do the work (``touchline templates list|test-send`` are the twins)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine.accounts import AccountFilter, SearchError, search_accounts
from engine.audit import user_actor
from engine.delivery.compose import shared_library
from engine.delivery.preview import PreviewError, preview_template, sample_account
from engine.delivery.testsend import TestSendError, send_test_template
from engine.templates.catalog import template_catalog, template_problems
from web.auth.roles import role_required
from web.context import get_db, get_settings
from web.msgtemplates.forms import TestSendForm
from web.security import sandboxed_html

bp = Blueprint("templates", __name__, url_prefix="/admin/templates")
# The preview's own document: its inline styles and images, no script, only inside the admin.


@bp.get("/")
@role_required("editor")
def list_templates():
    library = shared_library(get_settings().templates_dir)
    with get_db().read_session() as session:
        entries = template_catalog(session, library)
        problems = template_problems(session, library)
    folders: dict[str, list] = {}
    for entry in entries:
        folders.setdefault(entry.folder, []).append(entry)
    by_template = {e.name: [p for p in problems if p.path.startswith(e.name + "/")] for e in entries}
    return render_template("msgtemplates/list.html", folders=folders, problems=problems, by_template=by_template,
                           root=library.root, count=len(entries))  # fmt: skip


def _args() -> tuple[str, str | None]:
    locale = request.args.get("locale") or None
    return (request.args.get("account") or "").strip(), locale


@bp.get("/preview/<path:name>")
@role_required("editor")
def preview(name: str):
    library = shared_library(get_settings().templates_dir)
    account_id, locale = _args()
    locales = library.locales(name)
    if not locales:
        return render_template("msgtemplates/not_found.html", name=name), 404
    if locale is not None and locale not in locales:
        locale = None
    ctx = {"name": name, "locales": locales, "locale": locale, "account_id": account_id, "result": None, "error": None,
           "matches": []}  # fmt: skip
    with get_db().read_session() as session:
        if not account_id:
            account_id = ctx["account_id"] = sample_account(session) or ""
        if account_id:
            try:
                ctx["result"] = preview_template(session, get_settings(), template=name, account_id=account_id, locale=locale)
            except PreviewError as exc:
                ctx["error"] = str(exc)
                ctx["matches"] = _similar(session, account_id)
    form = TestSendForm(account=account_id, locale=locale or "")
    status = 404 if ctx["error"] and not ctx["result"] else 200
    return render_template("msgtemplates/preview.html", form=form, **ctx), status


def _similar(session, text: str) -> list:
    try:
        return search_accounts(session, AccountFilter(q=text), limit=8).rows
    except SearchError:
        return []


@bp.get("/html/<path:name>")
@role_required("editor")
def preview_html(name: str):
    """The rendered HTML part for the preview's sandboxed iframe."""
    account_id, locale = _args()
    with get_db().read_session() as session:
        try:
            result = preview_template(session, get_settings(), template=name, account_id=account_id, locale=locale)
        except PreviewError:
            abort(404)
    if result.message is None:
        abort(404)
    return sandboxed_html(result.message.html)


@bp.post("/test-send/<path:name>")
@role_required("editor")
def test_send(name: str):
    form = TestSendForm()
    back = url_for("templates.preview", name=name, account=form.account.data or None, locale=form.locale.data or None)
    if not form.validate_on_submit():
        flash(_("Test send needs an account id and a valid form: reload the page and try again."), "error")
        return redirect(back)
    try:
        result = send_test_template(get_db(), get_settings(), template=name, account_id=form.account.data.strip(),
                                    to_address=current_user.email, actor=user_actor(current_user.email),
                                    locale=form.locale.data or None)  # fmt: skip
    except TestSendError as exc:
        flash(_("Test send failed: %(reason)s", reason=str(exc)), "error")
        return redirect(back)
    if result.sent:
        flash(_("Test message sent to %(address)s (%(subject)s).", address=result.to_address, subject=result.subject), "info")
    else:
        flash(_("Test message not sent: %(reason)s", reason=result.error or result.provider_response), "error")
    return redirect(back)
