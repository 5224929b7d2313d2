"""A strict YAML reader for files people edit: rules and segments.

``yaml.safe_load`` alone is not enough for a file an operator hands us: it
follows aliases (a few hundred bytes can expand to gigabytes), accepts tags
such as ``!!binary`` and ``!!set``, reads ``no`` as false and ``2026-01-01``
as a date, keeps the last of two duplicate keys silently, and forgets where
each value came from. This reader uses PyYAML's safe composer and then:

- refuses files over ``MAX_BYTES`` before parsing;
- refuses anchors and aliases the moment it meets one, so expansion never starts;
- refuses nesting deeper than ``MAX_DEPTH`` while composing: PyYAML's composer
  recurses once per level, so a few KB of ``[[[[...`` would otherwise end in a
  RecursionError before any check on the result could run;
- resolves plain scalars by the YAML 1.2 core schema only (null, true/false,
  integers, floats; everything else is a string) and refuses any explicit tag
  outside it;
- refuses duplicate keys and non-scalar keys;
- records the line and column of every value, by its path in the document,
  so later validation can point at ``rules/x.yaml:12:5``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

MAX_BYTES = 64 * 1024
MAX_DEPTH = 64

Path = tuple[str | int, ...]

_NULL = re.compile(r"^(?:~|null|Null|NULL|)$")
_BOOL = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT = re.compile(r"^[-+]?[0-9]+$|^0o[0-7]+$|^0x[0-9a-fA-F]+$")
_FLOAT = re.compile(r"^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$")
_SPECIAL_FLOAT = {".inf": math.inf, "+.inf": math.inf, "-.inf": -math.inf, ".nan": math.nan}


@dataclass(frozen=True)
class YamlProblem(Exception):
    """A YAML file that cannot be used, with where and why."""

    source: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.source}:{self.line}:{self.column}: {self.message}"


@dataclass
class Document:
    """The parsed value and the (line, column) of each value by its path."""

    source: str
    data: Any
    positions: dict[Path, tuple[int, int]] = field(default_factory=dict)

    def where(self, path: Path) -> tuple[int, int]:
        """Position of ``path``, or of its nearest ancestor that has one."""
        while path not in self.positions and path:
            path = path[:-1]
        return self.positions.get(path, (1, 1))


PLAIN = "tag:touchline:plain"  # a plain scalar, resolved later by the core schema
STR = "tag:yaml.org,2002:str"
SEQ = "tag:yaml.org,2002:seq"
MAP = "tag:yaml.org,2002:map"


class _Composer(yaml.SafeLoader):
    """PyYAML's safe composer, stopped at the first anchor or alias or at MAX_DEPTH, with no 1.1 resolution."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0  # nodes open around the one being composed

    def compose_node(self, parent, index):  # noqa: ANN001 - PyYAML's signature
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise _at(event.start_mark, "aliases (*name) are not allowed; repeat the value instead")
        if getattr(event, "anchor", None):
            raise _at(event.start_mark, "anchors (&name) are not allowed; repeat the value instead")
        if self._depth > MAX_DEPTH:
            raise _at(event.start_mark, f"nested deeper than {MAX_DEPTH} levels")
        self._depth += 1
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def resolve(self, kind, value, implicit):  # noqa: ANN001 - PyYAML's signature
        # Called only for nodes without an explicit tag. Plain scalars are
        # resolved by _resolve_plain (YAML 1.2 core), quoted ones are text.
        if kind is ScalarNode:
            return PLAIN if implicit[0] else STR
        return SEQ if kind is SequenceNode else MAP


class _Positioned(Exception):
    def __init__(self, line: int, column: int, message: str) -> None:
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


def _at(mark, message: str) -> _Positioned:
    return _Positioned(mark.line + 1, mark.column + 1, message)


def load(text: str | bytes, source: str = "<string>", max_bytes: int = MAX_BYTES) -> Document:
    """Parse one YAML document strictly; raise YamlProblem naming file, line and column."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > max_bytes:
        raise YamlProblem(source, 1, 1, f"file is {len(raw):,} bytes; the limit is {max_bytes:,}")
    try:
        decoded = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise YamlProblem(source, line, 1, f"not UTF-8: byte {raw[exc.start]:#04x}") from None
    composer = _Composer(decoded)
    try:
        node = composer.get_single_node()
        doc = Document(source, None)
        doc.data = _build(node, (), doc) if node is not None else None
        return doc
    except _Positioned as exc:
        raise YamlProblem(source, exc.line, exc.column, exc.message) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlProblem(source, line, column, _yaml_message(exc)) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(source, 1, 1, str(exc)) from None
    finally:
        composer.dispose()


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    parts = [p for p in (exc.context, exc.problem) if p]
    return "; ".join(parts) or "invalid YAML"


def _build(node: Node, path: Path, doc: Document) -> Any:
    # Recursion here is bounded: the composer refused anything deeper than MAX_DEPTH.
    doc.positions[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, MappingNode):
        _expect_tag(node, MAP)
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise _at(key_node.start_mark, "mapping keys must be plain text")
            key = str(_scalar(key_node))
            key_at = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in result:
                line, column = doc.positions[(*path, key)]
                raise _at(key_node.start_mark, f"duplicate key {key!r} (first at line {line}, column {column})")
            result[key] = _build(value_node, (*path, key), doc)
            # A key's position is the key itself: what an editor should highlight.
            doc.positions[(*path, key)] = key_at
        return result
    if isinstance(node, SequenceNode):
        _expect_tag(node, SEQ)
        return [_build(child, (*path, i), doc) for i, child in enumerate(node.value)]
    return _scalar(node)


def _expect_tag(node: Node, tag: str) -> None:
    if node.tag != tag:
        raise _at(node.start_mark, f"tag {node.tag!r} is not allowed; only plain values, lists and mappings")


_TYPED = {
    "tag:yaml.org,2002:int": int,
    "tag:yaml.org,2002:float": float,
    "tag:yaml.org,2002:bool": bool,
    "tag:yaml.org,2002:null": type(None),
}


def _scalar(node: ScalarNode) -> Any:
    if node.tag == PLAIN:
        return _resolve_plain(node.value)
    if node.tag in (STR, "!"):
        return node.value
    kind = _TYPED.get(node.tag)
    if kind is None:
        raise _at(node.start_mark, f"tag {node.tag!r} is not allowed; only plain values, lists and mappings")
    value = _resolve_plain(node.value)
    if kind is float and type(value) is int:
        value = float(value)
    if type(value) is not kind:
        raise _at(node.start_mark, f"{node.value!r} is not a valid {kind.__name__ if kind is not type(None) else 'null'}")
    return value


def _resolve_plain(value: str) -> Any:
    """YAML 1.2 core schema resolution of a plain scalar."""
    if _NULL.match(value):
        return None
    if value in _BOOL:
        return _BOOL[value]
    if _INT.match(value):
        if value.startswith("0o"):
            return int(value[2:], 8)
        if value.startswith("0x"):
            return int(value[2:], 16)
        return int(value)
    if value in _SPECIAL_FLOAT:
        return _SPECIAL_FLOAT[value]
    if _FLOAT.match(value):
        return float(value)
    return value
