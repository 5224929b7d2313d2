"""The editor's live check and its plan before saving: both run the engine on the draft, save nothing."""

from __future__ import annotations

from flask import Response, jsonify, redirect, request, url_for
from flask_babel import gettext as _

from engine.jobs.backtests import backtest_status, cancel_backtest, start_backtest
from engine.jobs.queues import RedisNotConfigured
from engine.models import utcnow
from engine.rules import editor_schema
from engine.rules.drafts import check_draft, plan_draft
from engine.rules.problems import Problem
from web.auth.roles import role_required
from web.context import get_db, get_settings
from web.rules.forms import MAX_RULE_CHARS, CancelForm, DraftForm, RuleForm
from web.rules.views import bp
from web.rules.workspace import segments, templates
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
    checked = check_draft(text, rule_id=_rule_arg(), segments=segments(), templates=templates())
    return problems_json(checked.problems)


def problems_json(problems: list[Problem]) -> Response:
    """The checker's problems as the editor's script reads them."""
    return jsonify(problems=[
        {"line": p.line, "column": p.column, "path": p.path, "message": p.message, "suggestion": p.suggestion}
        for p in problems
    ])  # fmt: skip


@bp.get("/schema.json")
@role_required("editor")
def rule_schema():
    """The rule language's JSON Schema (docs/rule.schema.json), for the editor's completion."""
    response = jsonify(editor_schema.build())
    response.cache_control.max_age = 3600
    response.cache_control.private = True
    return response


@bp.post("/plan")
@role_required("editor")
def plan_rule():
    """What saving would do now: the editor page with its plan, or only the plan for the page's script."""
    rule_id = _rule_arg()
    form = RuleForm()
    text = form.text.data or ""
    now = utcnow()
    library = segments()
    with get_db().read_session() as session:
        # The plan answers here (about a second on 100,000 accounts); the backtest, seconds to
        # tens of seconds, runs as a job the page polls (bench/workbench_bench.py).
        drafted = plan_draft(session, text, rule_id=rule_id, segments=library, templates=templates(),
                             now=now, backtest_days=0)  # fmt: skip
    job = None
    if drafted.rule is not None and drafted.backtest_note is None:
        try:
            job_id = start_backtest(get_settings(), text=text, rule_id=rule_id, segments=library, now=now)
            job = backtest_status(get_settings(), job_id)
        except RedisNotConfigured:
            drafted.backtest_note = _("The backtest needs the job queue (TOUCHLINE_REDIS_URL); run touchline plan --backtest 30d instead.")
    return render_page("rules/edit.html", "rules/_plan.html", status=422 if drafted.problems else 200, form=form,
                       rule_id=rule_id, problems=drafted.problems, drafted=drafted, job=job)  # fmt: skip


@bp.get("/backtests/<job_id>")
@role_required("editor")
def show_backtest(job_id: str):
    """The backtest job's progress, or its chart once done; the page's script polls this."""
    job = backtest_status(get_settings(), job_id)
    return render_page("rules/backtest.html", "rules/_backtest.html", status=404 if job.state == "gone" else 200, job=job)


@bp.post("/backtests/<job_id>/cancel")
@role_required("editor")
def cancel_backtest_job(job_id: str):
    if CancelForm().validate_on_submit():  # an empty form: its CSRF token is the point
        cancel_backtest(get_settings(), job_id)
    return redirect(url_for("rules.show_backtest", job_id=job_id))
