"""`ticker fetch SOURCE`: one poll, recorded; exit 0 only when it succeeded."""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import urlsplit, urlunsplit

import click

from ticker.base import SUCCESS_OUTCOMES
from ticker.errors import user_errors

DEFAULT_DB = "ticker.db"


def with_date_param(url: str, day: date) -> str:
    """Add the Bank of Russia's `date_req=DD/MM/YYYY` to an XML_daily address (replacing one
    already in it, so that the day asked for is the day requested)."""
    parts = urlsplit(url)
    kept = [piece for piece in parts.query.split("&") if piece and piece.split("=", 1)[0] != "date_req"]
    query = "&".join([*kept, f"date_req={day.strftime('%d/%m/%Y')}"])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def parse_day(text: str) -> date:
    """A `--date` value; bad input is one `Error:` line (Click's usage block would be four)."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise click.ClickException(f"bad --date {text!r}: use YYYY-MM-DD, e.g. 2024-11-26") from None


@click.command()
@click.argument("source")
@click.option("--url", help="Full address to GET instead of the source's default (mirrors, tests).")
@click.option("--channel", help="rbc: page (default), rss or feed_json.")
@click.option(
    "--date",
    "day",
    metavar="YYYY-MM-DD",
    help="cbr only: the day to ask for (YYYY-MM-DD); the answer says which day it is for.",
)
@click.option("--db", "db_path", default=DEFAULT_DB, show_default=True, help="SQLite database file.")
def fetch(source: str, url: str | None, channel: str | None, day: str | None, db_path: str) -> None:
    """Fetch SOURCE once (rbc or cbr) and store what it shows."""
    from ticker.base import to_iso, utc_now
    from ticker.db.schema import open_db
    from ticker.db.writes import register_source
    from ticker.poll import poll
    from ticker.scraper.http import make_client
    from ticker.sources import KINDS, builtin_source

    with user_errors(db_path):
        spec = builtin_source(source)
        if day is not None and spec.kind != "cbr":
            raise click.ClickException("--date is for the cbr source only")
        requested = parse_day(day) if day is not None else None
        channel = channel or spec.main_channel
        if channel not in KINDS[spec.kind]:
            raise click.ClickException(
                f"{source} has no channel {channel!r} (it has: {', '.join(KINDS[spec.kind])})"
            )
        if url is not None and urlsplit(url).scheme not in ("http", "https"):
            raise click.ClickException(f"bad --url {url!r}: give a full http:// or https:// address")
        target = url or spec.url_for(channel)
        if requested is not None:
            target = with_date_param(target, requested)
        db = open_db(db_path)
        register_source(
            db, spec.name, spec.kind, spec.url_for(spec.main_channel), None, [channel], to_iso(utc_now())
        )
        with make_client() as client:
            saved = poll(db, client, spec, channel=channel, url=target)
    summary = (
        f"{spec.name}/{channel}: {saved.outcome}: {saved.items_found} items "
        f"({saved.items_new} new, {saved.titles_changed} retitled), "
        f"{saved.rates_found} rates ({saved.rates_new} new)"
    )
    if saved.outcome in SUCCESS_OUTCOMES:
        click.echo(summary, err=True)
        return
    error = db.execute("SELECT error FROM fetches WHERE id = ?", [saved.fetch_id]).fetchone()[0]
    raise click.ClickException(
        f"{spec.name}/{channel}: {saved.outcome}: {error} (recorded as fetch {saved.fetch_id})"
    )
