"""A folder of message templates, rendered per locale into subject, HTML and text.

Layout on disk (docs/templates.md)::

    <root>/<name>/<locale>.html     one message in one language, e.g. onboarding/stalled/ja.html
    <root>/_layouts/*.html          what messages extend
    <root>/_partials/*.html|.txt    what layouts and messages include or import

A message file defines three blocks, ``subject``, ``html`` and ``text``, and
extends a layout. The whole template is rendered once per part with ``part``
set to that part's name; the layout prints the matching block (and its own
frame around it). Only the html part is HTML-escaped.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import css_inline
from jinja2 import (
    FileSystemLoader,
    Template,
    TemplateError,
    TemplateNotFound,
    TemplateSyntaxError,
)

from engine.templates.context import Record, Usage
from engine.templates.errors import (
    RenderError,
    TemplateProblem,
    relative,
    template_position,
)
from engine.templates.filters import FILTERS
from engine.templates.sandbox import (
    Budget,
    LimitExceeded,
    Limits,
    SafeEnvironment,
    budgeted,
)

PARTS = ("subject", "html", "text")
DEFAULT_LOCALE = "en"
SHIPPED_LOCALES = ("en", "ja")
MAX_SUBJECT_CHARS = 255
NAME = re.compile(r"[a-z0-9][a-z0-9_-]*(?:/[a-z0-9][a-z0-9_-]*)*")
_LOCALE = re.compile(r"[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*")
_BLANK_LINES = re.compile(r"\n{3,}")
# Remote (and local file) stylesheets are never loaded: rendering stays offline.
_INLINER = css_inline.CSSInliner(load_remote_stylesheets=False, keep_at_rules=True)


@dataclass(frozen=True)
class Rendered:
    """One message, ready for any channel.

    Email sends all three parts; an in-app nudge shows ``subject`` as its
    title and ``html`` (or ``text``) as its body; a webhook posts them all.
    """

    subject: str
    html: str
    text: str
    template: str
    locale: str
    # An in-app nudge's call to action: the template's cta_label and cta_url blocks, if it has them.
    cta_label: str = ""
    cta_url: str = ""


def normalize_locale(value: str | None) -> str | None:
    """``ja_jp`` -> ``ja-JP``; None for anything that is not a locale tag."""
    if not value or not isinstance(value, str):
        return None
    pieces = value.strip().replace("_", "-").split("-")
    out = [pieces[0].lower()]
    for piece in pieces[1:]:
        if len(piece) == 2 and piece.isalpha():
            out.append(piece.upper())  # region
        elif len(piece) == 4 and piece.isalpha():
            out.append(piece.title())  # script
        else:
            out.append(piece.lower())
    tag = "-".join(out)
    return tag if _LOCALE.fullmatch(tag) else None


def locale_chain(contact_locale: str | None, account_locale: str | None, default: str = DEFAULT_LOCALE) -> list[str]:
    """The locales to try, best first: ``('ja-JP', 'en-US')`` -> ``['ja-JP', 'ja', 'en-US', 'en']``.

    Each locale is followed by its shorter forms; invalid or empty ones are
    skipped; ``default`` comes last.
    """
    chain: list[str] = []
    for given in (contact_locale, account_locale, default):
        tag = normalize_locale(given)
        if tag is None:
            continue
        pieces = tag.split("-")
        for n in range(len(pieces), 0, -1):
            candidate = "-".join(pieces[:n])
            if candidate not in chain:
                chain.append(candidate)
    return chain


class TemplateLibrary:
    """The message templates under ``root``; safe to share between threads."""

    def __init__(self, root: Path | str, limits: Limits | None = None) -> None:
        self.root = Path(root).resolve()
        self.limits = limits or Limits()
        self.env = SafeEnvironment(FileSystemLoader(str(self.root), followlinks=False), self.limits, not_text=not_text)
        for name, func in FILTERS.items():
            self.env.add_filter(name, func)

    # -- finding templates --

    def names(self) -> list[str]:
        """Every message template on disk (folders holding ``<locale>.html`` files)."""
        found = set()
        for path in self.files():
            rel = path.relative_to(self.root)
            if not _private(rel) and len(rel.parts) >= 2 and path.suffix == ".html":
                found.add(rel.parent.as_posix())
        return sorted(found)

    def locales(self, name: str) -> list[str]:
        """The locales ``name`` is written in."""
        folder = self.root / name
        if not NAME.fullmatch(name) or not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.html") if normalize_locale(p.stem) == p.stem)

    def choose(self, name: str, locales: Sequence[str]) -> str:
        """The first locale in ``locales`` that ``name`` exists in; RenderError if none."""
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise RenderError(str(name), None, None, "not a template name: expected lowercase words separated by '/', such as onboarding/stalled")
        tried = []
        for given in locales:
            locale = normalize_locale(given)
            if locale is None or locale in tried:
                continue
            tried.append(locale)
            if (self.root / name / f"{locale}.html").is_file():
                return locale
        looked = ", ".join(f"{name}/{loc}.html" for loc in tried) or "no valid locale given"
        raise RenderError(name, None, None, f"no template {name!r} in {self.root} (looked for {looked})")

    # -- rendering --

    def render(self, name: str, locales: Sequence[str], context: Mapping[str, Any]) -> Rendered:
        """Render all three parts of ``name`` in the first available locale of ``locales``.

        ``locales`` is usually ``locale_chain(contact.locale, account.locale)``;
        ``context`` usually ``build_context(...)``. Raises RenderError (naming
        file, line and reason) if anything is missing, unsafe or too big: the
        message is then not to be sent at all.
        """
        locale = self.choose(name, locales)
        file = f"{name}/{locale}.html"
        template = self._load(name, locale, file)
        values = dict(context)
        values["locale"] = locale
        with budgeted(self.limits) as budget:
            values["part"] = "subject"
            subject = " ".join(self._part(template, values, name, locale, "subject", budget).split())
            if not subject:
                raise RenderError(name, locale, "subject", "the subject is empty", path=file)
            if len(subject) > MAX_SUBJECT_CHARS:
                raise RenderError(name, locale, "subject", f"the subject is longer than {MAX_SUBJECT_CHARS} characters", path=file)
            values["subject"] = subject
            values["part"] = "html"
            html = self._part(template, values, name, locale, "html", budget).strip()
            values["part"] = "text"
            text = _tidy_text(self._part(template, values, name, locale, "text", budget))
            cta_label = cta_url = ""
            if "cta_label" in template.blocks:
                values["part"] = "cta_label"
                cta_label = " ".join(self._part(template, values, name, locale, "cta_label", budget).split())
                values["part"] = "cta_url"
                cta_url = self._part(template, values, name, locale, "cta_url", budget).strip()
        for part, value in (("html", html), ("text", text)):
            if not value:
                raise RenderError(name, locale, part, f"the {part} part is empty", path=file)
        try:
            html = inline_css(html)
        except (css_inline.InlineError, ValueError) as exc:
            raise RenderError(name, locale, "html", f"CSS could not be inlined: {exc}", path=file) from None
        if len(html.encode("utf-8")) > self.limits.max_part_bytes:
            raise RenderError(name, locale, "html", f"the html part is larger than {self.limits.max_part_bytes} bytes", path=file)
        return Rendered(subject=subject, html=html, text=text, template=name, locale=locale, cta_label=cta_label, cta_url=cta_url)

    def _load(self, name: str, locale: str, file: str) -> Template:
        try:
            return self.env.get_template(file)
        except TemplateSyntaxError as exc:
            path = relative(exc.filename, self.root) if exc.filename else file
            raise RenderError(name, locale, None, exc.message or "syntax error", path=path, line=exc.lineno) from None
        except TemplateNotFound as exc:
            raise RenderError(name, locale, None, f"template file {exc.name} not found", path=file) from None
        except (TemplateError, OSError, UnicodeDecodeError) as exc:
            raise RenderError(name, locale, None, str(exc), path=file) from None
        except (RecursionError, SyntaxError, MemoryError):
            # Python's own limits on the code Jinja generates from the template.
            raise RenderError(name, locale, None, "nested too deeply: split the template into smaller macros or partials", path=file) from None

    def _part(self, template: Template, values: dict[str, Any], name: str, locale: str, part: str, budget: Budget) -> str:
        out: list[str] = []
        size, exact = 0, False
        stream = template.generate(values)
        try:
            for chunk in stream:
                # Counted as 4 bytes a character (UTF-8's most) until that passes the limit;
                # from then on, exactly: encoding every chunk cost a tenth of the rendering.
                if exact:
                    size += len(chunk.encode("utf-8"))
                else:
                    size += len(chunk) * 4
                    if size > self.limits.max_part_bytes:
                        exact = True
                        size = sum(len(c.encode("utf-8")) for c in out) + len(chunk.encode("utf-8"))
                if size > self.limits.max_part_bytes:
                    raise LimitExceeded(f"the {part} part is larger than {self.limits.max_part_bytes} bytes")
                budget.charge(0)  # checks the clock between chunks
                out.append(chunk)
        except TemplateSyntaxError as exc:  # in an included or extended file, compiled on first use
            path = relative(exc.filename, self.root) if exc.filename else f"{name}/{locale}.html"
            raise RenderError(name, locale, part, exc.message or "syntax error", path=path, line=exc.lineno) from None
        except RecursionError:
            raise RenderError(name, locale, part, "templates call each other too deeply (recursion)", path=f"{name}/{locale}.html") from None
        except MemoryError:
            raise RenderError(name, locale, part, "out of memory while rendering", path=f"{name}/{locale}.html") from None
        except Exception as exc:  # noqa: BLE001 -- any fault of the template: fail this delivery, with its position
            path, line = template_position(exc.__traceback__ or sys.exc_info()[2], self.root)
            reason = str(exc) if isinstance(exc, TemplateError) else f"{type(exc).__name__}: {exc}"
            if isinstance(exc, TemplateNotFound):
                reason = f"template file {exc.name} not found"
            raise RenderError(name, locale, part, reason, path=path or f"{name}/{locale}.html", line=line) from None
        finally:
            stream.close()
        text = "".join(out)
        try:
            text.encode("utf-8")  # once per part: the size estimate above never encodes
        except UnicodeEncodeError as exc:
            raise RenderError(name, locale, part, f"the output is not valid text ({exc.reason} at character {exc.start})",
                              path=f"{name}/{locale}.html") from None  # fmt: skip
        return text

    # -- checking --

    def check(self, required: Iterable[str] = (), locales: Sequence[str] = SHIPPED_LOCALES) -> list[TemplateProblem]:
        """Every problem in the folder; ``required`` names must exist in every one of ``locales``."""
        from engine.templates.check import check_library

        return check_library(self, required, locales)

    def files(self) -> list[Path]:
        """Every template file under the root (messages, layouts, partials)."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.rglob("*") if p.is_file() and p.suffix in (".html", ".txt"))


def not_text(value: Any) -> str | None:
    """Why a context value cannot be printed whole, or None: a record's or usage's
    str() is its Python repr, which must never reach a recipient."""
    if isinstance(value, Record):
        label = object.__getattribute__(value, "_label")
        example = {"owner": "owner.email"}.get(label, f"{label}.name")
        return f"{label} is a record, not text: print one of its fields, such as {example}"
    if isinstance(value, Usage):
        return "usage is not text: print a count, such as usage.count('login', 30)"
    return None


def _private(rel: Path) -> bool:
    return any(part.startswith("_") for part in rel.parts)


def _tidy_text(text: str) -> str:
    lines = [line.rstrip() for line in text.strip("\n").splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def inline_css(html: str) -> str:
    """Move ``<style>`` rules into style attributes (what most mail clients need).

    Only whole documents are inlined; an in-app fragment is returned as is.
    """
    if "<html" not in html[:2048].lower():
        return html
    return _INLINER.inline(html)
