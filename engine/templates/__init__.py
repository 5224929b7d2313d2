"""Message templates: sandboxed Jinja per locale, rendered to subject, HTML and text.

    library = TemplateLibrary(settings.templates_dir)
    context = build_context(session, account_id, contact_id, links, now)
    rendered = library.render("onboarding/stalled", locale_chain(contact_locale, account_locale), context)

See docs/templates.md.
"""

from engine.templates.context import (
    CONTEXT_VARIABLES,
    ContextError,
    Usage,
    build_context,
    context_for,
    rule_record,
)
from engine.templates.errors import RenderError, TemplateProblem
from engine.templates.library import (
    PARTS,
    Rendered,
    TemplateLibrary,
    inline_css,
    locale_chain,
    normalize_locale,
)
from engine.templates.sandbox import LimitExceeded, Limits

__all__ = [
    "CONTEXT_VARIABLES",
    "PARTS",
    "ContextError",
    "LimitExceeded",
    "Limits",
    "RenderError",
    "Rendered",
    "TemplateLibrary",
    "TemplateProblem",
    "Usage",
    "build_context",
    "context_for",
    "inline_css",
    "locale_chain",
    "normalize_locale",
    "rule_record",
]
