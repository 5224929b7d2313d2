"""One rule's results against its holdout: the funnel, conversion per arm and variant, the daily
(always-valid) verdict with the fixed-horizon numbers beside it, the accounts still needed,
the sample-ratio check and the harm flag. What the CLI, the API and the admin show.

**Which outcomes.** Those measured with the goal of the rule's active version: a version
whose goal is the same (``outcome_goals``: the same kind, event or condition, and window)
adds its outcomes, one with another goal does not. So a changed goal never silently mixes
into the figures; they say which versions they read (``GoalUsed``), and how many units
were measured against other goals and left out.

**Variants.** Each variant is compared with the whole control group; with k variants each
verdict uses alpha / k (Bonferroni), so that testing several copies at once does not
multiply the false winners. The ``overall`` row is every treated account against control.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from engine.models import GoalOutcome, OutcomeGoal, RuleState, RuleVersion
from engine.results.counts import CONTROL, UnitDay, as_date, cumulative, units
from engine.results.outcomes import aware
from engine.results.funnel import Fired, Funnel, funnel
from engine.results.power import MoreNeeded, more_needed
from engine.results.sequential import SequentialResult, sequential_verdict
from engine.results.srm import SRM, sample_ratio_mismatch
from engine.results.goals import condition_text, window_days
from engine.results.stats import BETTER, WORSE, Comparison, compare
from engine.rules.schema import Goal, Rule
from engine.rules.variants import tested_action
from engine.rules.versions import validate_content

ALPHA = 0.05
# The uplift that "N more accounts needed" plans for, unless asked for another.
DEFAULT_DETECT = 0.05
# The daily series (and the sequential verdict) reads at most this many days back.
MAX_DAYS = 400
# Unsubscribes: flagged when treated accounts unsubscribe more than control at this level, at
# least this many times as often.
UNSUBSCRIBE_ALPHA = 0.01
UNSUBSCRIBE_RATIO = 2.0

OG = OutcomeGoal.__table__
O = GoalOutcome.__table__
# What makes two versions' goals the same: every column of outcome_goals but these.
_NOT_THE_GOAL = {"rule_version_id", "rule_id", "read_at", "goal_version_id", "recomputed_at"}


@dataclass(frozen=True)
class GoalUsed:
    text: str  # "login within 7 days"
    active_version: int
    versions: tuple[int, ...]  # the version numbers whose outcomes are read
    other_goal_units: int  # outcomes of the rule measured against another goal: left out
    recomputed_at: datetime | None = None  # earlier versions measured again with this goal (a recompute)


@dataclass(frozen=True)
class ArmResult:
    """One treated group (every treated account, or one variant's) against the control group."""

    name: str | None  # None: every treated account; else the variant's name
    funnel: Funnel
    units: int  # accounts whose window has ended
    converted: int
    open: int  # accounts exposed, still in their window
    alpha: float
    sequential: SequentialResult  # the daily verdict: safe to read every day
    fixed: Comparison  # the fixed-horizon numbers, for a campaign read once at its end
    more: MoreNeeded | None  # accounts still needed to detect the planned uplift


@dataclass(frozen=True)
class Harm:
    kinds: tuple[str, ...]  # conversion | unsubscribes (engine.models.result_flag.FLAG_KINDS)
    reasons: tuple[str, ...]  # the same, in words


@dataclass(frozen=True)
class RuleResults:
    rule_id: str
    name: str
    owner: str | None
    category: str
    holdout: float  # the active version's percent
    paused: bool
    goal: GoalUsed | None  # None: the active version has no goal (nothing to measure)
    measured_until: datetime | None  # the last outcomes pass
    fired: Fired
    control: Funnel
    control_units: int
    control_converted: int
    control_open: int
    overall: ArmResult | None
    variants: tuple[ArmResult, ...]
    srm: SRM | None  # None without a split to check (no holdout and no variants)
    unsubscribes: Comparison | None
    harm: Harm | None
    code: str  # the daily verdict's code: better | worse | no_evidence | not_enough_data | no_goal
    headline: str  # the verdict in words, with what it still needs
    days: tuple[date, ...] = ()  # the days of each ArmResult.sequential.series
    detect: float = DEFAULT_DETECT
    notes: tuple[str, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return plain(asdict(self))


def rule_results(session: Session, rule_id: str, *, detect: float = DEFAULT_DETECT, alpha: float = ALPHA,
                 variant: str | None = None) -> RuleResults:  # fmt: skip
    """The results of one rule (raises LookupError for a rule never applied). ``variant``: only
    that variant's row (ValueError when the rule has no such variant)."""
    state = session.get(RuleState, rule_id)
    if state is None:
        raise LookupError(f"no rule {rule_id!r}: apply it first (touchline apply)")
    active = session.get(RuleVersion, state.active_version_id)
    rule = _rule_of(active)
    names = _variant_names(rule)
    if variant is not None and variant not in names:
        known = ", ".join(names) if names else "none: the rule has no variants"
        raise ValueError(f"rule {rule_id} has no variant {variant!r} (its variants: {known})")
    base = dict(rule_id=rule_id, name=rule.name if rule else rule_id, owner=rule.owner if rule else None,
                category=rule.category if rule else "", holdout=rule.holdout if rule else 0.0,
                paused=state.paused, detect=detect)  # fmt: skip
    goal = rule.goal if rule else None
    version_ids = _same_goal_versions(session, active.id) if goal else None
    if not goal or not version_ids:
        if rule is None:
            text = (f"Version {active.version} of the rule no longer passes the checker "
                    f"(touchline rules check), so its goal cannot be read.")  # fmt: skip
        elif not goal:
            text = "The rule has no goal: add one (goal: {event: ..., within: ...}) to measure it."
        else:
            text = "Not measured yet: the outcomes pass has not read this version."
        return RuleResults(**base, goal=None, measured_until=None, fired=Fired(), control=Funnel(CONTROL),
                           control_units=0, control_converted=0, control_open=0, overall=None, variants=(),
                           srm=None, unsubscribes=None, harm=None, code="no_goal", headline=text)  # fmt: skip

    numbers = dict(session.execute(select(RuleVersion.id, RuleVersion.version).where(RuleVersion.id.in_(version_ids))).all())
    others = session.scalar(select(func.count()).where(O.c.rule_id == rule_id, O.c.rule_version_id.not_in(version_ids)))
    recomputed = aware(session.scalar(select(func.max(OG.c.recomputed_at)).where(OG.c.rule_version_id.in_(version_ids))))
    used = GoalUsed(goal_text(goal), active.version, tuple(sorted(numbers.values())), others or 0, recomputed)

    found = units(session, rule_id, version_ids=version_ids)
    fired, funnels = funnel(session, rule_id, version_ids, window_days=window_days(goal))
    control = funnels.get(CONTROL, Funnel(CONTROL))
    days = _days(found.settled, found.until)
    totals = _totals(found.settled)
    c_n, c_x = totals.get(CONTROL, (0, 0))

    def arm(name: str | None, arm_alpha: float, members: list[str | None]) -> ArmResult:
        n = sum(totals.get(m, (0, 0))[0] for m in members)
        x = sum(totals.get(m, (0, 0))[1] for m in members)
        daily = cumulative(found.settled, found.until, len(days), variant=name)
        fixed = compare(n, x, c_n, c_x, alpha=arm_alpha)
        return ArmResult(
            name=name, funnel=_sum_funnels(name, [funnels[m] for m in members if m in funnels]), units=n,
            converted=x, open=sum(found.open.get(m, 0) for m in members), alpha=arm_alpha,
            sequential=sequential_verdict(daily, alpha=arm_alpha), fixed=fixed, more=_more(fixed, detect),
        )  # fmt: skip

    treated_keys = names or [None]
    overall = arm(None, alpha, treated_keys)
    per_variant = tuple(arm(v, alpha / len(names), [v]) for v in names if variant in (None, v))
    shown = per_variant[0] if variant is not None else overall

    srm = _srm(session, rule, rule_id, version_ids, active, funnels, goal)
    unsub = _unsubscribes(overall.funnel, control)
    harm = _harm(overall, unsub)
    notes = []
    if srm is not None and srm.mismatch:
        notes.append(_srm_text(srm))
    if overall.sequential.drift:
        notes.append("The difference has moved over the days (a novelty effect?): the daily verdict assumes it does not.")
    return RuleResults(**base, goal=used, measured_until=found.until, fired=fired, control=control, control_units=c_n,
                       control_converted=c_x, control_open=found.open.get(CONTROL, 0), overall=overall,
                       variants=per_variant, srm=srm, unsubscribes=unsub, harm=harm, code=shown.sequential.code,
                       headline=_headline(shown), days=days, notes=tuple(notes))  # fmt: skip


def all_results(session: Session, *, detect: float = DEFAULT_DETECT, alpha: float = ALPHA) -> list[RuleResults]:
    """Every applied rule's results, in rule id order (rules without a goal say so)."""
    ids = session.scalars(select(RuleState.rule_id).order_by(RuleState.rule_id)).all()
    return [rule_results(session, rule_id, detect=detect, alpha=alpha) for rule_id in ids]


ROW_FIELDS = (
    "rule_id", "arm", "goal", "treated_units", "treated_converted", "treated_rate", "control_units",
    "control_converted", "control_rate", "uplift_abs", "always_valid_low", "always_valid_high", "always_valid_p",
    "verdict", "fixed_low", "fixed_high", "fixed_p", "fixed_test", "alpha", "open_units", "harm", "sample_ratio_mismatch",
)  # fmt: skip


def flat_rows(r: RuleResults) -> list[dict[str, Any]]:
    """One row per treated group (``all``, then each variant): what a CSV export holds."""
    out = []
    for a in ([r.overall] if r.overall else []) + [v for v in r.variants]:
        seq, fixed = a.sequential, a.fixed
        out.append({
            "rule_id": r.rule_id, "arm": a.name or "all", "goal": r.goal.text if r.goal else "",
            "treated_units": a.units, "treated_converted": a.converted, "treated_rate": fixed.treated_rate,
            "control_units": r.control_units, "control_converted": r.control_converted,
            "control_rate": fixed.control_rate, "uplift_abs": fixed.uplift_abs, "always_valid_low": seq.low,
            "always_valid_high": seq.high, "always_valid_p": seq.p_value, "verdict": seq.code,
            "fixed_low": fixed.uplift_abs_low, "fixed_high": fixed.uplift_abs_high, "fixed_p": fixed.p_value,
            "fixed_test": fixed.test, "alpha": a.alpha, "open_units": a.open + r.control_open,
            "harm": r.harm is not None, "sample_ratio_mismatch": bool(r.srm and r.srm.mismatch),
        })  # fmt: skip
    return out


def goal_text(goal: Goal) -> str:
    """The goal in words: "login within 7 days", "leaves the segment within 14 days"."""
    within = f"within {goal.within} day{'s' if goal.within != 1 else ''}"
    if goal.condition is not None:
        return f"{condition_text(goal.condition)} {within}"
    if goal.leaves_segment:
        return f"leaves the segment {within}"
    return f"{goal.event} {within}"


def _rule_of(version: RuleVersion) -> Rule | None:
    return validate_content(version.content, f"{version.rule_id}.yaml (version {version.version})", version.rule_id).rule


def _variant_names(rule: Rule | None) -> list[str]:
    tested = tested_action(rule.actions) if rule else None
    return [v.name for v in tested[1]] if tested else []


def _same_goal_versions(session: Session, active_id: int) -> list[int]:
    """The rule's versions measured with the same goal as the active one (empty before the pass read it)."""
    goal_columns = [c for c in OG.c if c.name not in _NOT_THE_GOAL]
    mine = session.execute(select(OG.c.rule_id, *goal_columns).where(OG.c.rule_version_id == active_id)).first()
    if mine is None:
        return []
    same = [c.is_(mine[i + 1]) if mine[i + 1] is None else c == mine[i + 1] for i, c in enumerate(goal_columns)]
    return list(session.scalars(select(OG.c.rule_version_id).where(OG.c.rule_id == mine[0], *same)))


def _days(settled: list[UnitDay], until: datetime | None) -> tuple[date, ...]:
    if until is None:
        return ()
    last = until.date()
    first = min((as_date(u.day) for u in settled), default=last)
    first = max(first, last - timedelta(days=MAX_DAYS - 1))
    return tuple(first + timedelta(days=k) for k in range((last - first).days + 1))


def _totals(settled: list[UnitDay]) -> dict[str | None, tuple[int, int]]:
    out: dict[str | None, tuple[int, int]] = {}
    for u in settled:
        n, x = out.get(u.arm, (0, 0))
        out[u.arm] = (n + u.units, x + u.converted)
    return out


def _sum_funnels(name: str | None, parts: list[Funnel]) -> Funnel:
    counts = {k: sum(getattr(f, k) for f in parts) for k in Funnel.__dataclass_fields__ if k != "arm"}
    return Funnel(name, **counts)


def _more(fixed: Comparison, detect: float) -> MoreNeeded | None:
    if fixed.control_rate is None or not 0 <= fixed.control_rate + detect <= 1:
        return None
    try:
        return more_needed(fixed, detect)
    except ValueError:  # both rates at 0 or 1: nothing to plan with
        return None


def _srm(session: Session, rule: Rule | None, rule_id: str, version_ids: list[int], active: RuleVersion,
         funnels: dict[str | None, Funnel], goal: Goal) -> SRM | None:  # fmt: skip
    """The split as drawn against the split asked for, over the versions that asked for the
    active version's split (another holdout or other weights draw another split)."""
    weights = _split(rule)
    if weights is None:
        return None
    same = [vid for vid in version_ids if vid == active.id or _split(_rule_of(session.get(RuleVersion, vid))) == weights]
    if set(same) != set(version_ids):
        _, funnels = funnel(session, rule_id, same, window_days=window_days(goal))
    observed = {arm or "treated": funnels[arm].assigned if arm in funnels else 0 for arm in weights}
    return sample_ratio_mismatch(observed, {k or "treated": w for k, w in weights.items()})


def _split(rule: Rule | None) -> dict[str | None, float] | None:
    if rule is None:
        return None
    names = _variant_names(rule)
    if not rule.holdout and len(names) < 2:
        return None
    treated = 1 - rule.holdout / 100
    out: dict[str | None, float] = {}
    if names:
        tested = tested_action(rule.actions)
        total = sum(v.weight for v in tested[1])
        out = {v.name: treated * v.weight / total for v in tested[1]}
    else:
        out = {None: treated}
    if rule.holdout:
        out[CONTROL] = rule.holdout / 100
    return out


def _srm_text(srm: SRM) -> str:
    got = ", ".join(f"{k} {v:,}" for k, v in sorted(srm.observed.items()))
    want = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(srm.expected.items()))
    return (f"Sample ratio mismatch (p = {srm.p_value:.2g}): the accounts split as {got}, where the rule asks for "
            f"about {want}. Something other than the draw decides who is in which arm; the comparison "
            "may be biased until that is found.")  # fmt: skip


def _unsubscribes(treated: Funnel, control: Funnel) -> Comparison | None:
    if not treated.sent or not control.assigned:
        return None
    return compare(treated.sent, treated.unsubscribed, control.assigned, control.unsubscribed, alpha=UNSUBSCRIBE_ALPHA)


def _harm(overall: ArmResult, unsub: Comparison | None) -> Harm | None:
    kinds, reasons = [], []
    if overall.sequential.code == WORSE:
        kinds.append("conversion")
        reasons.append(overall.sequential.verdict)
    if unsub is not None and unsub.code == BETTER and (
        not unsub.control_rate or unsub.treated_rate >= UNSUBSCRIBE_RATIO * unsub.control_rate
    ):
        kinds.append("unsubscribes")
        reasons.append(
            f"Treated accounts unsubscribe far more than control: {unsub.treated_rate:.1%} against "
            f"{unsub.control_rate:.1%} ({'p < 0.001' if unsub.p_value < 0.001 else f'p = {unsub.p_value:.3f}'})."
        )
    return Harm(tuple(kinds), tuple(reasons)) if reasons else None


def _headline(shown: ArmResult) -> str:
    """The daily verdict; without a winner, with the accounts still needed to find one."""
    text, more = shown.sequential.verdict, shown.more
    if shown.sequential.code not in (BETTER, WORSE) and more is not None and more.treated + more.control:
        text += " " + more.text
    return text


def plain(value: Any) -> Any:
    """JSON-ready: dates as ISO text, NaN and infinities as None."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in (sorted(value) if isinstance(value, (set, frozenset)) else value)]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
