"""Security headers on every response, the Content-Security-Policy of every page, and "/".

The policy allows scripts and styles from this site's own files only (``/static``),
never inline: an injected ``<script>`` or ``onclick`` does not run. In production,
Strict-Transport-Security tells browsers to come back over HTTPS only.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, Response, make_response, redirect, request, url_for

from engine.settings import Settings

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "object-src": "'none'",
    "base-uri": "'none'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}
# A message's HTML (as sent, or a preview) inside the admin's sandboxed iframe: no script, no
# same-origin powers, nothing loaded but its inline styles and images.
MESSAGE_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data: https:; frame-ancestors 'self'"
HSTS = "max-age=31536000"  # a year; no includeSubDomains: other hosts of the domain are not ours to decide


def sandboxed_html(html: str) -> Response:
    """An email's HTML part for an iframe of the admin's own pages, under MESSAGE_CSP."""
    response = make_response(html)
    response.mimetype = "text/html"
    response.headers["Content-Security-Policy"] = MESSAGE_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    response.headers["Cache-Control"] = "private, no-store"
    return response


def content_security_policy(image_origins: tuple[str, ...] = ()) -> str:
    policy = {**CSP, "img-src": " ".join([CSP["img-src"], *image_origins])}
    return "; ".join(f"{name} {value}" for name, value in policy.items())


def logo_origin(settings: Settings) -> tuple[str, ...]:
    """The recipients' pages show the sender's logo (TOUCHLINE_BRAND_LOGO_URL) from the sender's own site."""
    if not settings.brand.logo_url:
        return ()
    parts = urlsplit(settings.brand.logo_url)
    return (f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}",)  # a source has no user:password@


def init_app(app: Flask, settings: Settings) -> None:
    default = content_security_policy()
    policies = {"unsubscribe": content_security_policy(logo_origin(settings))}

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if response.mimetype == "text/html":
            response.headers.setdefault("Content-Security-Policy", policies.get(request.blueprint or "", default))
        if settings.production:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    @app.get("/")
    def index():
        return redirect(url_for("admin.dashboard"))
