"""`ticker fetch SOURCE`: one poll, recorded; exit 0 only when it succeeded."""

from __future__ import annotations

from datetime import date

import click

from ticker.errors import user_errors

DEFAULT_DB = "ticker.db"


def with_date_param(url: str, day: date) -> str:
    """Add the Bank of Russia's `date_req=DD/MM/YYYY` to an XML_daily address."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}date_req={day.strftime('%d/%m/%Y')}"


@click.command()
@click.argument("source")
@click.option("--url", help="Full address to GET instead of the source's default (mirrors, tests).")
@click.option("--channel", help="rbc: page (default), rss or feed_json.")
@click.option(
    "--date",
    "day",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="cbr only: the day to ask for (YYYY-MM-DD); the answer says which day it is for.",
)
@click.option("--db", "db_path", default=DEFAULT_DB, show_default=True, help="SQLite database file.")
def fetch(source: str, url: str | None, channel: str | None, day, db_path: str) -> None:
    """Fetch SOURCE once (rbc or cbr) and store what it shows."""
    from ticker.db.schema import open_db
    from ticker.db.writes import register_source
    from ticker.poll import poll
    from ticker.scraper.http import make_client
    from ticker.sources import KINDS, builtin_source
    from ticker.timeutil import to_iso, utc_now

    with user_errors(db_path):
        spec = builtin_source(source)
        if day is not None and spec.kind != "cbr":
            raise click.BadParameter("--date is for the cbr source only", param_hint="--date")
        channel = channel or spec.main_channel
        if channel not in KINDS[spec.kind]:
            raise click.BadParameter(f"{source} has no channel {channel!r}", param_hint="--channel")
        target = url or spec.url_for(channel)
        if day is not None:
            target = with_date_param(target, day.date())
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
    if saved.outcome in ("ok", "unchanged"):
        click.echo(summary, err=True)
        return
    error = db.execute("SELECT error FROM fetches WHERE id = ?", [saved.fetch_id]).fetchone()[0]
    raise click.ClickException(
        f"{spec.name}/{channel}: {saved.outcome}: {error} (recorded as fetch {saved.fetch_id})"
    )
