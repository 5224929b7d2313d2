"""``touchline templates check`` and ``touchline render``: message templates before they are sent."""

from __future__ import annotations

import sys
from pathlib import Path

import click

PARTS = ("subject", "html", "text")


def _library(root: str | None):
    from engine.cli.context import settings
    from engine.templates import TemplateLibrary

    return TemplateLibrary(Path(root) if root else settings().templates_dir)


@click.group("templates")
def templates_group() -> None:
    """Message templates (email and in-app): list, check and test-send them."""


@templates_group.command("check")
@click.option("--dir", "root", default=None, type=click.Path(file_okay=False), help="Templates folder.  [default: TOUCHLINE_TEMPLATES_DIR]")
@click.option("--rules", "rules_dir", default="rules", show_default=True, type=click.Path(file_okay=False), help="Rules whose templates must exist (skipped if the folder is missing).")
@click.option("--locale", "locales", multiple=True, default=("en", "ja"), show_default=True, help="A locale every template must have; repeat for more.")
def check_command(root: str | None, rules_dir: str, locales: tuple[str, ...]) -> None:
    """Check every template: syntax, the subject/html/text parts, locales,
    layouts and partials that exist, variables the context has, and that
    each template a rule uses exists. Every problem is printed as
    file:line: message; exit status 1 if there is any."""
    library = _library(root)
    required: list[str] = []
    if Path(rules_dir).is_dir():
        from engine.rules.validate import check_paths

        # Rule problems are `touchline rules check`'s to report; only the names matter here.
        required = sorted({action.template for rule in check_paths([rules_dir]).rules for action in rule.actions})
    problems = library.check(required=required, locales=list(locales))
    for problem in problems:
        click.echo(str(problem))
    if problems:
        click.echo(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {library.root}", err=True)
        sys.exit(1)
    names = library.names()
    click.echo(f"ok: {len(names)} template{'s' if len(names) != 1 else ''} in {', '.join(locales)} checked, no problems")


@templates_group.command("list")
@click.option("--dir", "root", default=None, type=click.Path(file_okay=False), help="Templates folder.  [default: TOUCHLINE_TEMPLATES_DIR]")
def list_command(root: str | None) -> None:
    """Every template by folder, its locales, and the applied rules (rule, version, action) that use it."""
    from engine.cli.context import database
    from engine.templates.catalog import template_catalog

    library = _library(root)
    with database().read_session() as session:
        entries = template_catalog(session, library)
    if not entries:
        click.echo(f"no templates in {library.root}")
        return
    table = [("TEMPLATE", "LOCALES", "USED BY")]
    for entry in entries:
        uses = ", ".join(f"{u.rule_id} v{u.version} action {u.action}" + (" (paused)" if u.paused else "") for u in entry.used_by)
        table.append((entry.name, ", ".join(entry.locales) or "MISSING", uses or "-"))
    width = [max(len(row[i]) for row in table) for i in range(2)]
    for row in table:
        click.echo(f"{row[0]:<{width[0]}}  {row[1]:<{width[1]}}  {row[2]}")


@templates_group.command("test-send")
@click.argument("template")
@click.option("--account", "account_id", required=True, metavar="ID", help="The account's external id, whose data fills the message.")
@click.option("--to", "to_address", required=True, metavar="ADDRESS", help="Your own address: the test goes there, never to the customer.")
@click.option("--locale", default=None, help="Render in this locale.  [default: the contact's, then the account's]")
def test_send_command(template: str, account_id: str, to_address: str, locale: str | None) -> None:
    """Compose TEMPLATE for an account as the pipeline would and email it to ADDRESS, subject
    marked [Test]; recorded in the audit trail."""
    from engine.audit import cli_actor
    from engine.cli.context import database, settings
    from engine.delivery.testsend import TestSendError, send_test_template

    try:
        result = send_test_template(database(), settings(), template=template, account_id=account_id,
                                    to_address=to_address, actor=cli_actor(), locale=locale)  # fmt: skip
    except TestSendError as exc:
        raise click.ClickException(str(exc)) from None
    if not result.sent:
        raise click.ClickException(f"not sent to {result.to_address}: {result.provider_response}")
    click.echo(f"sent to {result.to_address}: {result.subject} ({result.provider_response})")


@click.command("render")
@click.argument("template")
@click.option("--account", "account_id", required=True, metavar="ID", help="The account's external id.")
@click.option("--contact", "contact_id", default=None, metavar="ID", help="A contact's external id (omit for an owner alert).")
@click.option("--locale", default=None, help="Render in this locale (falls back to en).  [default: the contact's, then the account's]")
@click.option("--part", type=click.Choice(PARTS), default=None, help="Print only this part.")
@click.option("--dir", "root", default=None, type=click.Path(file_okay=False), help="Templates folder.  [default: TOUCHLINE_TEMPLATES_DIR]")
@click.option("--category", default="general", show_default=True, help="The sending rule's category: operational email has no unsubscribe links.")
@click.option("--app-url", default=None, help="Base URL for the links.  [default: TOUCHLINE_PRODUCT_URL for links.app; TOUCHLINE_PUBLIC_URL, else where touchline up runs, else http://HOST:PORT]")
def render_command(
    template: str, account_id: str, contact_id: str | None, locale: str | None, part: str | None, root: str | None,
    category: str, app_url: str | None,
) -> None:  # fmt: skip
    """Render TEMPLATE (such as onboarding/stalled) for an account, with real
    data and the sender's brand, and print it. Links are made as for a message
    sent now (open the unsubscribe link to see its page; opening changes
    nothing); nothing is sent or recorded."""
    from sqlalchemy import select

    from engine.cli.context import database, settings
    from engine.compliance import InvalidCategory, check_category
    from engine.models import Account, Contact, utcnow
    from engine.templates import RenderError, build_context, locale_chain

    library = _library(root)
    s = settings()
    try:
        category = check_category(category)
    except InvalidCategory as exc:
        raise click.BadParameter(str(exc), param_hint="--category") from None
    with database().read_session() as session:
        account = session.scalar(select(Account).where(Account.external_id == account_id))
        if account is None:
            raise click.ClickException(f"no account {account_id!r}")
        contact = None
        if contact_id is not None:
            contact = session.scalar(select(Contact).where(Contact.external_id == contact_id))
            if contact is None or contact.account_id != account.id:
                raise click.ClickException(f"no contact {contact_id!r} at account {account_id!r}")
        chain = locale_chain(locale, None) if locale else locale_chain(contact.locale if contact else None, account.locale)
        recipient = contact.email if contact else account.owner
        links = preview_links(s, app_url or s.public_url, category, recipient or "recipient@example.invalid",
                              contact.id if contact else None, (contact.locale if contact else None) or account.locale,
                              app=app_url or s.product_url or None)  # fmt: skip
        context = build_context(session, account.id, contact.id if contact else None, links, utcnow(), brand=s.brand)
    try:
        rendered = library.render(template, chain, context)
    except RenderError as exc:
        raise click.ClickException(str(exc)) from None
    if part:
        click.echo(getattr(rendered, part))
        return
    click.echo(f"Template: {rendered.template}/{rendered.locale}.html")
    click.echo(f"Subject: {rendered.subject}")
    click.echo("\n--- text ---")
    click.echo(rendered.text)
    click.echo("\n--- html ---")
    click.echo(rendered.html)


def preview_links(settings, base_url: str, category: str, recipient: str, contact_id: int | None, locale: str | None,
                  app: str | None = None) -> dict[str, str]:  # fmt: skip
    """The links of an email sent now, as the composer makes them (engine/delivery/compose.py):
    the product's URL (``app``, else ``base_url``), and a signed unsubscribe token unless the category is operational."""
    from engine.compliance import OPERATIONAL, preferences_url, unsubscribe_token, unsubscribe_url

    links = {"app": (app or base_url).rstrip("/")}
    if category != OPERATIONAL:
        token = unsubscribe_token(settings, recipient, category, contact_id, locale=locale)
        links["unsubscribe"] = unsubscribe_url(base_url, token)
        links["preferences"] = preferences_url(base_url, token)
    return links


def register(cli: click.Group) -> None:
    cli.add_command(templates_group)
    cli.add_command(render_command)
