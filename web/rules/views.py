"""The rules workbench: list, rule page, editor, save. ``check.py``, ``history.py`` and
``state.py`` add routes to the same ``bp``."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine.audit import user_actor
from engine.models import utcnow
from engine.rules.drafts import check_draft, current_text, with_id
from engine.rules.gallery import gallery, gallery_rule
from engine.rules.overview import rules_overview
from engine.rules.edits import save_rule_text
from web.auth.roles import role_required
from web.context import get_db
from web.rules.forms import RuleForm, TestSendForm
from web.rules.workspace import rules_dir, segments, templates

bp = Blueprint("rules", __name__, url_prefix="/admin/rules")


@bp.get("/")
@role_required("editor")
def list_rules():
    with get_db().read_session() as session:
        rules = rules_overview(session, utcnow())
    return render_template("rules/list.html", rules=rules)


@bp.get("/new")
@role_required("editor")
def new_rule():
    """The gallery; ``?from=<id>`` opens the editor on a copy of that shipped rule."""
    chosen = request.args.get("from")
    if chosen is None:
        return render_template("rules/gallery.html", items=gallery(rules_dir()))
    item = gallery_rule(rules_dir(), chosen)
    if item is None:
        abort(404, description=_("No rule %(id)s in the gallery; choose one from the list.", id=chosen))
    return _editor(RuleForm(text=with_id(item.text, f"{item.rule_id}-copy")), rule_id=None)


@bp.post("/new")
@role_required("editor")
def create_rule():
    return _save(RuleForm(), rule_id=None)


@bp.get("/<rule_id>")
@role_required("editor")
def show_rule(rule_id: str):
    with get_db().read_session() as session:
        summary = next((r for r in rules_overview(session, utcnow()) if r.rule_id == rule_id), None)
        text = current_text(session, rule_id)
    if summary is None or text is None:
        abort(404, description=_("No applied rule %(id)s; the rules list shows those there are.", id=rule_id))
    # History (web/rules/history.py) is another module's; link to it once it is there.
    has_history = "rules.rule_history" in current_app.view_functions
    return render_template("rules/show.html", rule=summary, text=text, test_form=TestSendForm(), has_history=has_history)


@bp.get("/<rule_id>/edit")
@role_required("editor")
def edit_rule(rule_id: str):
    return _editor(RuleForm(text=_text_of(rule_id)), rule_id=rule_id)


@bp.post("/<rule_id>/edit")
@role_required("editor")
def save_rule(rule_id: str):
    _text_of(rule_id)  # 404 for a rule never applied
    return _save(RuleForm(), rule_id=rule_id)


@bp.get("/<rule_id>/duplicate")
@role_required("editor")
def duplicate_rule(rule_id: str):
    return _editor(RuleForm(text=with_id(_text_of(rule_id), f"{rule_id}-copy")), rule_id=None)


def _text_of(rule_id: str) -> str:
    with get_db().read_session() as session:
        text = current_text(session, rule_id)
    if text is None:
        abort(404, description=_("No applied rule %(id)s; the rules list shows those there are.", id=rule_id))
    return text


def _editor(form: RuleForm, *, rule_id: str | None, problems=(), status: int = 200, **ctx):
    return render_template("rules/edit.html", form=form, rule_id=rule_id, problems=list(problems), **ctx), status


def _save(form: RuleForm, *, rule_id: str | None):
    """Save = a new version through the same code as ``touchline apply``; problems re-render with 422."""
    text = form.text.data or ""
    if not form.validate_on_submit():
        checked = check_draft(text, rule_id=rule_id, segments=segments(), templates=templates())
        return _editor(form, rule_id=rule_id, problems=checked.problems, status=422)
    library = segments()
    with get_db().session() as session:
        outcome = save_rule_text(session, text, rule_id=rule_id, actor=user_actor(current_user.email),
                                 comment=form.comment.data.strip(), segments=library, templates=templates())  # fmt: skip
    if outcome.problems:
        return _editor(form, rule_id=rule_id, problems=outcome.problems, status=422)
    applied = outcome.applied
    if applied.status == "unchanged":
        flash(_("Nothing to save: %(id)s is the same as version %(version)s.", id=applied.rule_id, version=applied.version), "info")
    else:
        flash(_("Saved %(id)s as version %(version)s.", id=applied.rule_id, version=applied.version), "info")
    return redirect(url_for("rules.show_rule", rule_id=applied.rule_id))
