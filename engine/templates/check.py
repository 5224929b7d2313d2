"""``touchline templates check``: find every problem in a template folder before a send does.

Static only (nothing is rendered): syntax errors (and what Jinja refuses
when it compiles, such as ``{% extends %}`` inside a block), message files
missing a part or a locale, files that do not extend a layout, references to
files that do not exist or lie outside the folder, variables the render
context does not have, and what the sandbox would refuse at render time:
attribute names starting with ``_`` and printing a whole record
(``{{ account }}``). Every problem is ``file:line: message``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from jinja2 import TemplateError, TemplateSyntaxError, meta, nodes

from engine.templates.context import CONTEXT_VARIABLES
from engine.templates.errors import TemplateProblem
from engine.templates.library import NAME, PARTS, _private, normalize_locale

if TYPE_CHECKING:
    from engine.templates.library import TemplateLibrary

MAX_SOURCE_BYTES = 256 * 1024
# Context variables that are records (or usage), not text: printing one whole is refused.
RECORDS = ("account", "contact", "owner", "rule", "usage", "brand")
# Filters that turn their value (and, for format, its arguments) into text.
TEXT_FILTERS = ("format", "string", "pprint")


def check_library(library: TemplateLibrary, required: Iterable[str], locales: Sequence[str]) -> list[TemplateProblem]:
    root = library.root
    problems: list[TemplateProblem] = []
    if not root.is_dir():
        return [TemplateProblem(str(root), None, "the templates folder does not exist (TOUCHLINE_TEMPLATES_DIR)")]
    known = set(CONTEXT_VARIABLES) | set(library.env.globals)
    messages: dict[str, list[str]] = {}
    for path in library.files():
        rel = path.relative_to(root)
        name = rel.as_posix()
        is_message = not _private(rel) and len(rel.parts) >= 2
        if is_message:
            locale = rel.stem
            folder = rel.parent.as_posix()
            if path.suffix != ".html" or normalize_locale(locale) != locale or not NAME.fullmatch(folder):
                problems.append(TemplateProblem(name, None, "not a message template: expected <name>/<locale>.html, such as onboarding/stalled/en.html (layouts and partials go in _layouts/ and _partials/)"))
                continue
            messages.setdefault(folder, []).append(locale)
        elif not _private(rel):
            problems.append(TemplateProblem(name, None, "not a message template: a message lives in a folder named for it, as <name>/<locale>.html"))
            continue
        problems += _check_file(library, name, known, is_message)
    for folder, have in sorted(messages.items()):
        for locale in locales:
            if locale not in have:
                problems.append(TemplateProblem(f"{folder}/", None, f"no {locale} version: add {folder}/{locale}.html"))
    for name in sorted(set(required)):
        if name not in messages:
            problems.append(TemplateProblem(f"{name}/", None, f"template {name!r} is used by a rule but does not exist: add {name}/{locales[0] if locales else 'en'}.html"))
    return problems


def _check_file(library: TemplateLibrary, name: str, known: set[str], is_message: bool) -> list[TemplateProblem]:
    path = library.root / name
    try:
        raw = path.read_bytes()
        if len(raw) > MAX_SOURCE_BYTES:
            return [TemplateProblem(name, None, f"the file is larger than {MAX_SOURCE_BYTES} bytes")]
        source = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return [TemplateProblem(name, None, f"not UTF-8 text: {exc.reason} at byte {exc.start}")]
    except OSError as exc:
        return [TemplateProblem(name, None, f"cannot be read: {exc.strerror}")]
    try:
        tree = library.env.parse(source, name, str(path))
        # Compiling finds what parsing lets through and rendering would refuse,
        # such as {% extends %} inside a block or a block defined twice.
        library.env.compile(source, name, str(path))
    except TemplateSyntaxError as exc:  # TemplateAssertionError too
        return [TemplateProblem(name, exc.lineno, exc.message or "syntax error")]
    except (RecursionError, SyntaxError, MemoryError):
        # Python's own limits on the code Jinja generates: too many nested blocks or brackets.
        return [TemplateProblem(name, None, "nested too deeply: split the template into smaller macros or partials")]
    except TemplateError as exc:
        return [TemplateProblem(name, None, exc.message or type(exc).__name__)]
    problems: list[TemplateProblem] = []
    for ref in _references(tree):
        target, line = ref
        pieces = _loader_path(target)
        if pieces is None:
            problems.append(TemplateProblem(name, line, f"{target!r} is outside {library.root.name}/: name a file in the folder, such as '_partials/footer.html'"))
        elif not library.root.joinpath(*pieces).is_file():
            problems.append(TemplateProblem(name, line, f"{target!r} does not exist in {library.root.name}/"))
    problems += _refused_at_render(tree, name)
    # Top-level {% set %} in a message is visible in its blocks; static analysis
    # sees blocks alone, so names assigned anywhere in the file count as known.
    assigned = {
        n.name
        for a in tree.find_all((nodes.Assign, nodes.AssignBlock))
        for n in [a.target, *a.target.find_all(nodes.Name)]
        if isinstance(n, nodes.Name)
    }
    for variable in sorted(meta.find_undeclared_variables(tree) - known - assigned):
        line = next((n.lineno for n in tree.find_all(nodes.Name) if n.name == variable), None)
        problems.append(TemplateProblem(name, line, f"unknown variable {variable!r}; templates see {', '.join(CONTEXT_VARIABLES)}"))
    if is_message:
        if not any(True for _ in tree.find_all(nodes.Extends)):
            problems.append(TemplateProblem(name, 1, 'does not extend a layout: start it with {% extends "_layouts/base.html" %}'))
        blocks = {b.name for b in tree.find_all(nodes.Block)}
        for part in PARTS:
            if part not in blocks:
                problems.append(TemplateProblem(name, None, f"no {part} part: add {{% block {part} %}}...{{% endblock %}}"))
    return problems


def _references(tree: nodes.Template) -> list[tuple[str, int]]:
    found = []
    for node in tree.find_all((nodes.Extends, nodes.Include, nodes.Import, nodes.FromImport)):
        target = node.template
        if isinstance(target, nodes.Const) and isinstance(target.value, str):
            found.append((target.value, node.lineno))
    return found


def _loader_path(target: str) -> list[str] | None:
    """The pieces Jinja's FileSystemLoader would look up for ``target``, or None
    where it refuses the name (``..``, a backslash); a leading ``/`` is dropped, as
    the loader does, so ``/etc/passwd`` is looked for inside the folder."""
    pieces = [piece for piece in target.split("/") if piece and piece != "."]
    if not pieces or any(piece == ".." or "\\" in piece for piece in pieces):
        return None
    return pieces


def _refused_at_render(tree: nodes.Template, name: str) -> list[TemplateProblem]:
    """What the sandbox refuses when the template runs, found without running it."""
    problems = []
    for node in tree.find_all(nodes.Getattr):
        if node.attr.startswith("_"):
            problems.append(TemplateProblem(
                name, node.lineno,
                f"attribute {node.attr!r}: names starting with '_' are Python internals the sandbox refuses "
                f"(a key of that name: write [{node.attr!r}])",
            ))  # fmt: skip
    for output in tree.find_all(nodes.Output):
        for node in output.nodes:
            for record in _printed_records(node):
                problems.append(TemplateProblem(
                    name, node.lineno,
                    f"prints {record} itself, which is not text: print one of its fields, such as {_example(record)}",
                ))  # fmt: skip
    return problems


def _printed_records(node: nodes.Node) -> list[str]:
    """Record variables ``node`` turns into text whole: {{ account }}, {{ '%s'|format(account) }}, {{ account|string }}."""
    if isinstance(node, nodes.Name) and node.name in RECORDS:
        return [node.name]
    if isinstance(node, nodes.Filter) and node.name in TEXT_FILTERS:
        values = [node.node, *(node.args if node.name == "format" else ()), *(k.value for k in node.kwargs if node.name == "format")]
        return [v.name for v in values if isinstance(v, nodes.Name) and v.name in RECORDS]
    return []


def _example(record: str) -> str:
    return {"usage": "usage.count('login', 30)", "owner": "owner.email", "brand": "brand.name"}.get(record, f"{record}.name")
