"""A rule's versions: the history list, two versions side by side, and rollback."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine.audit import user_actor
from engine.rules.edits import RollbackRefused, UnknownVersion, rollback_rule
from engine.rules.history import rule_history, rule_status, version_diff
from engine.rules.versions import UnknownRule
from web.auth.roles import role_required
from web.context import get_db
from web.rules.history_forms import RollbackForm
from web.rules.views import bp


@bp.get("/<rule_id>/versions", endpoint="rule_history")
@role_required("editor")
def rule_history_page(rule_id: str):
    with get_db().read_session() as session:
        try:
            versions = rule_history(session, rule_id)
            status = rule_status(session, rule_id)
        except UnknownRule:
            abort(404, description=_("No applied rule %(id)s; the rules list shows those there are.", id=rule_id))
    return render_template("rules/history.html", rule_id=rule_id, versions=versions, rule=status)


@bp.get("/<rule_id>/versions/<int:old>..<int:new>", endpoint="version_diff")
@role_required("editor")
def version_diff_page(rule_id: str, old: int, new: int):
    return _diff_page(rule_id, old, new, RollbackForm(formdata=None))


@bp.get("/<rule_id>/versions/diff", endpoint="compare_versions")
@role_required("editor")
def version_diff_query(rule_id: str):
    """The compare form's GET (?old=&new=): the same page at its canonical address."""
    old, new = request.args.get("old", type=int), request.args.get("new", type=int)
    if old is None or new is None:
        abort(400, description=_("Choose two versions to compare: old and new must be version numbers."))
    return redirect(url_for("rules.version_diff", rule_id=rule_id, old=old, new=new))


@bp.post("/<rule_id>/versions/<int:version>/rollback")
@role_required("editor")
def rollback_version(rule_id: str, version: int):
    form = RollbackForm()
    active = _active_version(rule_id)
    if not form.validate_on_submit():
        return _diff_page(rule_id, version, active, form, status=422)
    try:
        with get_db().session() as session:
            applied = rollback_rule(session, rule_id, version, actor=user_actor(current_user.email), comment=form.comment.data)
    except UnknownVersion:
        abort(404, description=_("%(id)s has no version %(version)s; the history lists those there are.", id=rule_id, version=version))
    except RollbackRefused as refused:
        return _diff_page(rule_id, version, active, form, status=422, problems=refused.problems)
    if applied.status == "unchanged":
        flash(_("Version %(old)s is already live (version %(version)s); nothing changed.", old=version, version=applied.version), "info")
    else:
        flash(_("Rolled back to version %(old)s: it is live again as version %(version)s.", old=version, version=applied.version), "info")
    return redirect(url_for("rules.rule_history", rule_id=rule_id))


def _active_version(rule_id: str) -> int:
    with get_db().read_session() as session:
        try:
            return rule_status(session, rule_id).version
        except UnknownRule:
            abort(404, description=_("No applied rule %(id)s; the rules list shows those there are.", id=rule_id))


def _diff_page(rule_id: str, old: int, new: int, form: RollbackForm, status: int = 200, problems=()):
    with get_db().read_session() as session:
        try:
            diff = version_diff(session, rule_id, old, new)
        except UnknownRule:
            abort(404, description=_("No applied rule %(id)s; the rules list shows those there are.", id=rule_id))
        except UnknownVersion as missing:
            abort(404, description=str(missing))
    # Rolling back is offered when comparing an older version with the live one.
    can_roll_back = diff.new.active and not diff.old.active and diff.old.version != diff.new.version
    return render_template(
        "rules/diff.html", diff=diff, form=form, can_roll_back=can_roll_back, problems=list(problems)
    ), status
