"""The admin in English and Japanese: Flask-Babel, the locale of each request, and the catalogs.

Each admin area keeps its own catalog (``web/<area>/translations``) next to
the shared one (``web/translations``), so areas grow without editing one big
file; Flask-Babel merges them at run time. ``python -m web.i18n`` extracts
every area's strings, updates its Japanese catalog and compiles it.
"""

from __future__ import annotations

import io
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from flask import Flask, g, request
from flask_login import current_user

from engine.preferences import ADMIN_LOCALES
from web.extensions import babel

LOCALES = ADMIN_LOCALES
WEB = Path(__file__).resolve().parent
TEMPLATES = WEB / "templates"


def select_locale() -> str:
    """A view's pin, else the signed-in user's choice, else the browser's, else English."""
    return (
        g.get("locale")
        or getattr(current_user, "locale", None)
        or request.accept_languages.best_match(LOCALES)
        or "en"
    )


@dataclass(frozen=True)
class Catalog:
    """One area's catalog and the files its strings come from."""

    name: str
    directory: Path
    sources: tuple[Path, ...]


def catalogs() -> list[Catalog]:
    """The shared catalog (web/*.py, base and error pages, macros) and one per area package."""
    found = [Catalog("shared", WEB / "translations", (*WEB.glob("*.py"), *TEMPLATES.glob("*.html"), TEMPLATES / "macros"))]
    for package in sorted(p for p in WEB.iterdir() if (p / "__init__.py").exists()):
        templates = TEMPLATES / package.name
        sources = (package, templates) if templates.is_dir() else (package,)
        found.append(Catalog(package.name, package / "translations", sources))
    return found


def translation_directories() -> list[str]:
    return [str(c.directory) for c in catalogs() if (c.directory / "ja" / "LC_MESSAGES" / "messages.mo").exists()]


def init_app(app: Flask) -> None:
    app.config.setdefault("BABEL_DEFAULT_LOCALE", "en")
    app.config["BABEL_TRANSLATION_DIRECTORIES"] = ";".join(translation_directories())
    babel.init_app(app, locale_selector=select_locale)


# -- python -m web.i18n: extract, update, compile -------------------------------

METHOD_MAP = [("**.py", "python"), ("**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "ngettext": (1, 2), "lazy_gettext": None, "_l": None}


def extract(catalog: Catalog):
    """The catalog's strings as found in its sources now (a babel Catalog, English only)."""
    from babel.messages.catalog import Catalog as Messages
    from babel.messages.extract import extract_from_dir, extract_from_file

    messages = Messages(project="Touchline", charset="utf-8")
    options = {"**.html": {"extensions": "jinja2.ext.do", "trimmed": "true"}}
    for source in catalog.sources:
        if source.is_dir():
            found = extract_from_dir(str(source), METHOD_MAP, options, KEYWORDS, callback=None)
            found = ((source / name, *rest) for name, *rest in found)
        elif source.suffix in (".py", ".html"):
            method = "python" if source.suffix == ".py" else "jinja2"
            found = ((source, *rest) for rest in extract_from_file(method, str(source), KEYWORDS, options=options.get("**.html") if method == "jinja2" else None))
        else:
            continue
        for filename, lineno, message, comments, context in found:
            path = Path(filename).resolve()
            if "translations" in path.parts:
                continue
            messages.add(message, None, [(str(path.relative_to(WEB.parent)), lineno)], auto_comments=comments, context=context)
    return messages


def po_path(catalog: Catalog) -> Path:
    return catalog.directory / "ja" / "LC_MESSAGES" / "messages.po"


def read_po(catalog: Catalog):
    from babel.messages.pofile import read_po as _read

    with po_path(catalog).open("rb") as handle:
        return _read(handle, locale="ja")


def update(catalog: Catalog) -> tuple[int, int]:
    """Merge the extracted strings into the Japanese .po and compile the .mo;
    returns (messages, untranslated)."""
    from babel.messages.catalog import Catalog as Messages
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import write_po

    template = extract(catalog)
    if not len(template) and not po_path(catalog).exists():
        return 0, 0
    po = read_po(catalog) if po_path(catalog).exists() else Messages(locale="ja", project="Touchline", charset="utf-8")
    po.update(template, no_fuzzy_matching=True)
    po_path(catalog).parent.mkdir(parents=True, exist_ok=True)
    text, compiled = io.BytesIO(), io.BytesIO()
    write_po(text, po, omit_header=False, sort_output=True, width=100, include_previous=False, ignore_obsolete=True)
    write_mo(compiled, po)
    # Rewritten only when a message changed, not for a new date in the header: no churn in git.
    if not po_path(catalog).exists() or _undated(po_path(catalog).read_bytes()) != _undated(text.getvalue()):
        po_path(catalog).write_bytes(text.getvalue())
        po_path(catalog).with_suffix(".mo").write_bytes(compiled.getvalue())
    untranslated = sum(1 for m in po if m.id and not _translated(m))
    return len([m for m in po if m.id]), untranslated


def _undated(po: bytes) -> bytes:
    return re.sub(rb'^"(POT-Creation-Date|PO-Revision-Date): .*\n', b"", po, flags=re.MULTILINE)


def _translated(message) -> bool:
    return all(message.string) if isinstance(message.string, tuple | list) else bool(message.string)


def main(argv: list[str]) -> int:
    """Update and compile every catalog (or those named: shared, rules, ...); say how many
    strings still lack Japanese, and exit 1 if any does."""
    missing = 0
    for catalog in catalogs():
        if argv and catalog.name not in argv:
            continue
        total, untranslated = update(catalog)
        if total:
            print(f"{catalog.name}: {total} messages, {untranslated} without Japanese ({po_path(catalog).relative_to(WEB.parent)})")
        missing += untranslated
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
