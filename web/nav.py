"""The admin's navigation, built from what each area registers, filtered by role."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app, request
from flask_login import current_user

from web.auth.roles import has_role

NAV_KEY = "touchline.nav"


@dataclass(frozen=True)
class NavItem:
    endpoint: str
    label: Any  # a lazy string: translated when the page renders
    role: str
    order: int

    @property
    def area(self) -> str:
        return self.endpoint.partition(".")[0]


def add_nav(app: Flask, *, endpoint: str, label: Any, role: str, order: int) -> None:
    """Show ``endpoint`` in the navigation to users with at least ``role``, sorted by ``order``."""
    items: list[NavItem] = app.extensions.setdefault(NAV_KEY, [])
    items.append(NavItem(endpoint, label, role, order))
    items.sort(key=lambda item: item.order)


def nav_items() -> list[tuple[NavItem, bool]]:
    """The items the signed-in user may see, each with whether it is the current area."""
    current = (request.endpoint or "").partition(".")[0]
    return [(item, item.area == current) for item in current_app.extensions.get(NAV_KEY, []) if has_role(current_user, item.role)]


def init_app(app: Flask) -> None:
    app.context_processor(lambda: {"nav_items": nav_items})
