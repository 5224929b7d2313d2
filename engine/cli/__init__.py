"""The ``touchline`` command line. Each area lives in its own module."""

from __future__ import annotations

import sys

import click

from engine.cli import (
    accounts_cmds, admin_cmds, apply_cmds, audit_cmds, db_cmds, delivery_cmds, demo_cmds, import_cmds, rules_cmds, run_cmds, template_cmds, up_cmds,
    inapp_cmds, results_cmds, suppression_cmds, versions_cmds,
)  # fmt: skip
from engine.settings import SettingsError


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="touchline")
def cli() -> None:
    """Touchline: tech-touch customer success engine."""
    from engine.embedded.process import exit_when_orphaned

    # A child of ``touchline up`` never outlives it, even if its own stop hangs.
    exit_when_orphaned()


for module in (db_cmds, admin_cmds, import_cmds, demo_cmds, run_cmds, up_cmds, rules_cmds, apply_cmds, template_cmds,
               delivery_cmds, suppression_cmds, versions_cmds, audit_cmds, accounts_cmds, inapp_cmds, results_cmds):  # fmt: skip
    module.register(cli)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except SettingsError as exc:
        click.echo(f"touchline: configuration error: {exc}", err=True)
        sys.exit(2)
