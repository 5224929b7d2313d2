"""In-app nudges for the product: its app id and keys (keys.py), identity tokens (tokens.py),
and what the nudge API reads and records (nudges.py)."""
