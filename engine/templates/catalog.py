"""The template library as the admin lists it: each template by folder, its locales, and the
applied rules whose actions use it; and the checker's problems for the templates rules need."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session

from engine.templates.errors import TemplateProblem
from engine.templates.library import SHIPPED_LOCALES, TemplateLibrary


@dataclass(frozen=True)
class TemplateUse:
    rule_id: str
    version: int
    action: int  # 1-based, as the rule file lists its actions
    channel: str
    paused: bool


@dataclass(frozen=True)
class TemplateEntry:
    name: str  # onboarding/stalled
    folder: str  # onboarding
    locales: list[str]  # written in; empty: used by a rule, missing on disk
    used_by: list[TemplateUse] = field(default_factory=list)

    @property
    def missing(self) -> bool:
        return not self.locales


def template_uses(session: Session) -> dict[str, list[TemplateUse]]:
    """Template name -> the actions of the active rule versions (paused ones too) that use it."""
    from engine.rules.versions import active_rules

    uses: dict[str, list[TemplateUse]] = {}
    for state, version, rule in active_rules(session, include_paused=True):
        for index, action in enumerate(rule.actions, start=1):
            uses.setdefault(action.template, []).append(
                TemplateUse(rule.id, version.version, index, action.channel, bool(state.paused))
            )
    return uses


def template_catalog(session: Session, library: TemplateLibrary) -> list[TemplateEntry]:
    """Every template on disk and every one an applied rule names, by folder then name."""
    uses = template_uses(session)
    names = sorted(set(library.names()) | set(uses))
    return [
        TemplateEntry(name, name.rpartition("/")[0] or name, library.locales(name), sorted(uses.get(name, []), key=_order))
        for name in names
    ]


def template_problems(session: Session, library: TemplateLibrary,
                      locales: Sequence[str] = SHIPPED_LOCALES) -> list[TemplateProblem]:  # fmt: skip
    """``templates check`` over the library, requiring the templates the applied rules use."""
    return library.check(required=sorted(template_uses(session)), locales=list(locales))


def _order(use: TemplateUse) -> tuple[str, int]:
    return use.rule_id, use.action
