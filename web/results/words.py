"""Results in the reader's language: numbers formatted, and the engine's sentences.

engine.results writes its verdicts and plans in English (the CLI and the API print them as
they are). In English the page shows those sentences unchanged; in another language it says
the same from the fields they were made of, so that a page read in Japanese is Japanese
throughout. The warnings (sample ratio, drift, harm) are always said from their fields. Nothing
here computes a statistic: every figure comes from the engine's result.
"""

from __future__ import annotations

import math
from datetime import date

from babel.dates import format_skeleton
from flask_babel import format_percent, get_locale
from flask_babel import gettext as _
from flask_babel import ngettext

from engine.results.report import ArmResult, RuleResults
from engine.results.stats import BETTER, MIN_UNITS, NO_EVIDENCE, NOT_ENOUGH, WORSE, points
from web.templating import current_locale, num

NO_GOAL = "no_goal"


def verdict_label(code: str) -> str:
    """The verdict code as its badge says it."""
    return {
        BETTER: _("Better"), WORSE: _("Worse"), NO_EVIDENCE: _("No evidence yet"),
        NOT_ENOUGH: _("Not enough data"), NO_GOAL: _("No goal"),
    }.get(code, code)  # fmt: skip


def pct(value: float | None) -> str:
    """A rate as a percentage with one decimal and the reader's separators: 12.5%."""
    if value is None or not math.isfinite(value):
        return "—"
    return format_percent(value, "#,##0.0%")


def pts(*values: float | None) -> tuple[str, ...]:
    """Differences as signed percentage points, as the engine writes them (+4.2, -0.05)."""
    if any(v is None or not math.isfinite(v) for v in values):
        return tuple("—" for _v in values)
    return points(*values)


def points_text(value: float | None) -> str:
    """A difference as "+4.2 points", or a dash."""
    if value is None or not math.isfinite(value):
        return "—"
    return _("%(points)s points", points=pts(value)[0])


def interval(low: float | None, high: float | None) -> str:
    """An interval of differences in points: "+1.2 to +4.8"."""
    if low is None or high is None:
        return "—"
    lo, hi = pts(low, high)
    return _("%(low)s to %(high)s", low=lo, high=hi)


def rel_interval(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "—"
    return _("%(low)s to %(high)s", low=signed_pct(low), high=signed_pct(high))


def signed_pct(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return ("+" if value > 0 else "") + pct(value)


def p_text(p: float | None) -> str:
    if p is None:
        return "—"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}"


def level(alpha: float) -> str:
    return f"{(1 - alpha) * 100:g}%"


def day_label(day: date) -> str:
    """A day on a chart's axis: Nov 16, 11月16日."""
    return format_skeleton("MMMd", day, locale=str(get_locale() or "en"))


def chart_rows(r: RuleResults, arm: ArmResult) -> list[tuple]:
    """(day, treated rate, control rate, interval low, interval high) per day, for the chart."""
    return [(day_label(day), *point) for day, point in zip(r.days, arm.sequential.series)]


def verdict_text(r: RuleResults, arm: ArmResult) -> str:
    """The daily verdict in words, with the accounts still needed when there is no winner: the
    engine's ``headline`` (``arm`` is the treated group the page shows: every treated account,
    or the one variant asked for)."""
    if _english():
        return r.headline
    seq = arm.sequential
    if seq.code == NOT_ENOUGH:
        if not r.days:
            text = _("Not enough data yet: no days measured.")
        else:
            text = _(
                "Not enough data yet: at least %(min)s accounts in each arm and one conversion are needed "
                "(treated %(tx)s of %(tn)s, control %(cx)s of %(cn)s).",
                min=MIN_UNITS, tx=num(arm.converted), tn=num(arm.units), cx=num(r.control_converted),
                cn=num(r.control_units),
            )  # fmt: skip
    else:
        d, lo, hi = pts(seq.uplift_abs, seq.low, seq.high)
        values = dict(points=d, low=lo, high=hi, level=level(seq.alpha), p=p_text(seq.p_value), day=seq.decided_on_day)
        if seq.code == BETTER:
            text = _("Treated accounts convert more than control: %(points)s points (always-valid %(level)s interval "
                     "%(low)s to %(high)s, %(p)s); decided on day %(day)s.", **values)  # fmt: skip
        elif seq.code == WORSE:
            text = _("Treated accounts convert less than control: %(points)s points (always-valid %(level)s interval "
                     "%(low)s to %(high)s, %(p)s); decided on day %(day)s.", **values)  # fmt: skip
        else:
            text = _("No evidence of a difference yet: %(points)s points (always-valid %(level)s interval "
                     "%(low)s to %(high)s, %(p)s).", **values)  # fmt: skip
        if seq.drift:
            text += " " + _("Careful: the difference has moved over the days, and this verdict assumes it does not.")
    if seq.code not in (BETTER, WORSE) and arm.more is not None and arm.more.treated + arm.more.control:
        text += " " + more_text(arm)
    return text


def more_text(arm: ArmResult) -> str:
    """How many more accounts the comparison needs to detect the planned uplift (``more.text``)."""
    more = arm.more
    if more is None:
        return ""
    if _english():
        return more.text
    (target,) = pts(more.uplift_abs)
    if not (more.treated or more.control):
        return _("Enough accounts to detect %(points)s points.", points=target)
    if more.treated == more.control:
        return _("About %(count)s more accounts per arm are needed to detect %(points)s points.",
                 count=num(more.treated), points=target)  # fmt: skip
    return _("About %(count)s more accounts are needed to detect %(points)s points (%(treated)s treated, "
             "%(control)s control).", count=num(more.treated + more.control), points=target,
             treated=num(more.treated), control=num(more.control))  # fmt: skip


def harm_reasons(r: RuleResults) -> list[str]:
    """Why the play is flagged as hurting (``harm.reasons``, one per kind)."""
    if r.harm is None:
        return []
    if _english() or r.overall is None:
        return list(r.harm.reasons)
    out = []
    for kind, reason in zip(r.harm.kinds, r.harm.reasons):
        seq, u = r.overall.sequential, r.unsubscribes
        if kind == "conversion":
            d, lo, hi = pts(seq.uplift_abs, seq.low, seq.high)
            out.append(_("Treated accounts convert less than control: %(points)s points (always-valid %(level)s "
                         "interval %(low)s to %(high)s, %(p)s).", points=d, low=lo, high=hi, level=level(seq.alpha),
                         p=p_text(seq.p_value)))  # fmt: skip
        elif kind == "unsubscribes" and u is not None:
            out.append(_("Treated accounts unsubscribe far more than control: %(treated)s against %(control)s (%(p)s).",
                         treated=pct(u.treated_rate), control=pct(u.control_rate), p=p_text(u.p_value)))  # fmt: skip
        else:
            out.append(reason)
    return out


def srm_text(r: RuleResults) -> str | None:
    """The sample-ratio warning, when the accounts are not split as the rule asks."""
    srm = r.srm
    if srm is None or not srm.mismatch:
        return None
    got = ", ".join(f"{arm_label(k)} {num(v)}" for k, v in sorted(srm.observed.items()))
    want = ", ".join(f"{arm_label(k)} {num(round(v))}" for k, v in sorted(srm.expected.items()))
    p = f"{srm.p_value:.2g}" if srm.p_value is not None else "—"
    return _("Sample ratio mismatch (p = %(p)s): the accounts split as %(got)s, where the rule asks for about "
             "%(want)s. Something other than the draw decides who is in which arm; the comparison may be biased "
             "until that is found.", p=p, got=got, want=want)  # fmt: skip


def drift_text(r: RuleResults) -> str | None:
    if r.overall is None or not r.overall.sequential.drift:
        return None
    return _("The difference has moved over the days (a novelty effect?): the daily verdict assumes it does not.")


def no_goal_reason(has_goal: bool) -> str:
    """Why a rule has no results: it has no goal, or its goal is not measured yet."""
    if has_goal:
        return _("Not measured yet: the outcomes pass has not read this version.")
    return _("The rule has no goal: add one (goal: {event: ..., within: ...}) to measure it.")


def arm_label(name: str | None) -> str:
    if name in (None, "treated"):
        return _("treated")
    if name == "control":
        return _("control")
    return name


def versions_text(versions: tuple[int, ...]) -> str:
    listed = ", ".join(str(v) for v in versions)
    return ngettext("version %(list)s", "versions %(list)s", len(versions), list=listed)


def _english() -> bool:
    return current_locale() == "en"
