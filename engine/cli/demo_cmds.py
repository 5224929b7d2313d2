"""``touchline demo``: seed a realistic, deterministic demo dataset."""

from __future__ import annotations

from datetime import datetime

import click

from engine.cli.context import database

# engine.demo is imported inside the command (it pulls in SQLAlchemy);
# this mirrors engine.demo.generate.MIN_DAYS (a test keeps them equal).
MIN_DAYS = 35


@click.command("demo")
@click.option("--accounts", type=click.IntRange(1, 100_000), default=2000, show_default=True)
@click.option("--seed", "seed_", type=int, default=42, show_default=True, help="Same seed and date: identical data.")
@click.option("--days", type=click.IntRange(MIN_DAYS, 730), default=90, show_default=True, help="Days of event history.")
@click.option(
    "--date",
    "reference",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Reference day (UTC) the data is built around. Default: today.",
)
@click.option("--force", is_flag=True, help="Seed even though the database already has accounts.")
def demo_command(accounts: int, seed_: int, days: int, reference: datetime | None, force: bool) -> None:
    """Fill the database with demo accounts, contacts and events.

    Accounts follow archetypes (healthy, stalled onboarding, falling
    key-feature usage, owner changed, renewal approaching, churned, ...);
    each account's archetype is in its traits.archetype.
    """
    from engine.demo import DemoRefused, reference_time, seed

    from datetime import datetime, timedelta, timezone

    from engine.settings import event_retention_days

    db = database()
    ref = reference_time(reference.date() if reference else None)
    retention = event_retention_days()
    if ref - timedelta(days=days) < datetime.now(timezone.utc) - timedelta(days=retention):
        raise click.ClickException(
            f"{days} days of history up to {ref:%Y-%m-%d} reach further back than the raw-event retention "
            f"({retention} days, TOUCHLINE_EVENT_RETENTION_DAYS): use fewer --days, a later --date, or a longer retention"
        )

    def report(stage: str, count: int) -> None:
        if stage == "start":
            click.echo(f"seeding {count} accounts, {days} days of events up to {ref:%Y-%m-%d} (seed {seed_})...")

    try:
        summary = seed(db, accounts=accounts, seed=seed_, days=days, now=ref, force=force, on_progress=report)
    except DemoRefused as exc:
        raise click.ClickException(f"not seeding: {exc}") from None
    tiers = ", ".join(f"{k} {v}" for k, v in summary["tiers"].items())
    archetypes = ", ".join(f"{k} {v}" for k, v in summary["archetypes"].items())
    click.echo(
        f"seeded {summary['accounts']} accounts ({tiers}), {summary['contacts']} contacts, "
        f"{summary['events']} events in {summary['seconds']:.1f} s"
    )
    click.echo(f"archetypes: {archetypes}")


def register(cli: click.Group) -> None:
    cli.add_command(demo_command)
