"""A rule being edited in the admin, before it is saved: check it, plan it, explain it.

Everything here calls the engine's own parts: the validator ``touchline rules
check`` runs (with the folder's segments and the template list), ``plan`` as
``touchline plan --all`` runs it, ``explain`` as ``touchline explain`` prints
it, and the backtest of ``touchline plan --backtest``. Nothing is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from collections.abc import Mapping
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from engine.models import Account, Contact
from engine.rules.backtest import Backtest, backtest
from engine.rules.evaluate import ExplainNode, explain
from engine.rules.facts import events_of, load_contact_facts, load_facts, rules_of
from engine.rules.plan import RulePlan, plan
from engine.rules.problems import Problem
from engine.rules.schema import Rule
from engine.rules.segments import SegmentLibrary
from engine.rules.validate import KnownTemplates, Result, validate_text
from engine.rules.versions import ContentError, RuleSource, bundle, segments_used, validate_content

BACKTEST_DAYS = 30
ID_LINE = re.compile(r"^id:[^\n]*$", re.MULTILINE)


def source_name(rule_id: str | None) -> str:
    """The file name problems carry, as ``touchline rules check rules/`` would print it."""
    return f"rules/{rule_id or 'new-rule'}.yaml"


def check_draft(
    text: str, *, rule_id: str | None, segments: Mapping[str, str], templates: KnownTemplates | None
) -> Result:
    """Validate a rule's text as ``touchline rules check`` validates its file.

    ``rule_id`` is the rule being edited (its id must stay), None for a new rule;
    ``segments`` the segments' texts by name (engine.rules.live_segments.library_texts).
    """
    library = SegmentLibrary.from_texts(dict(segments))
    return validate_text(text, source_name(rule_id), segments=library, expected_id=rule_id, templates=templates)


@dataclass
class Explained:
    subject: str  # the external id of an entering account (or contact)
    tree: ExplainNode | None  # None when the subject is gone since the plan read it


@dataclass
class DraftPlan:
    """What saving the draft would do now; ``problems`` when it does not check."""

    problems: list[Problem] = field(default_factory=list)
    rule: Rule | None = None
    plan: RulePlan | None = None
    explained: list[Explained] = field(default_factory=list)
    backtest: Backtest | None = None
    backtest_note: str | None = None  # why there is no backtest


def plan_draft(
    session: Session,
    text: str,
    *,
    rule_id: str | None,
    segments: Mapping[str, str],
    templates: KnownTemplates | None,
    now: datetime,
    backtest_days: int = BACKTEST_DAYS,
) -> DraftPlan:
    """Check the draft, then plan it against the live data with a sample explained and a backtest
    (none with ``backtest_days=0``: the admin runs it as a job, engine.jobs.backtests)."""
    found = draft_source(text, rule_id=rule_id, segments=segments, templates=templates)
    if isinstance(found, list):
        return DraftPlan(problems=found)
    rule = found.rule
    result = DraftPlan(rule=rule)
    # include_unchanged: a draft equal to the live version is still evaluated, so the page always has numbers.
    result.plan = plan(session, [found], now, include_unchanged=True)[0]
    result.explained = [Explained(s, explain_subject(session, rule, s, now)) for s in result.plan.sample]
    if rule.level != "account":
        result.backtest_note = "contact-level rules cannot be backtested yet"
    elif backtest_days:
        result.backtest = backtest(session, rule, backtest_days, now)
    return result


def draft_source(
    text: str, *, rule_id: str | None, segments: Mapping[str, str], templates: KnownTemplates | None
) -> RuleSource | list[Problem]:
    """The draft bundled with its segments as a version would store it, checked; else its problems."""
    checked = check_draft(text, rule_id=rule_id, segments=segments, templates=templates)
    if checked.rule is None:
        return checked.problems
    source = source_name(rule_id)
    try:
        content = bundle(text, segments_used(text, segments))
    except ContentError as exc:
        return [Problem(source, 1, 1, "", f"cannot bundle this rule with its segments: {exc}")]
    stored = validate_content(content, source, checked.rule.id)
    if stored.rule is None:
        return stored.problems
    return RuleSource(stored.rule, content)


def explain_subject(session: Session, rule: Rule, external_id: str, now: datetime) -> ExplainNode | None:
    """``touchline explain RULE SUBJECT``'s tree: each condition, the value seen, whether it held.

    SUBJECT is an account's external id, or a contact's for a contact-level rule; None if there is none.
    """
    events, rules = events_of(rule.when), rules_of(rule.when)
    if rule.level == "contact":
        contact_id = session.scalar(select(Contact.id).where(Contact.external_id == external_id))
        if contact_id is None:
            return None
        return explain(rule.when, load_contact_facts(session, contact_id, now, events, rules), now)
    account_id = session.scalar(select(Account.id).where(Account.external_id == external_id))
    if account_id is None:
        return None
    return explain(rule.when, load_facts(session, account_id, now, events, rules), now)


def with_id(text: str, new_id: str) -> str:
    """The rule text with its top-level ``id:`` set to ``new_id`` (a duplicate, a rule from the gallery)."""
    if ID_LINE.search(text):
        return ID_LINE.sub(f"id: {new_id}", text, count=1)
    return f"id: {new_id}\n{text}"


def known_templates(folder: Path) -> KnownTemplates | None:
    """The message templates actions may name, as ``touchline rules check`` lists them; None without the folder."""
    from engine.templates.library import TemplateLibrary

    if not folder.is_dir():
        return None
    return KnownTemplates(folder.name, frozenset(TemplateLibrary(folder).names()))


def current_text(session: Session, rule_id: str) -> str | None:
    """The rule file's text of the active version (without its bundled segments); None if never applied."""
    from engine.rules.versions import active_versions, unbundle

    found = active_versions(session).get(rule_id)
    return unbundle(found[1].content)[0] if found else None
