"""The admin's language: chosen from the header, remembered with the user."""

from __future__ import annotations

from flask import abort, flash, g, redirect, request
from flask_babel import gettext as _
from flask_babel import refresh
from flask_login import current_user, login_required

from engine.preferences import ADMIN_LOCALES, set_user_locale
from web.auth.views import _safe_next, bp
from web.context import get_db


@bp.post("/language")
@login_required
def set_language():
    locale = request.form.get("locale", "")
    if locale not in ADMIN_LOCALES:
        abort(400, description=_("Choose English or Japanese."))
    with get_db().session() as session:
        set_user_locale(session, current_user.id, locale)
    g.locale = locale  # the signed-in user was loaded before the change
    refresh()  # so the flash below is already in the new language
    flash(_("Language changed."), "info")
    return redirect(_safe_next(request.form.get("next")))
