"""Test send from the rule page: the rule's message for one account, to the signed-in user only."""

from __future__ import annotations

from flask import flash, redirect, url_for
from flask_babel import gettext as _
from flask_login import current_user

from engine.audit import user_actor
from engine.delivery.testsend import TestSendError, send_test
from web.auth.roles import role_required
from web.context import get_db, get_settings
from web.rules.forms import TestSendForm
from web.rules.views import bp


@bp.post("/<rule_id>/test-send")
@role_required("editor")
def test_send(rule_id: str):
    form = TestSendForm()
    if not form.validate_on_submit():
        flash(_("Test send needs an account id (an account's external id, such as acct-00001)."), "error")
        return redirect(url_for("rules.show_rule", rule_id=rule_id))
    try:
        result = send_test(get_db(), get_settings(), rule_id=rule_id, account_id=form.account.data.strip(),
                           to_address=current_user.email, actor=user_actor(current_user.email),
                           action_index=form.action_index.data or 0)  # fmt: skip
    except TestSendError as exc:  # no such account, rule or action: nothing was sent
        flash(_("Test send failed: %(reason)s", reason=str(exc)), "error")
    else:
        if result.sent:
            flash(_("Test message sent to %(address)s (%(subject)s).", address=result.to_address, subject=result.subject), "info")
        else:
            flash(_("Test message not sent: %(reason)s", reason=result.error or result.provider_response), "error")
    return redirect(url_for("rules.show_rule", rule_id=rule_id))
