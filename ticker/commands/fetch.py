"""`ticker fetch SOURCE`: one poll, recorded; exit 0 only when it succeeded."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from urllib.parse import urlsplit

import click

from ticker.base import DEFAULT_DB, SUCCESS_OUTCOMES
from ticker.errors import user_errors


def parse_day(text: str) -> date:
    """A `--date` value; bad input is one `Error:` line (Click's usage block would be four)."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%d").date()
    except ValueError:
        raise click.ClickException(f"bad --date {text!r}: use YYYY-MM-DD, e.g. 2024-11-26") from None


@click.command()
@click.argument("source")
@click.option(
    "--config", "config_path", type=click.Path(path_type=Path), help="TOML config file naming SOURCE."
)
@click.option("--url", help="Full address to GET instead of the source's (mirrors, tests).")
@click.option("--channel", help="Which of the source's channels to poll once (default: its first).")
@click.option(
    "--date",
    "day",
    metavar="YYYY-MM-DD",
    help="Bank of Russia sources only: the day to ask for; the answer says which day it is for.",
)
@click.option("--db", "db_path", help=f"SQLite database file (default: the config's db, else {DEFAULT_DB}).")
def fetch(
    source: str,
    config_path: Path | None,
    url: str | None,
    channel: str | None,
    day: str | None,
    db_path: str | None,
) -> None:
    """Fetch SOURCE once and store what it shows; exit 0 only if it succeeded.

    SOURCE is rbc or cbr (built in), or a source named in --config.

    \b
    Examples:
      ticker fetch rbc
      ticker fetch rbc --channel rss
      ticker fetch cbr --date 2024-11-25
      ticker fetch tass --config ticker.toml
    """
    from ticker.base import to_iso, utc_now
    from ticker.commands.run import load
    from ticker.db.schema import open_db
    from ticker.db.writes import register_source
    from ticker.poll import poll
    from ticker.scraper.http import make_client

    config = load(config_path, db_path)
    with user_errors(str(config.db)):
        spec = _configured(config, source)
        requested = parse_day(day) if day is not None else None
        channel = channel or spec.channels[0]
        if channel not in spec.kind_def.channel_names:
            known = ", ".join(spec.kind_def.channel_names)
            raise click.ClickException(f"{spec.name} has no channel {channel!r} (it has: {known})")
        for_day = spec.channel(channel).for_day
        if requested is not None and for_day is None:
            raise click.ClickException(
                f"--date: {spec.name}/{channel} has no documents by day (a Bank of Russia source has)"
            )
        if url is not None and urlsplit(url).scheme not in ("http", "https"):
            raise click.ClickException(f"bad --url {url!r}: give a full http:// or https:// address")
        target = url or spec.url_for(channel)
        if requested is not None and for_day is not None:
            target = for_day(target, requested)
        db = open_db(config.db)
        register_source(
            db, spec.name, spec.kind, spec.url_for(spec.main_channel), spec.every_s, list(spec.channels),
            to_iso(utc_now()), ticker_channel=spec.ticker_channel,
            options=spec.recorded_options(),
        )  # fmt: skip
        with make_client() as client:
            saved = poll(db, client, spec, channel=channel, url=target, archive=config.settings.archive)
    row = saved.row
    counts = []
    if spec.channel(channel).headlines:
        counts.append(f"{saved.items_found} items ({saved.items_new} new, {saved.titles_changed} retitled)")
    if spec.channel(channel).rates:
        counts.append(f"{saved.rates_found} rates ({saved.rates_new} new)")
    if saved.outcome in SUCCESS_OUTCOMES:
        click.echo(f"{spec.name}/{channel}: {saved.outcome}: {', '.join(counts)}", err=True)
        return
    raise click.ClickException(
        f"{spec.name}/{channel}: {saved.outcome}: {row.error if row else ''} (recorded as fetch {saved.fetch_id})"
    )


def _configured(config, name: str):
    """The source called `name` in the configuration (or the built-in ones)."""
    from ticker.sources import UnknownSource

    for spec in config.sources:
        if spec.name == name:
            return spec
    known = ", ".join(spec.name for spec in config.sources)
    where = f"in {config.path}" if config.path else "built in (others come from --config FILE)"
    raise UnknownSource(f"unknown source {name!r} (known {where}: {known})")
