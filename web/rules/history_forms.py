"""Forms of the history and state pages; Flask-WTF adds and checks the CSRF token."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length


class RollbackForm(FlaskForm):
    comment = StringField(
        _l("Why roll back"),
        validators=[DataRequired(message=_l("Say why you roll back: the comment is kept with the new version.")), Length(max=500)],
    )


class PauseForm(FlaskForm):
    reason = StringField(
        _l("Reason"),
        validators=[DataRequired(message=_l("Say why the rule is paused: the reason is shown with it.")), Length(max=500)],
    )


class ResumeForm(FlaskForm):
    """Only the CSRF token: resuming needs no reason."""
