"""Keyset pages: opaque cursors for the last row seen, and links that keep the other filters.

A cursor is the sort key of the row a page ended on, as URL-safe base64 of
JSON. It is not secret (it holds what the page already shows); a cursor that
was altered or truncated is refused with a 400 that says so, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from flask import request, url_for
from werkzeug.exceptions import BadRequest

BAD_CURSOR = "The page link is damaged (its cursor cannot be read). Go back to the first page and page forward again."


def encode_cursor(*values: Any) -> str:
    """``values`` (ints, text, datetimes, None) as one opaque token."""
    plain = [{"t": v.isoformat()} if isinstance(v, datetime) else v for v in values]
    raw = json.dumps(plain, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str | None, *kinds: type) -> tuple[Any, ...] | None:
    """The values of a cursor made by ``encode_cursor``, checked against ``kinds``
    (int, str, datetime); None when there is none; BadRequest when it is damaged."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        plain = json.loads(raw)
        if not isinstance(plain, list) or len(plain) != len(kinds):
            raise ValueError("wrong length")
        return tuple(_value(item, kind) for item, kind in zip(plain, kinds, strict=True))
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest(BAD_CURSOR) from None


def _value(item: Any, kind: type) -> Any:
    if item is None:
        return None
    if kind is datetime:
        if not isinstance(item, dict) or not isinstance(item.get("t"), str):
            raise ValueError("not a time")
        return datetime.fromisoformat(item["t"])
    if kind is int and (isinstance(item, bool) or not isinstance(item, int)):
        raise ValueError("not an integer")
    if kind is str and not isinstance(item, str):
        raise ValueError("not text")
    return item


def url_with(**changes: Any) -> str:
    """This page's URL with ``changes`` to its query (None removes a key); the other filters stay."""
    args: dict[str, Any] = {k: v for k, v in request.args.items(multi=False)}
    for key, value in changes.items():
        if value is None:
            args.pop(key, None)
        else:
            args[key] = value
    return url_for(request.endpoint or "", **(request.view_args or {}), **args)
