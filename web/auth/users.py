"""The signed-in user as Flask-Login sees it, reloaded from the database per request.

Reloading each request means a deactivated user or a changed role takes
effect at once, not when the session cookie expires. The session's id is
``<user id>:<session generation>``: sign-out, a password change and
deactivation raise the user's generation (``engine.auth.end_sessions``), and
every session (or copied cookie) that began under an older one is refused.
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
    generation: int = 0
    locale: str | None = None  # the admin language the user chose; None follows the browser

    is_authenticated = True
    is_active = True
    is_anonymous = False

    def get_id(self) -> str:
        return f"{self.id}:{self.generation}"

    @classmethod
    def from_model(cls, user: User) -> SignedInUser:
        return cls(id=user.id, email=user.email, role=user.role, generation=user.session_generation, locale=user.locale)


@login_manager.user_loader
def load_user(session_id: str) -> SignedInUser | None:
    uid, _, generation = session_id.partition(":")
    try:
        uid_number, generation_number = int(uid), int(generation)
    except ValueError:
        return None  # malformed, or from before sessions carried a generation: sign in again
    with get_db().read_session() as session:
        user = session.get(User, uid_number)
        if user is None or not user.active or user.session_generation != generation_number:
            return None
        return SignedInUser.from_model(user)
