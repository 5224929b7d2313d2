"""The signed-in user as Flask-Login sees it, reloaded from the database per request.

Reloading each request means a deactivated user or a changed role takes
effect at once, not when the session cookie expires.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask_login import LoginManager

from engine.models import User
from web.context import get_db

login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = "Please sign in to see that page."
login_manager.login_message_category = "info"


@dataclass(frozen=True)
class SignedInUser:
    id: int
    email: str
    role: str

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return str(self.id)

    @classmethod
    def from_model(cls, user: User) -> SignedInUser:
        return cls(id=user.id, email=user.email, role=user.role)


@login_manager.user_loader
def load_user(user_id: str) -> SignedInUser | None:
    try:
        uid = int(user_id)
    except ValueError:
        return None
    with get_db().read_session() as session:
        user = session.get(User, uid)
        if user is None or not user.active:
            return None
        return SignedInUser.from_model(user)
