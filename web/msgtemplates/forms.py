"""The preview page's test send: the account and locale shown, posted with a CSRF token."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, StringField
from wtforms.validators import DataRequired, Length


class TestSendForm(FlaskForm):
    __test__ = False  # not a pytest class

    account = StringField(_l("Account id"), validators=[DataRequired(), Length(max=255)])
    locale = HiddenField()
