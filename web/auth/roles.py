"""Role checks for admin pages: admin > editor > viewer."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from flask import abort
from flask_login import current_user, login_required

from engine.models import USER_ROLES

P = ParamSpec("P")
R = TypeVar("R")

# USER_ROLES is ordered from most to least powerful.
RANK = {role: len(USER_ROLES) - i for i, role in enumerate(USER_ROLES)}


def has_role(user, role: str) -> bool:
    return bool(getattr(user, "is_authenticated", False)) and RANK.get(user.role, 0) >= RANK[role]


def role_required(role: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Require a signed-in user with at least ``role``; 403 for a lesser role."""
    if role not in RANK:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(USER_ROLES)}")

    def decorator(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def wrapped(*args: P.args, **kwargs: P.kwargs) -> R:
            if not has_role(current_user, role):
                abort(403, description=f"This page needs the {role} role.")
            return view(*args, **kwargs)

        guarded = login_required(wrapped)
        # Read by the access test, which walks the URL map: every admin view names its role.
        guarded.required_role = role  # type: ignore[attr-defined]
        return guarded

    return decorator
