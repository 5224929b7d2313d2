"""Template filters the admin's pages share, and partial responses for enhanced pages.

``|dt`` renders a time in UTC inside a ``<time>`` element that names the UTC
value on hover; ``static/js/admin.js`` rewrites its text to the reader's own
clock, so without JavaScript the page still shows a correct (UTC) time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Flask, make_response, render_template, request
from flask.wrappers import Response
from flask_babel import format_date, format_decimal, get_locale
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape

# What a status or a role is called on the page; the stored value stays English.
STATUS_LABELS = {
    "pending": _l("Pending"), "queued": _l("Queued"), "sending": _l("Sending"), "sent": _l("Sent"),
    "deferred": _l("Deferred"), "suppressed": _l("Suppressed"), "held_out": _l("Held out"),
    "skipped": _l("Skipped"), "failed": _l("Failed"), "unknown": _l("Unknown"), "test": _l("Test"),
    # What the product reported of an in-app nudge (engine.inapp.nudges).
    "seen": _l("Seen"), "clicked": _l("Clicked"), "dismissed": _l("Dismissed"), "snoozed": _l("Snoozed"),
}  # fmt: skip
ROLE_LABELS = {"admin": _l("Admin"), "editor": _l("Editor"), "viewer": _l("Viewer")}


def _utc(value: datetime) -> datetime:
    # Stored times are naive UTC (engine.models.utcnow); aware ones are converted.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def dt(value: datetime | None, empty: str = "—") -> Markup:
    """A time for a table: ``2026-12-03 14:05 UTC``, shown on the reader's clock by admin.js."""
    if value is None:
        return Markup(escape(empty))
    moment = _utc(value)
    iso = moment.isoformat().replace("+00:00", "Z")
    text = moment.strftime("%Y-%m-%d %H:%M UTC")
    return Markup(f'<time datetime="{iso}" title="{moment.strftime("%Y-%m-%d %H:%M:%S UTC")}" data-local>{text}</time>')


def num(value: int | float | None, empty: str = "—") -> str:
    """A number with the reader's locale's separators: 12,345 (1,234.5)."""
    if value is None:
        return empty
    return format_decimal(value)


def date_(value: date | datetime | None, empty: str = "—") -> str:
    if value is None:
        return empty
    return format_date(_utc(value).date() if isinstance(value, datetime) else value, format="medium")


def compact(mapping: dict[str, Any]) -> dict[str, Any]:
    """Drop the None values (WTForms would print them as "None")."""
    return {k: v for k, v in mapping.items() if v is not None}


def status_label(status: str) -> str:
    return str(STATUS_LABELS.get(status, status))


def role_label(role: str) -> str:
    return str(ROLE_LABELS.get(role, role))


def current_locale() -> str:
    locale = get_locale()
    return locale.language if locale else "en"


def render_page(page: str, part: str, status: int = 200, **context: Any) -> Response:
    """The whole page, or only ``part`` when the request comes from the page's own script
    (``X-Requested-With: fetch`` or htmx), which swaps it in place."""
    partial = (request.headers.get("HX-Request") and not request.headers.get("HX-History-Restore-Request")) or (
        request.headers.get("X-Requested-With") == "fetch"
    )
    response = make_response(render_template(part if partial else page, **context), status)
    response.vary.add("HX-Request")
    response.vary.add("X-Requested-With")
    return response


def init_app(app: Flask) -> None:
    app.add_template_filter(dt, "dt")
    app.add_template_filter(num, "num")
    app.add_template_filter(date_, "date")
    app.add_template_filter(compact, "compact")
    app.add_template_global(status_label, "status_label")
    app.add_template_global(role_label, "role_label")
    app.add_template_global(current_locale, "current_locale")
