"""Where the workbench finds rule files (the gallery), the segments and the template names."""

from __future__ import annotations

from pathlib import Path

from engine.rules.drafts import known_templates
from engine.rules.gallery import default_rules_dir
from engine.rules.live_segments import library_texts
from engine.rules.validate import KnownTemplates
from web.context import get_db, get_settings


def rules_dir() -> Path:
    return default_rules_dir()


def segment_dir() -> Path:
    return rules_dir() / "segments"


def segments() -> dict[str, str]:
    """The segments drafts are checked and bundled against: as the live rules carry them, else the folder's."""
    with get_db().read_session() as session:
        return library_texts(session, segment_dir())


def templates() -> KnownTemplates | None:
    return known_templates(get_settings().templates_dir)
