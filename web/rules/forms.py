"""The workbench's forms; Flask-WTF adds and checks the CSRF token."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange

MAX_RULE_CHARS = 200_000


class RuleForm(FlaskForm):
    """The editor: the rule's YAML and, to save it, a comment for its version history."""

    text = TextAreaField(_l("Rule (YAML)"), validators=[DataRequired(), Length(max=MAX_RULE_CHARS)])
    comment = StringField(_l("Comment"), validators=[DataRequired(message=_l("Say what this change is for: the comment is kept with the version.")), Length(max=500)])


class SegmentForm(FlaskForm):
    """A segment's YAML and the comment kept with the rule versions saving it makes."""

    text = TextAreaField(_l("Segment (YAML)"), validators=[DataRequired(), Length(max=MAX_RULE_CHARS)])
    comment = StringField(_l("Comment"), validators=[DataRequired(message=_l("Say what this change is for: the comment is kept with the version.")), Length(max=500)])


class DraftForm(FlaskForm):
    """Plan and check post the text only: nothing is saved, so no comment is asked for."""

    text = TextAreaField(_l("Rule (YAML)"), validators=[DataRequired(), Length(max=MAX_RULE_CHARS)])


class TestSendForm(FlaskForm):
    account = StringField(_l("Account id"), validators=[DataRequired(), Length(max=255)])
    # Not named "action": a field of that name would shadow the form element's own action.
    action_index = IntegerField(_l("Action"), default=0, validators=[NumberRange(min=0, max=99)])


class CancelForm(FlaskForm):
    """Cancel a running backtest: empty, for its CSRF token."""
