"""The users page: list, create (with an initial password shown once), change role,
deactivate and reactivate. Each change is one engine.auth call, which writes the audit row."""

from __future__ import annotations

import secrets
from collections.abc import Callable

from flask import Blueprint, abort, flash, make_response, redirect, render_template, session, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import Session

from engine import auth
from engine.audit import user_actor
from web.auth.roles import role_required
from web.context import get_db
from web.templating import role_label
from web.users.forms import ConfirmForm, CreateUserForm, RoleForm

bp = Blueprint("users", __name__, url_prefix="/admin/users")
# A generated password or a new token waits in the session for the one page that shows it.
SHOW_ONCE = "touchline.show_once"


def actor() -> str:
    return user_actor(current_user.email)


def show_once(kind: str, subject: str, secret: str) -> None:
    session[SHOW_ONCE] = {"kind": kind, "subject": subject, "secret": secret}


def take_shown_once(kind: str) -> dict | None:
    shown = session.get(SHOW_ONCE)
    if shown and shown.get("kind") == kind:
        return session.pop(SHOW_ONCE)
    return None


def _no_store(response):
    # The page may hold a secret shown once: no cache keeps a copy.
    response.headers["Cache-Control"] = "no-store"
    return response


def render_index(status: int = 200, form: CreateUserForm | None = None, problem: str | None = None):
    with get_db().read_session() as db_session:
        users = auth.list_users(db_session)
    page = make_response(render_template("users/index.html", users=users, form=form or CreateUserForm(formdata=None),
                           role_form=RoleForm, problem=problem,
                           new_password=take_shown_once("password") if status == 200 else None), status)  # fmt: skip
    return _no_store(page)


@bp.get("/")
@role_required("admin")
def index():
    return render_index()


@bp.post("/")
@role_required("admin")
def create_user():
    form = CreateUserForm()
    if not form.validate_on_submit():
        return render_index(422, form=form)
    generated = not form.password.data
    password = form.password.data or secrets.token_urlsafe(12)
    try:
        with get_db().session() as db_session:
            email = auth.create_user(db_session, form.email.data or "", password, form.role.data, actor=actor()).email
    except auth.AuthError as exc:
        (form.password if "password" in str(exc) else form.email).errors = [str(exc)]
        return render_index(422, form=form)
    if generated:
        show_once("password", email, password)
    flash(_("Created %(email)s.", email=email), "info")
    return redirect(url_for("users.index"), 303)


def _change(user_id: int, change: Callable[[Session, str], object], done: Callable[[str], str]):
    """Run ``change(session, email)``; a refusal (last admin, own role) is shown on the page with 422."""
    try:
        with get_db().session() as db_session:
            user = auth.get_user(db_session, user_id)
            if user is None:
                abort(404, description=_("There is no such user."))
            change(db_session, user.email)
            email = user.email
    except auth.AuthError as exc:
        return render_index(422, problem=str(exc))
    flash(done(email), "info")
    return redirect(url_for("users.index"), 303)


@bp.post("/<int:user_id>/role")
@role_required("admin")
def change_role(user_id: int):
    form = RoleForm()
    if not form.validate_on_submit():
        return render_index(422, problem=_("Choose one of the roles and try again."))
    role = form.role.data
    return _change(user_id, lambda s, email: auth.set_role(s, email, role, actor=actor()),
                   lambda email: _("%(email)s is now %(role)s.", email=email, role=role_label(role)))  # fmt: skip


@bp.post("/<int:user_id>/deactivate")
@role_required("admin")
def deactivate(user_id: int):
    ConfirmForm().validate_on_submit()  # CSRF: web.extensions.csrf has refused a forged POST already
    return _change(user_id, lambda s, email: auth.set_active(s, email, False, actor=actor()),
                   lambda email: _("Deactivated %(email)s; their sessions have ended.", email=email))  # fmt: skip


@bp.post("/<int:user_id>/reactivate")
@role_required("admin")
def reactivate(user_id: int):
    ConfirmForm().validate_on_submit()
    return _change(user_id, lambda s, email: auth.set_active(s, email, True, actor=actor()),
                   lambda email: _("Reactivated %(email)s.", email=email))  # fmt: skip
