"""Segments in the workbench: the list, the editor with its live check and plan, and save.

Everything calls engine.rules.live_segments: a segment is saved as new versions
of the live rules that use it, so the list says which rules those are.
"""

from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine.audit import user_actor
from engine.models import utcnow
from engine.rules import editor_schema
from engine.rules.live_segments import UnknownSegment, check_segment, live_segments, plan_segment, save_segment_text
from web.auth.roles import role_required
from web.context import get_db
from web.rules.check import problems_json
from web.rules.forms import MAX_RULE_CHARS, DraftForm, SegmentForm
from web.rules.views import bp
from web.rules.workspace import segment_dir
from web.templating import render_page


@bp.get("/segments/")
@role_required("editor")
def list_segments():
    with get_db().read_session() as session:
        segments = list(live_segments(session, segment_dir()).values())
    return render_template("rules/segments.html", segments=segments)


@bp.get("/segments/schema.json")
@role_required("editor")
def segment_schema():
    """A segment file's keys and the rule language's conditions, for the editor's completion."""
    schema = editor_schema.build()
    keys = {k: schema["properties"][k] for k in ("id", "description", "when") if k in schema["properties"]}
    response = jsonify({"properties": keys, "$defs": schema["$defs"]})
    response.cache_control.max_age = 3600
    response.cache_control.private = True
    return response


@bp.get("/segments/<name>")
@role_required("editor")
def edit_segment(name: str):
    segment = _segment(name)
    return _editor(SegmentForm(text=segment.text), segment)


@bp.post("/segments/<name>")
@role_required("editor")
def save_segment(name: str):
    segment = _segment(name)
    form = SegmentForm()
    text = form.text.data or ""
    if not form.validate_on_submit():
        with get_db().read_session() as session:
            checked = check_segment(session, name, text, segment_dir())
        return _editor(form, segment, problems=checked.problems, status=422)
    with get_db().session() as session:
        saved = save_segment_text(session, name, text, actor=user_actor(current_user.email),
                                  comment=form.comment.data.strip(), folder=segment_dir())  # fmt: skip
    if saved.problems:
        return _editor(form, segment, problems=saved.problems, status=422)
    if saved.changed:
        versions = ", ".join(f"{a.rule_id} v{a.version}" for a in saved.changed)
        flash(_("Saved segment %(name)s: new versions of %(versions)s.", name=name, versions=versions), "info")
    else:
        flash(_("Nothing to save: every rule already carries this text of %(name)s.", name=name), "info")
    return redirect(url_for("rules.edit_segment", name=name))


@bp.post("/segments/<name>/check")
@role_required("editor")
def check_segment_draft(name: str):
    """The segment checked with every live rule that uses it; always 200, the problems are the answer."""
    _segment(name)
    text = DraftForm().text.data or ""
    if len(text) > MAX_RULE_CHARS:
        message = _("The segment is %(n)s characters long; the most is %(max)s.", n=len(text), max=MAX_RULE_CHARS)
        return jsonify(problems=[{"line": 1, "column": 1, "path": "", "message": message, "suggestion": None}])
    with get_db().read_session() as session:
        checked = check_segment(session, name, text, segment_dir())
    return problems_json(checked.problems)


@bp.post("/segments/<name>/plan")
@role_required("editor")
def plan_segment_draft(name: str):
    """What saving would do now to each rule that uses the segment: the page, or only the plan for its script."""
    segment = _segment(name)
    form = SegmentForm()
    with get_db().read_session() as session:
        draft, plans = plan_segment(session, name, form.text.data or "", segment_dir(), utcnow())
    return render_page("rules/segment_edit.html", "rules/_segment_plan.html", status=422 if draft.problems else 200,
                       form=form, segment=segment, problems=draft.problems, draft=draft, plans=plans)  # fmt: skip


def _segment(name: str):
    with get_db().read_session() as session:
        segment = live_segments(session, segment_dir()).get(name)
    if segment is None:
        abort(404, description=_("No segment %(name)s; the segments list shows those there are.", name=name))
    return segment


def _editor(form: SegmentForm, segment, *, problems=(), status: int = 200):
    return render_template("rules/segment_edit.html", form=form, segment=segment, problems=list(problems)), status
