"""Placeholder: filled in by its own area."""

import click


def register(cli: click.Group) -> None:
    pass
