"""``touchline demo``: seed a realistic, deterministic demo dataset."""

from __future__ import annotations

import os
from datetime import datetime

import click

from engine.cli.context import database

# engine.demo is imported inside the command (it pulls in SQLAlchemy);
# these mirror engine.demo.generate's MIN_DAYS and CAMPAIGN_MIN_DAYS (a test keeps them equal).
MIN_DAYS = 35
CAMPAIGN_MIN_DAYS = 60
CAMPAIGN_RULE = "onboarding-stalled-day7"


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
@click.option(
    "--plant-uplift", "uplift", type=click.FloatRange(-100, 100), default=None, metavar="POINTS",
    help=f"Also plant a past campaign of {CAMPAIGN_RULE} whose nudged accounts convert POINTS percentage "
    "points more often than its holdout (negative: less); touchline results reads it back.",
)  # fmt: skip
@click.option("--cohort", type=click.IntRange(1, 100_000), default=2000, show_default=True,
              help="Accounts the planted campaign reached (with --plant-uplift).")  # fmt: skip
@click.option("--control-rate", type=click.FloatRange(0, 100), default=20.0, show_default=True, metavar="PERCENT",
              help="How often the planted campaign's held-out accounts convert (with --plant-uplift).")  # fmt: skip
@click.option("--rules", "rules_dir", type=click.Path(file_okay=False), default="rules", show_default=True,
              help=f"Where to find {CAMPAIGN_RULE} if it is not applied yet (with --plant-uplift).")  # fmt: skip
def demo_command(
    accounts: int, seed_: int, days: int, reference: datetime | None, force: bool, uplift: float | None, cohort: int,
    control_rate: float, rules_dir: str,
) -> None:
    """Fill the database with demo accounts, contacts and events.

    Accounts follow archetypes (healthy, stalled onboarding, falling
    key-feature usage, owner changed, renewal approaching, churned, ...);
    each account's archetype is in its traits.archetype.

    With --plant-uplift, also a past campaign with a known effect: a cohort
    of tech-touch accounts that stalled after signing up, were reached by
    onboarding-stalled-day7 (held out or nudged, by the rule's own draw) and
    created their first project with the planted probabilities. The rule is
    applied from --rules if it is not yet, and the campaign's deliveries are
    recorded; `touchline results measure`, then `touchline results
    onboarding-stalled-day7` should find the uplift.
    """
    from engine.demo import DemoRefused, reference_time, seed

    from datetime import datetime, timedelta, timezone

    from engine.settings import event_retention_days

    ctx = click.get_current_context()
    given = [f"--{name.replace('_', '-')}" for name in ("cohort", "control_rate")
             if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE]  # fmt: skip
    if uplift is None and given:
        verb = "describes" if len(given) == 1 else "describe"
        raise click.UsageError(f"{' and '.join(given)} {verb} the planted campaign: give --plant-uplift too")
    if uplift is not None and days < CAMPAIGN_MIN_DAYS:
        raise click.BadParameter(f"a planted campaign needs at least {CAMPAIGN_MIN_DAYS} days of history", param_hint="--days")
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

    campaign = source = None
    if uplift is not None:
        campaign, source = _campaign(db, rules_dir, uplift / 100, control_rate / 100, cohort)
    try:
        summary = seed(db, accounts=accounts, seed=seed_, days=days, now=ref, force=force, on_progress=report,
                       campaign=campaign)  # fmt: skip
    except DemoRefused as exc:
        raise click.ClickException(f"not seeding: {exc}") from None
    tiers = ", ".join(f"{k} {v}" for k, v in summary["tiers"].items())
    archetypes = ", ".join(f"{k} {v}" for k, v in summary["archetypes"].items())
    click.echo(
        f"seeded {summary['accounts']} accounts ({tiers}), {summary['contacts']} contacts, "
        f"{summary['events']} events in {summary['seconds']:.1f} s"
    )
    click.echo(f"archetypes: {archetypes}")
    if campaign is not None:
        _plant(db, campaign, source, summary, accounts, seed_, days, ref)


def _campaign(db, rules_dir: str, uplift: float, control_rate: float, cohort: int):
    """The campaign to plant, drawn for the rule as applied, else as its file in ``rules_dir``
    (returned too, to be applied after seeding)."""
    from engine.demo.campaign import CampaignError, applied_rule, campaign_for
    from engine.rules.versions import read_rules

    with db.read_session() as session:
        try:
            found = applied_rule(session, CAMPAIGN_RULE)
        except CampaignError as exc:
            raise click.ClickException(str(exc)) from None
    source = None
    if found is not None:
        rule = found[1]
    else:
        loaded = read_rules([rules_dir]) if os.path.isdir(rules_dir) else None
        source = next((s for s in loaded.rules if s.rule.id == CAMPAIGN_RULE), None) if loaded else None
        if source is None:
            problem = next((p for p in loaded.problems if CAMPAIGN_RULE in str(p.source)), None) if loaded else None
            why = f": {problem}" if problem else ""
            raise click.ClickException(f"--plant-uplift needs the rule {CAMPAIGN_RULE}: it is not applied and "
                                       f"{rules_dir}/ has no valid {CAMPAIGN_RULE}.yaml{why} (see --rules)")  # fmt: skip
        rule = source.rule
    try:
        return campaign_for(rule, uplift=uplift, control_rate=control_rate, cohort=cohort), source
    except (CampaignError, ValueError) as exc:
        raise click.ClickException(f"cannot plant the campaign: {exc}") from None


def _plant(db, campaign, source, summary, accounts: int, seed_: int, days: int, ref) -> None:
    from engine.audit import cli_actor
    from engine.demo.campaign import CampaignError, record_campaign
    from engine.demo.generate import build_plan
    from engine.rules.apply import apply_sources
    from engine.rules.drift import AdminEditsDrift

    c = summary["cohort"]
    click.echo(
        f"planted: a past campaign of {campaign.rule_id} reaching {campaign.cohort:,} accounts (acct-c00001...): "
        f"{c['treated']:,} nudged, {c['control']:,} held out ({campaign.holdout:g}%); converting with probability "
        f"{campaign.treated_rate:.1%} nudged, {campaign.control_rate:.1%} held out ({campaign.uplift * 100:+g} points); "
        f"drawn: {c['treated_converted']:,} and {c['control_converted']:,} converted"
    )
    if source is not None:
        try:
            with db.session() as session:
                applied = apply_sources(session, [source], actor=cli_actor(), origin="file", author="touchline demo")
        except AdminEditsDrift as exc:
            raise click.ClickException(str(exc)) from None
        click.echo(f"applied {source.rule.source} as version {applied[0].version} (the planted campaign's rule)")
    plan = build_plan(accounts, seed_, days, ref, campaign=campaign)
    try:
        recorded = record_campaign(db, plan)
    except CampaignError as exc:
        raise click.ClickException(f"the campaign's accounts are seeded but its deliveries are not recorded: {exc}") from None
    if recorded.accounts:
        click.echo(
            f"recorded its deliveries (version {recorded.version}): {recorded.sent:,} sent to {recorded.treated:,} "
            f"accounts, {recorded.held_out:,} held out for {recorded.control:,}"
            + (f", {recorded.other:,} accounts in neither arm" if recorded.other else "")
        )
    if recorded.already:
        click.echo(f"{recorded.already:,} of its accounts were recorded before: left as they were")
    click.echo(f"read it back: touchline results measure && touchline results {campaign.rule_id}")


def register(cli: click.Group) -> None:
    cli.add_command(demo_command)
