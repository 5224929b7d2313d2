"""Touchline engine: models, ingest, rules, evaluation, deliveries and jobs.

Plain Python and SQLAlchemy; nothing here imports Flask.
"""

__version__ = "0.1.0"
