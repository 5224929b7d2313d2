"""The shipped rules as a gallery: the starting points for a new rule in the admin."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from engine.rules.validate import NOT_RULES, validate_file


@dataclass(frozen=True)
class GalleryRule:
    rule_id: str
    name: str
    description: str
    category: str
    text: str


def default_rules_dir() -> Path:
    """The project's rules/ folder (with segments/), else ./rules where Touchline runs (an installed package)."""
    shipped = Path(__file__).resolve().parent.parent.parent / "rules"
    return shipped if shipped.is_dir() else Path("rules").resolve()


def gallery(rules_dir: Path) -> list[GalleryRule]:
    """Every rule file of ``rules_dir`` that checks, by id; a broken file is left out."""
    found: list[GalleryRule] = []
    for path in sorted(rules_dir.glob("*.yaml")):
        if path.name in NOT_RULES:
            continue
        result = validate_file(path)
        if result.rule is None:
            continue
        rule = result.rule
        text = path.read_text(encoding="utf-8-sig")
        found.append(GalleryRule(rule.id, rule.name, rule.description, rule.category, text))
    return found


def gallery_rule(rules_dir: Path, rule_id: str) -> GalleryRule | None:
    return next((g for g in gallery(rules_dir) if g.rule_id == rule_id), None)
