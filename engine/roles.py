"""Admin roles, strongest first. Kept free of imports so the CLI starts fast."""

USER_ROLES = ("admin", "editor", "viewer")
