"""``GET /api/v1/results`` and ``GET /api/v1/results/<rule_id>``: campaign results against the
holdout, as ``touchline results --json`` prints them (``RuleResults.as_dict()``). The list is
the one the admin's results page shows, computed once per outcomes pass
(web/results/summary.py); one rule's results are computed for each request."""

from __future__ import annotations

import math

from flask import jsonify, request

from engine.results.report import DEFAULT_DETECT, rule_results
from web.api import bp
from web.api.errors import ApiError
from web.context import get_db
from web.results.summary import current_results


@bp.get("/results")
def list_results():
    with get_db().read_session() as session:
        found = current_results(session)
    return jsonify(results=[r.as_dict() for r in found])


@bp.get("/results/<rule_id>")
def show_results(rule_id: str):
    detect = _detect(request.args.get("detect"))
    variant = request.args.get("variant") or None
    with get_db().read_session() as session:
        try:
            found = rule_results(session, rule_id, detect=detect, variant=variant)
        except LookupError as exc:
            raise ApiError(404, "unknown_rule", str(exc)) from None
        except ValueError as exc:
            if variant is None:
                raise
            raise ApiError(400, "unknown_variant", str(exc)) from None
    return jsonify(found.as_dict())


def _detect(raw: str | None) -> float:
    """``?detect=`` in percentage points (3: plan for +3 points), as ``touchline results --detect``."""
    if raw is None or not raw.strip():
        return DEFAULT_DETECT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and 0 < value < 100):
        raise ApiError(400, "invalid_parameter", f"detect={raw[:40]!r}: give the uplift to plan for in percentage "
                                                 "points, a number above 0 and below 100 (e.g. 3 for +3 points)")  # fmt: skip
    return value / 100
