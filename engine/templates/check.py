"""``touchline templates check``: find every problem in a template folder before a send does.

Static only (nothing is rendered): syntax errors, message files missing a
part or a locale, files that do not extend a layout, references to files
that do not exist, and variables the render context does not have.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from jinja2 import TemplateSyntaxError, meta, nodes

from engine.templates.context import CONTEXT_VARIABLES
from engine.templates.errors import TemplateProblem
from engine.templates.library import NAME, PARTS, _private, normalize_locale

if TYPE_CHECKING:
    from engine.templates.library import TemplateLibrary

MAX_SOURCE_BYTES = 256 * 1024


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
    except TemplateSyntaxError as exc:
        return [TemplateProblem(name, exc.lineno, exc.message or "syntax error")]
    problems: list[TemplateProblem] = []
    for ref in _references(tree):
        target, line = ref
        if not (library.root / target).is_file():
            problems.append(TemplateProblem(name, line, f"{target!r} does not exist in {library.root.name}/"))
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
