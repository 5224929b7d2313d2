"""Campaign results: every rule with a goal against its holdout, and one rule's funnel, daily
verdict, fixed-horizon numbers and variants. engine.results.report does every query and
statistic, as for ``touchline results``; the views only read the request and render."""

from __future__ import annotations

import math

from flask import Blueprint, render_template, request
from flask_babel import gettext as _

from engine.results.report import DEFAULT_DETECT, rule_results
from engine.rules.versions import active_rules
from web.auth.roles import role_required
from web.context import get_db, get_settings
from web.results import words
from web.results.summary import current_program, current_results

bp = Blueprint("results", __name__, url_prefix="/admin/results")


@bp.context_processor
def _words():
    return {"w": words}


@bp.get("/")
@role_required("viewer")
def list_results():
    with get_db().read_session() as session:
        found = current_results(session)  # every rule's, as of the last outcomes pass
        goals = _has_goal(session) if any(r.goal is None for r in found) else {}
        program = current_program(session, get_settings().policy_file)  # kept for the day
    measured = [r for r in found if r.goal is not None]
    unmeasured = [(r, words.no_goal_reason(goals.get(r.rule_id, False))) for r in found if r.goal is None]
    return render_template("results/list.html", measured=measured, unmeasured=unmeasured, program=program)


@bp.get("/<rule_id>")
@role_required("viewer")
def show_rule(rule_id: str):
    raw_detect = request.args.get("detect", "").strip()
    detect, detect_error = parse_detect(raw_detect)
    variant = request.args.get("variant") or None
    variant_error = None
    with get_db().read_session() as session:
        try:
            r = rule_results(session, rule_id, detect=detect, variant=variant)
        except LookupError:
            return render_template("results/not_found.html", rule_id=rule_id), 404
        except ValueError:
            if variant is None:
                raise
            r = rule_results(session, rule_id, detect=detect)  # every variant, to name them
            variant_error, variant = _unknown_variant(variant, [v.name for v in r.variants]), None
        reason = words.no_goal_reason(_has_goal(session).get(rule_id, False)) if r.goal is None else None
    shown = r.variants[0] if variant else r.overall
    status = 400 if detect_error or variant_error else 200
    return render_template("results/show.html", r=r, shown=shown, variant=variant, raw_detect=raw_detect,
                           detect_error=detect_error, variant_error=variant_error, reason=reason), status  # fmt: skip


def parse_detect(raw: str) -> tuple[float, str | None]:
    """``?detect=`` in percentage points (3: plan for +3 points) as a fraction, or the default
    and what is wrong with it (the same bounds as ``touchline results --detect``)."""
    if not raw:
        return DEFAULT_DETECT, None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value < 100):
        return DEFAULT_DETECT, _("%(value)s is not an uplift in points: give a number above 0 and below 100, "
                                 "such as 3 for +3 points.", value=raw[:20])  # fmt: skip
    return value / 100, None


def _unknown_variant(name: str, names: list[str]) -> str:
    if not names:
        return _("This rule tests no variants, so there is no variant %(name)s; its results are shown for every "
                 "treated account.", name=name[:100])  # fmt: skip
    return _("This rule has no variant %(name)s. Its variants are %(names)s; every treated account is shown.",
             name=name[:100], names=", ".join(names))  # fmt: skip


def _has_goal(session) -> dict[str, bool]:
    """Whether each applied rule's active version has a goal (to say why one has no results)."""
    return {state.rule_id: rule.goal is not None for state, _version, rule in active_rules(session, include_paused=True)}
