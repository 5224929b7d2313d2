"""The categories a recipient can leave: those of the applied rules, plus ``general``."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from engine.compliance.addresses import GENERAL
from engine.rules.schema import DEFAULT_CATEGORY
from engine.rules.validate import CATEGORY
from engine.rules.versions import active_versions, unbundle
from engine.rules.yamlload import YamlProblem, load

log = logging.getLogger(__name__)


def known_categories(session: Session) -> list[str]:
    """Sorted categories of every applied rule (paused ones too), plus ``general``.

    Reads only each active version's ``category`` key rather than validating
    whole rules: the preference page asks on every visit, and a stored rule
    was validated when it was applied. ``operational`` is included when a rule
    uses it; callers that list what may be left filter it out.
    """
    found = {GENERAL}
    for rule_id, (_state, version) in active_versions(session).items():
        rule_text, _segments = unbundle(version.content)
        try:
            data = load(rule_text, f"{rule_id}.yaml (version {version.version})").data
        except YamlProblem as exc:
            log.error("applied rule %s no longer reads as YAML; its category is not listed: %s", rule_id, exc)
            continue
        category = data.get("category", DEFAULT_CATEGORY) if isinstance(data, dict) else DEFAULT_CATEGORY
        if isinstance(category, str) and CATEGORY.match(category):
            found.add(category)
    return sorted(found)
