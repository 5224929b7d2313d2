"""The users and API keys forms; Flask-WTF adds and checks each one's CSRF token."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, Optional

from engine.models import USER_ROLES
from web.templating import ROLE_LABELS

ROLE_CHOICES = [(role, ROLE_LABELS[role]) for role in USER_ROLES]


class CreateUserForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(), Length(max=320)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="viewer")
    password = PasswordField(_l("Initial password"), validators=[Optional(), Length(max=1024)])


class RoleForm(FlaskForm):
    role = SelectField(_l("Role"), choices=ROLE_CHOICES)


class ConfirmForm(FlaskForm):
    """No fields: its CSRF token is what makes deactivate, reactivate and revoke safe to POST."""


class ApiKeyForm(FlaskForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)])
