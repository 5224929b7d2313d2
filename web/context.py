"""Access to the app's settings and database from inside a request."""

from __future__ import annotations

from flask import current_app

from engine.db import Database
from engine.settings import Settings

SETTINGS_KEY = "touchline.settings"
DATABASE_KEY = "touchline.database"


def get_settings() -> Settings:
    return current_app.extensions[SETTINGS_KEY]


def get_db() -> Database:
    return current_app.extensions[DATABASE_KEY]
