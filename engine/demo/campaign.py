"""The past deliveries of a campaign planted in the demo (engine.demo.generate.CampaignPlan).

Seeding plants the cohort's accounts and events; this writes, once the campaign's rule is
applied, what its cycles would have written back then, through the firing's own code: for
each cohort account a closed stay in the rule's segment (entered a week after signup, left
30 days after), and the deliveries of that entry, written by engine.rules.firing's
``write_deliveries`` at the time of the cycle that fired it (the rule's holdout draw,
recipients, explanation, dedupe keys, occurrence ``enter:<stay>``). The held-out rows stay
as written; the others are marked sent when the rule's send window first opened for their
recipient, a few minutes after the cycle at the earliest. So the outcomes pass measures the
campaign like any other, and ``touchline results RULE`` reads back the planted uplift.

Nothing is sent: the sent rows carry a ``provider_response`` saying they are demo data.
Recording twice changes nothing (accounts with a stay in the rule's segment are passed over).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from engine.db import Database
from engine.delivery.policy import Policy, PolicyError, current_policy
from engine.delivery.windows import next_opening, resolve_timezone
from engine.demo.generate import CAMPAIGN_GOAL, CampaignPlan, DemoPlan
from engine.models import Account, Contact, Delivery, RuleState, RuleVersion, SegmentMembership
from engine.rules.cycle import RuleOutcome
from engine.rules.firing import CircuitBreakerTripped, Firing, write_deliveries
from engine.rules.schema import OnEnter, Rule
from engine.rules.versions import validate_content
from engine.sqlutil import chunks

D = Delivery.__table__
# What a sent row of the planted campaign says instead of a mail server's answer.
PROVIDER_RESPONSE = "demo data: a past campaign planted by touchline demo --plant-uplift; nothing was sent"
# The dispatcher and a worker take this long at most to send a due row.
MAX_LAG_SECONDS = 240
IDS = 500  # ids per IN (...)


class CampaignError(Exception):
    """The campaign cannot be recorded: its rule is not applied, or not the rule it was planted for."""


@dataclass(frozen=True)
class Recorded:
    rule_id: str
    version: int  # the rule's version the deliveries were written by
    accounts: int  # cohort accounts recorded now
    already: int  # cohort accounts recorded before (passed over)
    treated: int  # accounts with a message sent
    control: int  # accounts held out (the rule's control group)
    other: int  # accounts with neither (e.g. in the program's global holdout)
    sent: int  # sent rows (one per action and recipient)
    held_out: int  # held-out rows


def record_campaign(db: Database, plan: DemoPlan, *, policy: Policy | None = None) -> Recorded:
    """Write the planted campaign's past stays and deliveries for its rule's active version, in one
    transaction. Raises CampaignError when the rule is not applied or does not fit the plan.
    ``policy``: for the global holdout and the default time zone; None reads the settings' file."""
    campaign = plan.campaign
    if campaign is None or not plan.cohort:
        raise CampaignError("the demo plan has no planted campaign")
    if policy is None:
        try:
            policy = current_policy()
        except PolicyError as exc:
            raise CampaignError(f"the policy file cannot be used: {exc}") from None
    with db.session() as session:
        version, rule = _active_rule(session, campaign)
        members = {m.account.external_id: m for m in plan.cohort}
        ids = _account_ids(session, sorted(members))
        missing = sorted(set(members) - set(ids))
        if missing:
            raise CampaignError(f"{len(missing)} accounts of the cohort are not in the database "
                                f"(first: {missing[0]}): seed them first")  # fmt: skip
        done = _already_recorded(session, rule.id, list(ids.values()))
        todo = [m for ext, m in members.items() if ids[ext] not in done]

        stays = [
            SegmentMembership(rule_id=rule.id, subject_key=f"account:{ids[m.account.external_id]}",
                              account_id=ids[m.account.external_id], entered_at=m.entered_at, exited_at=m.left_at,
                              last_fired_at=m.entered_at)
            for m in todo
        ]  # fmt: skip
        session.add_all(stays)
        session.flush()
        by_cycle: dict[datetime, list[Firing]] = defaultdict(list)
        for m, stay in zip(todo, stays, strict=True):
            by_cycle[m.entered_at].append(Firing(stay.id, stay.account_id, None, f"enter:{stay.id}"))
        outcome = RuleOutcome(rule.id, "evaluated")
        try:
            for at in sorted(by_cycle):
                write_deliveries(session, version, rule, at, by_cycle[at], outcome, policy=policy)
        except CircuitBreakerTripped as exc:  # a rule with a low max_messages_per_cycle
            raise CampaignError(str(exc)) from None

        account_ids = [ids[m.account.external_id] for m in todo]
        exposed = _mark_sent(session, rule, account_ids, policy)
        _check_exposures(todo, ids, exposed, campaign)
        arms = _arms(session, rule.id, account_ids)
        for m in todo:
            arm = arms.get(ids[m.account.external_id])
            if arm is not None and arm != m.arm:  # the holdout was checked: only a changed draw gets here
                raise CampaignError(f"{m.account.external_id} was planted as {m.arm} but the rule put it in {arm}")
        counts = {arm: sum(1 for a in arms.values() if a == arm) for arm in ("treated", "control")}
        return Recorded(
            rule_id=rule.id, version=version.version, accounts=len(todo), already=len(members) - len(todo),
            treated=counts["treated"], control=counts["control"], other=len(todo) - len(arms),
            sent=outcome.deliveries, held_out=outcome.held_out,
        )  # fmt: skip


def applied_rule(session: Session, rule_id: str) -> tuple[RuleVersion, Rule] | None:
    """The rule's active version and what it says; None when the rule was never applied."""
    state = session.get(RuleState, rule_id)
    if state is None or state.active_version_id is None:
        return None
    version = session.get(RuleVersion, state.active_version_id)
    rule = validate_content(version.content, f"{rule_id}.yaml (version {version.version})", rule_id).rule
    if rule is None:
        raise CampaignError(f"the active version of {rule_id} (version {version.version}) does not validate any more")
    return version, rule


def campaign_for(rule: Rule, *, uplift: float, control_rate: float = 0.20, cohort: int = 2000) -> CampaignPlan:
    """A campaign planted for ``rule``: its arms drawn with the rule's holdout, its conversions
    inside the rule's goal window. Raises CampaignError when the rule cannot carry one."""
    problems = rule_problems(rule)
    if problems:
        raise CampaignError(f"rule {rule.id} cannot carry the planted campaign: " + "; ".join(problems))
    return CampaignPlan(uplift=uplift, control_rate=control_rate, cohort=cohort, rule_id=rule.id,
                        holdout=rule.holdout, within_days=rule.goal.within)  # fmt: skip


def rule_problems(rule: Rule, campaign: CampaignPlan | None = None) -> list[str]:
    """Why the planted campaign's cohort does not fit ``rule`` (empty when it does): an
    account-level on_enter rule with a holdout and the goal {event: project_created}; with
    ``campaign``, also the holdout and window it was planted for."""
    problems = []
    if rule.level != "account" or not isinstance(rule.trigger, OnEnter):
        problems.append("it is not an account-level on_enter rule")
    if not rule.holdout:
        problems.append("it has no holdout")
    elif campaign is not None and rule.holdout != campaign.holdout:
        problems.append(f"its holdout is {rule.holdout:g}%, the campaign's arms were drawn for {campaign.holdout:g}%")
    goal = rule.goal
    if goal is None or goal.event != CAMPAIGN_GOAL:
        problems.append(f"its goal is not an event goal on {CAMPAIGN_GOAL}")
    elif goal.within < 5:
        problems.append("its goal window is shorter than 5 days")
    elif campaign is not None and goal.within != campaign.within_days:
        problems.append(f"its goal window is {goal.within} days, the conversions were planted for {campaign.within_days}")
    return problems


def _active_rule(session: Session, campaign: CampaignPlan) -> tuple[RuleVersion, Rule]:
    found = applied_rule(session, campaign.rule_id)
    if found is None:
        raise CampaignError(f"rule {campaign.rule_id} is not applied: apply it first (touchline apply)")
    version, rule = found
    problems = rule_problems(rule, campaign)
    if problems:
        raise CampaignError(f"rule {rule.id} (version {version.version}) does not fit the planted campaign: " + "; ".join(problems))
    return version, rule


def _account_ids(session: Session, external_ids: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for part in chunks(external_ids, IDS):
        out.update(session.execute(select(Account.external_id, Account.id).where(Account.external_id.in_(part))).all())
    return out


def _already_recorded(session: Session, rule_id: str, account_ids: list[int]) -> set[int]:
    SM = SegmentMembership.__table__
    found: set[int] = set()
    for part in chunks(account_ids, IDS):
        found.update(session.scalars(select(SM.c.account_id).where(SM.c.rule_id == rule_id, SM.c.account_id.in_(part))))
    return found


def _mark_sent(session: Session, rule: Rule, account_ids: list[int], policy: Policy) -> dict[int, datetime]:
    """Mark the pending rows of these accounts sent as the pipeline would have: when the send
    window first opened for the recipient at or after the cycle, plus a few minutes (drawn
    from the row's dedupe key). Returns each account's exposure (its first send)."""
    rows: list[dict[str, Any]] = []
    zones: dict[tuple[str | None, str | None], Any] = {}
    for part in chunks(account_ids, IDS):
        found = session.execute(
            select(D.c.id, D.c.account_id, D.c.dedupe_key, D.c.created_at, Contact.timezone, Account.timezone)
            .join(Account, Account.id == D.c.account_id)
            .outerjoin(Contact, Contact.id == D.c.contact_id)
            .where(D.c.rule_id == rule.id, D.c.status == "pending", D.c.account_id.in_(part))
        ).all()  # fmt: skip
        for row_id, account_id, key, created_at, contact_tz, account_tz in found:
            opens = created_at
            if rule.send_window is not None:
                zone = zones.get((contact_tz, account_tz))
                if zone is None:
                    zone = zones[(contact_tz, account_tz)] = resolve_timezone(
                        rule.send_window, contact_tz, account_tz, policy.default_timezone
                    ).zone
                opens = next_opening(rule.send_window, zone, created_at)
            lag = 30 + int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % (MAX_LAG_SECONDS - 30)
            sent = opens + timedelta(seconds=lag)
            rows.append({"rid": row_id, "account": account_id, "due": opens, "sent": sent})
    if rows:
        session.execute(
            update(D).where(D.c.id == bindparam("rid")).values(
                status="sent", due_at=bindparam("due"), queued_at=bindparam("due"), sent_at=bindparam("sent"),
                updated_at=bindparam("sent"), attempts=1, reason=None, provider_response=PROVIDER_RESPONSE,
            ),
            [{k: v for k, v in r.items() if k != "account"} for r in rows],
        )  # fmt: skip
    exposed: dict[int, datetime] = {}
    for r in rows:
        if r["account"] not in exposed or r["sent"] < exposed[r["account"]]:
            exposed[r["account"]] = r["sent"]
    return exposed


def _check_exposures(todo, ids: dict[str, int], exposed: dict[int, datetime], campaign: CampaignPlan) -> None:
    """Every planted conversion of a treated account must fall inside its window, which opens at its first send."""
    window = timedelta(days=campaign.within_days)
    for m in todo:
        at = exposed.get(ids[m.account.external_id])
        if m.converted_at is not None and at is not None and not at <= m.converted_at < at + window:
            raise CampaignError(
                f"the rule's send window delays {m.account.external_id}'s message to {at:%Y-%m-%d %H:%M} UTC, past "
                f"its planted conversion ({m.converted_at:%Y-%m-%d %H:%M} UTC): the campaign needs a window that "
                "opens within 3 days"
            )


def _arms(session: Session, rule_id: str, account_ids: list[int]) -> dict[int, str]:
    """Each account's arm by its rows: treated (a row sent) or control (held out); neither: absent."""
    arms: dict[int, str] = {}
    for part in chunks(account_ids, IDS):
        for account_id, status in session.execute(
            select(D.c.account_id, D.c.status).where(D.c.rule_id == rule_id, D.c.account_id.in_(part),
                                                     D.c.status.in_(("sent", "held_out"))).distinct()
        ):  # fmt: skip
            arms[account_id] = "treated" if status == "sent" else "control"
    return arms
