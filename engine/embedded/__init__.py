"""The embedded run: a private Redis server, an SMTP catcher and a supervisor."""
