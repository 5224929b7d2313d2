"""Where a recipient unsubscribes, and the RFC 8058 headers that point there."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

ONE_CLICK = "List-Unsubscribe=One-Click"
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _base(base_url: str) -> str:
    parts = urlsplit(base_url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ValueError(f"base_url {base_url!r}: expected the public address, such as https://touchline.example.com")
    return base_url.rstrip("/")


def unsubscribe_url(base_url: str, token: str) -> str:
    """GET: a confirmation page; POST: unsubscribe at once (one-click)."""
    return f"{_base(base_url)}/u/{quote(token, safe='')}"


def preferences_url(base_url: str, token: str) -> str:
    """The recipient's page to leave or re-join categories."""
    return f"{_base(base_url)}/preferences/{quote(token, safe='')}"


def list_unsubscribe_headers(base_url: str, token: str, mailto: str | None = None) -> dict[str, str]:
    """``List-Unsubscribe`` and ``List-Unsubscribe-Post`` for a non-operational message.

    RFC 8058 one-click needs an https URL; mail providers ignore plain http.
    Plain http is accepted only for a loopback host, for local runs.
    ``mailto``, if given, is offered as a second way (``<mailto:x?subject=unsubscribe>``).
    """
    parts = urlsplit(base_url)
    if parts.scheme != "https" and (parts.hostname or "") not in _LOOPBACK:
        raise ValueError(
            f"base_url {base_url!r}: one-click unsubscribe (RFC 8058) needs an https URL; "
            "plain http is only accepted for 127.0.0.1/localhost"
        )
    targets = [f"<{unsubscribe_url(base_url, token)}>"]
    if mailto:
        if "@" not in mailto or any(c in mailto for c in "<>\r\n ,"):
            raise ValueError(f"mailto {mailto!r}: expected a plain address such as unsubscribe@example.com")
        targets.append(f"<mailto:{mailto}?subject=unsubscribe>")
    return {"List-Unsubscribe": ", ".join(targets), "List-Unsubscribe-Post": ONE_CLICK}
