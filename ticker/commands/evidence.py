"""Evidence commands: `ticker archive stats|show|prune`, `ticker reparse`, `ticker cite`."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import click

from ticker.errors import user_errors
from ticker.settings import ARCHIVE_KEEP_CHOICES
from ticker.terminal import printable

DEFAULT_DB = "ticker.db"
_db_option = click.option(
    "--db", "db_path", default=DEFAULT_DB, show_default=True, help="SQLite database file."
)


def _existing_db(db_path: str):
    """Open an existing database (never create one by mistake)."""
    from ticker.db.schema import open_db

    if not Path(db_path).exists():
        raise click.ClickException(f"no database at {db_path}")
    return open_db(db_path)


def _db_arg(db_path: str) -> str:
    return "" if db_path == DEFAULT_DB else f" --db {shlex.quote(db_path)}"


def _size(count: int) -> str:
    value = float(count)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{count} B"


@click.group()
def archive() -> None:
    """The raw archive: every kept response body, once, compressed, by SHA-256."""


@archive.command()
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def stats(db_path: str, as_json: bool) -> None:
    """How big the archive is: bodies, bytes raw and compressed, by outcome."""
    from ticker.db.archive import stats as archive_stats

    with user_errors(db_path):
        result = archive_stats(_existing_db(db_path))
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
        return
    ratio = f" ({result.bytes_compressed / result.bytes_raw:.0%})" if result.bytes_raw else ""
    click.echo(
        f"{result.bodies} bodies, {_size(result.bytes_raw)} raw, {_size(result.bytes_compressed)} "
        f"compressed{ratio}"
    )
    click.echo(
        f"{result.fetches_archived} of {result.fetches_with_body} fetches with a body have it archived"
    )
    for outcome, row in result.by_outcome.items():
        click.echo(
            f"  {outcome:<14} {row['bodies']:>7} bodies {_size(row['bytes_raw']):>10} raw "
            f"{_size(row['bytes_compressed']):>10} compressed"
        )


@archive.command()
@click.argument("sha256")
@_db_option
def show(sha256: str, db_path: str) -> None:
    """Write the archived body SHA256 (or a unique prefix of 8+ digits) to stdout, as received."""
    from ticker.db.archive import read_body

    digest = sha256.strip().lower()
    if len(digest) < 8 or any(c not in "0123456789abcdef" for c in digest):
        raise click.ClickException(f"bad body hash {sha256!r}: give its SHA-256 (or 8+ hex digits of it)")
    with user_errors(db_path):
        try:
            body = read_body(_existing_db(db_path), digest)
        except LookupError as error:
            raise click.ClickException(str(error)) from None
    if body is None:
        raise click.ClickException(f"no archived body {sha256} (never received, or not kept by retention)")
    sys.stdout.buffer.write(body)
    sys.stdout.buffer.flush()


@archive.command()
@_db_option
@click.option(
    "--keep",
    type=click.Choice(ARCHIVE_KEEP_CHOICES),
    default="changed",
    show_default=True,
    help="Keep all bodies, those that changed something (or failed/looked odd), only failed ones, or none.",
)
@click.option("--keep-days", type=click.FloatRange(min=0), default=0, show_default=True, help="0: forever.")
def prune(db_path: str, keep: str, keep_days: float) -> None:
    """Delete archived bodies that retention would not keep (fetch rows keep their hash)."""
    from ticker.db.archive import prune as archive_prune
    from ticker.settings import ArchiveSettings

    with user_errors(db_path):
        result = archive_prune(_existing_db(db_path), ArchiveSettings(keep=keep, keep_days=keep_days))
    click.echo(
        f"pruned {result.by_age} bodies past {keep_days:g} days, {result.by_mode} not kept by keep={keep}"
    )


def _print_parsed(fetch: dict, parsed) -> None:
    from ticker.base import TickerPage

    click.echo(
        f"# fetch {fetch['id']} {fetch['source']}/{fetch['channel']} {fetch['started_at']} {fetch['url']}"
    )
    click.echo(f"# body {fetch['body_sha256']}")
    for warning in parsed.warnings:
        click.echo(f"# warning: {warning}")
    if isinstance(parsed, TickerPage):
        for headline in parsed.headlines:
            click.echo(
                f"{headline.position}\t{headline.id}\t{headline.published_at or '-'}\t{headline.title}"
            )
    for rate in parsed.rates:
        click.echo(f"rate\t{rate.currency}\t{rate.rate_date}\t{rate.value}\t{rate.change or ''}")


@click.command()
@_db_option
@click.option("--source", help="Re-parse only this source's fetches (others are replayed as recorded).")
@click.option("--since", help="Re-parse only fetches from this time on (ISO 8601, Moscow if no zone; 2d).")
@click.option(
    "--into", "into", help="New database file for the re-derived history [default: DB.reparsed.db]."
)
@click.option(
    "--in-place", is_flag=True, help="Build the new history aside, then swap it in (one transaction)."
)
@click.option(
    "--fetch", "fetch_id", type=int, help="Only show what today's parser reads in this fetch's body."
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable report.")
def reparse(
    db_path: str,
    source: str | None,
    since: str | None,
    into: str | None,
    in_place: bool,
    fetch_id: int | None,
    as_json: bool,
) -> None:
    """Replay archived bodies, in fetch order, through today's parser into a fresh history."""
    from ticker import reparse as replay
    from ticker.base import parse_user_time, to_iso

    if into and in_place:
        raise click.ClickException("--into and --in-place exclude each other")
    with user_errors(db_path):
        try:
            if fetch_id is not None:
                fetch, parsed = replay.extract(_existing_db(db_path), fetch_id)
                _print_parsed(fetch, parsed)
                return
            since_iso = to_iso(parse_user_time(since)) if since else None
            if in_place:
                report = replay.reparse_in_place(db_path, source=source, since=since_iso)
            else:
                path = Path(db_path)
                target = into or str(path.with_name(f"{path.stem}.reparsed{path.suffix or '.db'}"))
                report = replay.reparse_into(db_path, target, source=source, since=since_iso)
        except replay.ReparseError as error:
            raise click.ClickException(str(error)) from None
    if as_json:
        click.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
        return
    click.echo(
        f"{report.fetches} fetches replayed into {report.target}: {report.reparsed} re-parsed, "
        f"{report.replayed} as recorded"
    )
    if report.not_archived:
        shown = ", ".join(map(str, report.not_archived[:20])) + (
            " ..." if len(report.not_archived) > 20 else ""
        )
        click.echo(f"  {len(report.not_archived)} had no archived body, copied as recorded: {shown}")
    for change, ids in report.outcome_changes.items():
        click.echo(f"  outcome {change}: {len(ids)} fetches ({', '.join(map(str, ids[:20]))})")
    click.echo(f"  items recovered: {len(report.items_recovered)}, items lost: {len(report.items_lost)}")
    for headline_id in report.items_recovered[:50]:
        click.echo(f"    + {headline_id}")
    for headline_id in report.items_lost[:50]:
        click.echo(f"    - {headline_id}")
    click.echo(f"  titles corrected: {len(report.titles_corrected)} headlines")
    for headline_id, titles in list(report.titles_corrected.items())[:50]:
        click.echo(f"    {headline_id}: {titles['old']} -> {titles['new']}")
    click.echo(f"  rates new: {len(report.rates_new)}, rates lost: {len(report.rates_lost)}")
    if not report.changed:
        click.echo("  history unchanged")


@click.command()
@click.argument("ident")
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def cite(ident: str, db_path: str, as_json: bool) -> None:
    """What a reader needs to check IDENT: a headline id, or rate:<rates.id>."""
    from ticker.citations import NotFound, render_json, render_text
    from ticker.citations import cite as build

    with user_errors(db_path):
        try:
            citation = build(_existing_db(db_path), ident, _db_arg(db_path))
        except NotFound as error:
            raise click.ClickException(str(error)) from None
    click.echo(render_json(citation) if as_json else printable(render_text(citation)))
