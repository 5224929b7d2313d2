"""``touchline rules export``: the live versions written back as rule files.

Each active version is unbundled exactly as stored: the rule's text to
``<id>.yaml`` and each segment it carries to ``segments/<name>.yaml``, byte
for byte, so ``touchline apply`` of the folder stores the same content (same
hash: every rule unchanged). Nothing else is written: no README, no state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from sqlalchemy.orm import Session

from engine.rules.versions import active_versions, unbundle


class ExportConflict(ValueError):
    """Two live rules carry different texts of one segment; one file cannot hold both."""


@dataclass(frozen=True)
class Written:
    path: Path
    status: Literal["written", "unchanged"]


@dataclass
class Exported:
    files: list[Written] = field(default_factory=list)
    rules: int = 0
    # Rule files already in the folder that no live rule writes: apply would also apply them.
    others: list[Path] = field(default_factory=list)


def export_rules(session: Session, folder: Path | str) -> Exported:
    """Write every live rule (paused ones too) and its segments under ``folder``.

    Checks first, writes after: on ExportConflict nothing is written.
    """
    folder = Path(folder)
    planned: dict[Path, str] = {}
    segment_owner: dict[str, str] = {}
    live = sorted(active_versions(session).items())
    for rule_id, (_, version) in live:
        rule_text, segments = unbundle(version.content)
        planned[folder / f"{rule_id}.yaml"] = rule_text
        for name, text in segments.items():
            path = folder / "segments" / f"{name}.yaml"
            if path in planned and planned[path] != text:
                raise ExportConflict(
                    f"segment {name!r} differs between the live versions of {segment_owner[name]} and {rule_id} "
                    f"(each stored the segment as it was when applied); nothing was written. Edit {name} so both "
                    "rules take the same text (apply or save each of them again), then export"
                )
            planned[path] = text
            segment_owner.setdefault(name, rule_id)
    result = Exported(rules=len(live))
    for path, text in planned.items():
        data = text.encode("utf-8")
        if path.is_file() and path.read_bytes() == data:
            result.files.append(Written(path, "unchanged"))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        result.files.append(Written(path, "written"))
    if folder.is_dir():
        result.others = sorted(p for p in folder.glob("*.y*ml") if p.suffix in (".yaml", ".yml") and p not in planned and p.name != "policy.yaml")
    return result
