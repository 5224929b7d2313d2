"""Why a message could not be rendered, positioned in the template file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from jinja2 import TemplateError


class RenderError(TemplateError):
    """A message failed to render; nothing of it may be sent.

    ``template`` is the message's name (``onboarding/stalled``), ``locale``
    and ``part`` (subject, html, text) say what was being rendered, ``path``
    and ``line`` where in the template files (a layout or partial when the
    fault is there), ``reason`` what went wrong, e.g. ``'contact' is undefined``.
    ``str()`` gives ``onboarding/stalled/en.html:7: html: 'contact' is undefined``.
    """

    def __init__(
        self,
        template: str,
        locale: str | None,
        part: str | None,
        reason: str,
        *,
        path: str | None = None,
        line: int | None = None,
    ) -> None:
        self.template = template
        self.locale = locale
        self.part = part
        self.reason = reason
        self.path = path
        self.line = line
        super().__init__(self._describe())

    def _describe(self) -> str:
        where = self.path or (f"{self.template}/{self.locale}.html" if self.locale else self.template)
        if self.line:
            where += f":{self.line}"
        what = f"{self.part}: {self.reason}" if self.part else self.reason
        return f"{where}: {what}"

    def __str__(self) -> str:
        return self._describe()

    def __reduce__(self):  # picklable, so it can cross an RQ job boundary
        return (_rebuild, (self.template, self.locale, self.part, self.reason, self.path, self.line))


def _rebuild(template, locale, part, reason, path, line) -> RenderError:
    return RenderError(template, locale, part, reason, path=path, line=line)


@dataclass(frozen=True)
class TemplateProblem:
    """One problem ``TemplateLibrary.check`` found: ``path:line: message``."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}" if self.line else f"{self.path}: {self.message}"


def template_position(tb: TracebackType | None, root: Path) -> tuple[str | None, int | None]:
    """The innermost template file and line in a traceback Jinja has rewritten."""
    found: tuple[str | None, int | None] = (None, None)
    root_text = str(root)
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(root_text) and filename.endswith((".html", ".txt")):
            found = (relative(filename, root), tb.tb_lineno)
        tb = tb.tb_next
    return found


def relative(filename: str, root: Path) -> str:
    try:
        return Path(filename).relative_to(root).as_posix()
    except ValueError:
        return filename
