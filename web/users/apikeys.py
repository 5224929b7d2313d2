"""The API keys page: list, create (the token shown once, on the page after the redirect), revoke."""

from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, url_for
from flask_babel import gettext as _

from engine import auth
from web.auth.roles import role_required
from web.context import get_db
from web.users.forms import ApiKeyForm, ConfirmForm
from web.users.views import actor, show_once, take_shown_once

# Its own blueprint, so the navigation marks "API keys", not "Users", as the current page.
bp = Blueprint("apikeys", __name__, url_prefix="/admin/users/api-keys")


def render_keys(status: int = 200, form: ApiKeyForm | None = None, problem: str | None = None):
    with get_db().read_session() as db_session:
        keys = auth.list_api_keys(db_session)
    response = make_response(render_template(
        "users/api_keys.html", keys=keys, form=form or ApiKeyForm(formdata=None),
        problem=problem, new_token=take_shown_once("token") if status == 200 else None), status)  # fmt: skip
    response.headers["Cache-Control"] = "no-store"  # the page may hold a token shown once
    return response


@bp.get("")
@role_required("admin")
def index():
    return render_keys()


@bp.post("")
@role_required("admin")
def create_key():
    form = ApiKeyForm()
    if not form.validate_on_submit():
        return render_keys(422, form=form)
    try:
        with get_db().session() as db_session:
            key, token = auth.create_api_key(db_session, form.name.data or "", actor=actor())
            name = key.name
    except auth.AuthError as exc:
        form.name.errors = [str(exc)]
        return render_keys(422, form=form)
    show_once("token", name, token)
    flash(_("Created the API key %(name)s.", name=name), "info")
    return redirect(url_for("apikeys.index"), 303)


@bp.post("/<prefix>/revoke")
@role_required("admin")
def revoke_key(prefix: str):
    ConfirmForm().validate_on_submit()  # CSRF: web.extensions.csrf has refused a forged POST already
    try:
        with get_db().session() as db_session:
            name = auth.revoke_api_key(db_session, prefix, actor=actor()).name
    except auth.AuthError as exc:
        return render_keys(422, problem=str(exc))
    flash(_("Revoked the API key %(name)s; requests with it are refused from now on.", name=name), "info")
    return redirect(url_for("apikeys.index"), 303)
