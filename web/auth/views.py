"""Sign-in and sign-out pages."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError

from engine.auth import authenticate, end_sessions
from web.auth.forms import LoginForm
from web.auth.users import SignedInUser
from web.context import get_db

bp = Blueprint("auth", __name__, url_prefix="/auth")

BAD_LOGIN = "Wrong email or password."


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        # authenticate() records last_login_at, so it needs a write session.
        with get_db().session() as db_session:
            user = authenticate(db_session, form.email.data or "", form.password.data or "")
            signed_in = SignedInUser.from_model(user) if user else None
        if signed_in is not None:
            # Permanent: the cookie is signed again on every request and refused once
            # PERMANENT_SESSION_LIFETIME (the idle limit) has passed since the last one.
            session.permanent = True
            login_user(signed_in)
            return redirect(_safe_next(request.args.get("next")))
        flash(BAD_LOGIN, "error")
        return render_template("auth/login.html", form=form), 401
    if request.method == "POST":
        flash("Enter your email and password.", "error")
        return render_template("auth/login.html", form=form), 400
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        # Clearing this browser's cookie is not enough: a copy of it would still work.
        with get_db().session() as db_session:
            end_sessions(db_session, current_user.id)
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


def _safe_next(target: str | None) -> str:
    """Only same-site paths, so a crafted link cannot send a user elsewhere after sign-in."""
    default = url_for("admin.dashboard")
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


@bp.app_errorhandler(CSRFError)
def csrf_error(exc: CSRFError):
    return (
        render_template(
            "error.html",
            title="Form expired",
            message="This form was not sent from this site or has expired. Go back, reload the page and try again.",
        ),
        400,
    )
