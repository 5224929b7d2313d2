"""Background work on RQ: queues, the worker, the cron scheduler and the periodic tick.

Jobs carry ids only; the database is the source of truth.
"""
