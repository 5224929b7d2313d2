"""``touchline import``: accounts, contacts or events from a CSV or NDJSON file."""

from __future__ import annotations

import sys

import click

from engine.cli.context import database

# The importer (and SQLAlchemy under it) is imported inside the command so
# that other commands do not pay for it at start-up; these mirror
# engine.ingest.UPSERTS and engine.importer (a test keeps them equal).
KINDS = ("accounts", "contacts", "events")
FORMATS = ("csv", "ndjson")
DEFAULT_BATCH = 1000

EXIT_CODES = """\b
Exit codes:
  0  every row stored (or already there: duplicates are fine)
  1  some rows rejected; the others are stored
  2  nothing imported, or stopped early: missing or unreadable file,
     unknown CSV columns, database unavailable"""


@click.command("import", epilog=EXIT_CODES)
@click.argument("kind", type=click.Choice(KINDS))
@click.argument("file", metavar="FILE")
@click.option("--format", "fmt", type=click.Choice(FORMATS), help="Default: from the extension (.csv, .ndjson, .jsonl, each optionally .gz).")
@click.option("--batch-size", type=click.IntRange(1, 50_000), default=DEFAULT_BATCH, show_default=True, help="Rows per transaction.")
@click.option("--errors", "errors_path", type=click.Path(dir_okay=False, writable=True), help="Write every rejected row to this file (.csv, else NDJSON).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def import_command(kind: str, file: str, fmt: str | None, batch_size: int, errors_path: str | None, quiet: bool) -> None:
    """Import KIND (accounts, contacts or events) from FILE ('-' for stdin).

    CSV: one column per field; an empty cell leaves the field out; columns
    named traits.<key> (events: properties.<key>) fill the traits object.
    NDJSON: one JSON object per line. Gzip files are read as they are.
    Importing the same file again is safe.
    """
    from engine.importer import ImportInputError, import_file

    db = database()
    try:
        summary = import_file(
            db,
            kind,
            file,
            fmt=fmt,
            batch_size=batch_size,
            errors_path=errors_path,
            progress=not quiet and sys.stderr.isatty(),
        )
    except ImportInputError as exc:
        click.echo(f"touchline import: {exc}", err=True)
        sys.exit(2)
    for rejection in summary.first_errors:
        click.echo(rejection.describe(summary.source), err=True)
    if summary.problems > len(summary.first_errors):
        more = summary.problems - len(summary.first_errors)
        hint = f"all are in {errors_path}" if errors_path else "pass --errors FILE to get all of them"
        click.echo(f"... and {more} more problems ({hint})", err=True)
    if summary.stopped:
        click.echo(f"touchline import: stopped: {summary.stopped}", err=True)
    for line in summary.lines():
        click.echo(line)
    sys.exit(summary.exit_code)


def register(cli: click.Group) -> None:
    cli.add_command(import_command)
