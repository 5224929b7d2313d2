"""The editor's live check and its plan before saving: both run the engine on the draft, save nothing."""

from __future__ import annotations

from flask import jsonify, request
from flask_babel import gettext as _

from engine.models import utcnow
from engine.rules.drafts import check_draft, plan_draft
from web.auth.roles import role_required
from web.context import get_db
from web.rules.forms import MAX_RULE_CHARS, DraftForm, RuleForm
from web.rules.views import bp
from web.rules.workspace import segment_dir, templates
from web.templating import render_page


def _rule_arg() -> str | None:
    """The rule being edited (its id must stay), or None for a new rule."""
    return request.args.get("rule") or None


@bp.post("/check")
@role_required("editor")
def check_rule():
    """The same validator as ``touchline rules check``; always 200, the problems are the answer."""
    text = DraftForm().text.data or ""
    if len(text) > MAX_RULE_CHARS:
        message = _("The rule is %(n)s characters long; the most is %(max)s.", n=len(text), max=MAX_RULE_CHARS)
        return jsonify(problems=[{"line": 1, "column": 1, "path": "", "message": message, "suggestion": None}])
    checked = check_draft(text, rule_id=_rule_arg(), segment_dir=segment_dir(), templates=templates())
    return jsonify(problems=[
        {"line": p.line, "column": p.column, "path": p.path, "message": p.message, "suggestion": p.suggestion}
        for p in checked.problems
    ])  # fmt: skip


@bp.post("/plan")
@role_required("editor")
def plan_rule():
    """What saving would do now: the editor page with its plan, or only the plan for the page's script."""
    rule_id = _rule_arg()
    form = RuleForm()
    text = form.text.data or ""
    with get_db().read_session() as session:
        drafted = plan_draft(session, text, rule_id=rule_id, segment_dir=segment_dir(), templates=templates(), now=utcnow())
    status = 422 if drafted.problems else 200
    return render_page("rules/edit.html", "rules/_plan.html", form=form, rule_id=rule_id, problems=drafted.problems,
                       drafted=drafted), status  # fmt: skip
