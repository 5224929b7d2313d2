"""Pause and resume a rule, with a reason; the forms also sit on the rule page (_state_form.html)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine.audit import user_actor
from engine.rules.history import rule_status
from engine.rules.versions import UnknownRule, pause_rule, resume_rule
from web.auth.roles import role_required
from web.context import get_db
from web.rules.history_forms import PauseForm, ResumeForm
from web.rules.views import bp


@bp.context_processor
def state_forms() -> dict:
    # Unbound (formdata=None): a page re-rendered after another form's POST must not show its data.
    return {"pause_form": PauseForm(formdata=None), "resume_form": ResumeForm(formdata=None)}


@bp.get("/<rule_id>/state", endpoint="rule_state")
@role_required("editor")
def state_page(rule_id: str):
    return _state_page(rule_id, PauseForm(formdata=None))


@bp.post("/<rule_id>/pause", endpoint="pause_rule")
@role_required("editor")
def pause(rule_id: str):
    form = PauseForm()
    if not form.validate_on_submit():
        return _state_page(rule_id, form, status=422)
    try:
        with get_db().session() as session:
            pause_rule(session, rule_id, form.reason.data, actor=user_actor(current_user.email))
    except UnknownRule:
        abort(404, description=_("No applied rule %(id)s; the rules list shows those there are.", id=rule_id))
    flash(_("Paused %(id)s: it is not evaluated until it is resumed.", id=rule_id), "info")
    return redirect(url_for("rules.show_rule", rule_id=rule_id))


@bp.post("/<rule_id>/resume", endpoint="resume_rule")
@role_required("editor")
def resume(rule_id: str):
    if not ResumeForm().validate_on_submit():
        abort(400, description=_("The form expired; reload the page and resume again."))
    try:
        with get_db().session() as session:
            resume_rule(session, rule_id, actor=user_actor(current_user.email))
    except UnknownRule:
        abort(404, description=_("No applied rule %(id)s; the rules list shows those there are.", id=rule_id))
    flash(_("Resumed %(id)s: the next cycle evaluates it.", id=rule_id), "info")
    return redirect(url_for("rules.show_rule", rule_id=rule_id))


def _state_page(rule_id: str, form: PauseForm, status: int = 200):
    with get_db().read_session() as session:
        try:
            rule = rule_status(session, rule_id)
        except UnknownRule:
            abort(404, description=_("No applied rule %(id)s; the rules list shows those there are.", id=rule_id))
    return render_template("rules/state.html", rule=rule, pause_form=form), status
