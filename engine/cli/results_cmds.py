"""``touchline results measure``: one goal outcomes pass now (engine.results.outcomes)."""

from __future__ import annotations

import click


@click.group("results")
def results_group() -> None:
    """Rules measured against their goals and holdout groups."""


@results_group.command("measure")
@click.option("--full", is_flag=True, help="Look at every delivery and event again, not only what came since the last pass.")
def measure_command(full: bool) -> None:
    """Record goal outcomes now: add those of messages sent and held out, convert, close ended windows.

    The scheduler runs the same pass every 5 minutes; running it by hand as well is harmless."""
    from engine.cli.context import database
    from engine.results.outcomes import measure

    report = measure(database(), full=full)
    kind = f"full pass ({report.why_full})" if report.full else "incremental pass"
    click.echo(f"{kind}: added {report.added:,}, converted {report.converted:,}, closed {report.closed:,} "
               f"in {report.duration_ms:,} ms")  # fmt: skip
    if report.corrected:
        click.echo(f"{report.corrected:,} conversions moved earlier by events read after them")
    if report.reclocked:
        click.echo(f"{report.reclocked:,} exposures moved earlier by a send of the same firing recorded late")


def register(cli: click.Group) -> None:
    cli.add_command(results_group)
