"""Named segments: reusable conditions in ``rules/segments/<id>.yaml``.

A segment file holds ``id`` (the file's name), an optional ``description``
and ``when``; a rule (or another segment) writes ``segment: <id>`` where a
condition goes and gets that segment's tree in its place. Each segment is
parsed once, on first use; unknown names and cycles are problems.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path as FsPath
from typing import Any

from engine.rules.conditions import ConditionParser
from engine.rules.problems import Problem, Problems, from_yaml
from engine.rules.schema import Segment
from engine.rules.yamlload import Document, YamlProblem, load

ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
ID_HINT = "use 1-100 lowercase letters, digits, '-' or '_', starting with a letter or digit"
SEGMENT_KEYS = ("id", "description", "when")


class SegmentLibrary:
    """The segments of one folder; ``problems`` collects those of every segment file."""

    def __init__(self, documents: Iterable[tuple[str, Document]] = (), broken: Iterable[Problem] = ()) -> None:
        self._docs: dict[str, Document] = {}
        self._done: dict[str, Segment | None] = {}
        self._stack: list[str] = []
        self.problems: list[Problem] = list(broken)
        self._unreadable: set[str] = set()  # files that did not parse: known names, no tree
        for name, doc in documents:
            self._docs[name] = doc

    @classmethod
    def from_folder(cls, folder: FsPath | str) -> SegmentLibrary:
        folder = FsPath(folder)
        documents: list[tuple[str, Document]] = []
        broken: list[Problem] = []
        names: list[str] = []
        if folder.is_dir():
            for path in sorted(folder.glob("*.y*ml")):
                if path.suffix not in (".yaml", ".yml"):
                    continue
                names.append(path.stem)
                try:
                    documents.append((path.stem, load(path.read_bytes(), str(path))))
                except YamlProblem as exc:
                    broken.append(from_yaml(exc))
        library = cls(documents, broken)
        library._unreadable = {n for n in names if n not in library._docs}
        return library

    @classmethod
    def from_texts(cls, texts: dict[str, str], folder: str = "rules/segments") -> SegmentLibrary:
        """For tests and previews: segments by name from YAML text."""
        documents, broken = [], []
        for name, text in texts.items():
            try:
                documents.append((name, load(text, f"{folder}/{name}.yaml")))
            except YamlProblem as exc:
                broken.append(from_yaml(exc))
        library = cls(documents, broken)
        library._unreadable = {n for n in texts if n not in library._docs}
        return library

    def names(self) -> list[str]:
        return sorted({*self._docs, *self._unreadable})

    def resolving(self) -> list[str]:
        return list(self._stack)

    def resolve(self, name: str) -> Segment | None:
        if name in self._done:
            return self._done[name]
        doc = self._docs.get(name)
        if doc is None:
            return None
        self._stack.append(name)
        try:
            segment = self._parse(name, doc)
        finally:
            self._stack.pop()
        self._done[name] = segment
        return segment

    def check_all(self) -> list[Problem]:
        """Parse every segment (used or not) and return all their problems."""
        for name in sorted(self._docs):
            self.resolve(name)
        return self.problems

    def _parse(self, name: str, doc: Document) -> Segment | None:
        problems = Problems(doc)
        data: Any = doc.data
        if not isinstance(data, dict):
            problems.add((), "a segment file must be a mapping with id and when")
            self.problems += problems.items
            return None
        problems.keys(data, (), SEGMENT_KEYS, required=("id", "when"))
        if "id" in data:
            sid = problems.text(data["id"], ("id",), "segment id", ID, ID_HINT)
            if sid is not None and sid != name:
                problems.add(("id",), f"id {sid!r} does not match the file name {name}.yaml; rename one so they agree")
        description = ""
        if "description" in data:
            description = problems.text(data["description"], ("description",), "text") or ""
        # Segments may use contact fields; a rule of level account that uses
        # such a segment is told so at its own reference.
        parser = ConditionParser(problems, "contact", self)
        when = parser.parse(data["when"], ("when",)) if "when" in data else None
        self.problems += problems.items
        if problems.items or when is None:
            return None
        return Segment(name, when, description, parser.uses_contact, doc.source)
